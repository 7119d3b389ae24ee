package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
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
	dropOrphans     bool
}

// progressInterval is how often flush redraws its progress on a terminal.
const progressInterval = 500 * time.Millisecond

func (c *flushCmd) register(app *kingpin.Application, _ *globals) {
	c.cmd = app.Command("flush", "Deliver what the spool holds, in order, and exit (non-zero when something is left). "+
		"Queues whose destination no sink delivers to any more are listed, never delivered elsewhere.")
	c.cmd.Flag("push", "Also flush this env-only sink: pushgateway, dynatrace, s3, remote-write, otlp (repeatable).").StringsVar(&c.push)
	c.cmd.Flag("pushgateway-address", "Pushgateway for --push pushgateway (default $PUSHGATEWAY_URL).").StringVar(&c.pushgatewayAddr)
	c.cmd.Flag("timeout", "Give up after this long.").Default("5m").DurationVar(&c.timeout)
	c.cmd.Flag("drop-orphans", "Delete the spooled batches whose destination no sink of the config or the environment delivers to (a changed URL, tenant, bucket or job, a renamed sink, or a spool of a version that keyed queues by sink name).").BoolVar(&c.dropOrphans)
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
	if len(names) == 0 && !c.dropOrphans {
		return fail(g, exitUsage, "no sinks: define sinks in the config or name env-only sinks with --push")
	}
	d, err := delivery.Open(names, delivery.Options{Config: cfg, PushgatewayAddr: c.pushgatewayAddr, Logger: g.logger, OpenSpool: c.dropOrphans})
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	defer d.Close()
	if !d.HasSpool() {
		// The spool is all flush works on: without it, nothing was
		// flushed (the warning above says why).
		return fail(g, exitFailed, "flush: cannot use the spool in %s, so nothing was delivered or dropped; "+
			"when serve holds it, serve delivers it itself", cfg.Spool.Dir)
	}
	if c.dropOrphans {
		n := d.DropOrphans()
		fmt.Fprintf(g.stderr, "metricwrap: flush: dropped %d orphaned batches\n", n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stopProgress := c.progress(g, d)
	err = d.Flush(ctx)
	stopProgress()
	if err != nil {
		fmt.Fprintf(g.stderr, "metricwrap: flush: %s\n", remaining(d.Spooled()))
		return fail(g, exitFailed, "flush: %v", err)
	}
	return exitOK
}

// progress redraws one line on stderr while the flush runs, when stderr is
// a terminal; the returned func stops it and clears the line.
func (c *flushCmd) progress(g *globals, d *delivery.Delivery) func() {
	f, ok := g.stderr.(*os.File)
	if !ok || !isTerminal(f) {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			fmt.Fprintf(f, "\r\033[Kmetricwrap: flush: %s", remaining(d.Spooled()))
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// remaining says how many batches wait, per sink.
func remaining(left map[string]int) string {
	names := make([]string, 0, len(left))
	total := 0
	for n, k := range left {
		names = append(names, n)
		total += k
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d", n, left[n]))
	}
	return fmt.Sprintf("%d batches remain (%s)", total, strings.Join(parts, ", "))
}
