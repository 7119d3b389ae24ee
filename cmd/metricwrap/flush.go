package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/metricwrap/metricwrap/internal/delivery"
)

// flushCmd is `metricwrap flush`: deliver what the spool holds for every
// configured sink (and the env-only sinks named with --push), then exit.
type flushCmd struct {
	cmd             *kingpin.CmdClause
	push            []string
	pushgatewayAddr string
	timeout         time.Duration
}

func (c *flushCmd) register(app *kingpin.Application, _ *globals) {
	c.cmd = app.Command("flush", "Deliver what the spool holds, in order, and exit (non-zero when something is left).")
	c.cmd.Flag("push", "Also flush this env-only sink: pushgateway, dynatrace, s3, remote-write, otlp (repeatable).").StringsVar(&c.push)
	c.cmd.Flag("pushgateway-address", "Pushgateway for --push pushgateway (default $PUSHGATEWAY_URL).").StringVar(&c.pushgatewayAddr)
	c.cmd.Flag("timeout", "Give up after this long.").Default("5m").DurationVar(&c.timeout)
}

func (c *flushCmd) selected(name string) bool { return c.cmd != nil && name == c.cmd.FullCommand() }

func (c *flushCmd) execute(g *globals) int {
	cfg, _, err := loadConfig(g)
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	names := append([]string(nil), c.push...)
	for n := range cfg.Sinks {
		names = append(names, n)
	}
	if len(names) == 0 {
		return fail(g, exitUsage, "no sinks: define sinks in the config or name env-only sinks with --push")
	}
	d, err := delivery.Open(names, delivery.Options{Config: cfg, PushgatewayAddr: c.pushgatewayAddr, Logger: g.logger})
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	defer d.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := d.Flush(ctx); err != nil {
		return fail(g, exitFailed, "flush: %v", err)
	}
	return exitOK
}
