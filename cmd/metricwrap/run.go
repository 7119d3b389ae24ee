package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/delivery"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exposition"
	runengine "github.com/metricwrap/metricwrap/internal/run"
	"github.com/metricwrap/metricwrap/internal/schedule"
)

// Exit codes of run and the compatibility form.
const (
	exitOK       = 0
	exitFailed   = 1   // the run failed, or a sink neither took nor spooled it
	exitUsage    = 2   // bad flags or config
	exitNotFound = 255 // unknown exporter, as the original tool
)

// runCmd is `metricwrap run NAME [-- ARGS...]`: one run, printed and pushed.
type runCmd struct {
	cmd             *kingpin.CmdClause
	name            string
	args            []string
	params          []string
	noPrint         bool
	debug           bool
	outputFile      string
	push            []string
	pushgatewayAddr string
	timeout         time.Duration
	compat          bool
}

func (c *runCmd) register(app *kingpin.Application, _ *globals) {
	c.cmd = app.Command("run", "Run one exporter once; print its metrics and push them to each --push sink.")
	c.cmd.Arg("name", "Exporter to run.").Required().StringVar(&c.name)
	c.cmd.Arg("args", "Arguments passed to the exporter unchecked (after --).").StringsVar(&c.args)
	c.cmd.Flag("param", "Parameter NAME=VALUE, checked against the exporter's declared params (repeatable).").StringsVar(&c.params)
	c.cmd.Flag("no-print", "Do not print the metrics on stdout.").BoolVar(&c.noPrint)
	c.cmd.Flag("debug", "Debug mode, passed to Python exporters.").BoolVar(&c.debug)
	c.cmd.Flag("output-filename", "Also write the metrics to this file.").StringVar(&c.outputFile)
	c.cmd.Flag("push", "Push to this sink: a sink of the config, or pushgateway, dynatrace, s3, remote-write, otlp from the environment (repeatable).").StringsVar(&c.push)
	c.cmd.Flag("pushgateway-address", "Pushgateway for --push pushgateway (default $PUSHGATEWAY_URL).").StringVar(&c.pushgatewayAddr)
	c.cmd.Flag("timeout", "Bound on the run (default: the exporter's timeout).").DurationVar(&c.timeout)
}

func (c *runCmd) selected(name string) bool { return c.cmd != nil && name == c.cmd.FullCommand() }

func (c *runCmd) execute(g *globals) int {
	cfg, cfgName, err := loadConfig(g)
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	set, err := buildExporters(g, cfg, cfgName, nil)
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	e, ok := set.Get(c.name)
	if !ok {
		if c.compat {
			fmt.Fprintln(g.stdout, "Exporter not found.")
			return exitNotFound
		}
		return fail(g, exitNotFound, "exporter %q not found (known: %s)", c.name, strings.Join(set.Names(), ", "))
	}
	params, err := c.checkParams(e)
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var d *delivery.Delivery
	if len(c.push) > 0 {
		// Sinks are built before the run, so a missing setting fails fast.
		d, err = delivery.Open(c.push, delivery.Options{
			Config: cfg, PushgatewayAddr: c.pushgatewayAddr, Logger: g.logger,
		})
		if err != nil {
			return fail(g, exitUsage, "%v", err)
		}
		defer d.Close()
	}

	// The engine decides the run's timeout (--timeout, else the
	// exporter's) as serve does; the compatibility form, as the original,
	// has no time limit unless --timeout gives one. The command reports a
	// failure itself, so the engine's log stays quiet.
	req := &runengine.Request{Entry: e, Params: params, Args: c.args, Timeout: c.timeout, NoTimeout: c.compat, DebugExporter: c.debug}
	// The exporter's own output reaches the terminal, as it did when the
	// original ran exporters in its own process; run keeps stdout for the
	// metrics and shows it on stderr.
	req.Stdout, req.Stderr = g.stderr, g.stderr
	if c.compat {
		req.Stdout = g.stdout
	}
	eng := runengine.New(runengine.Options{})
	eng.SetExporters(set, runengine.Limits{})
	a := eng.Do(ctx, req)
	res, runErr := a.Result, a.Err
	if runErr != nil {
		if c.compat && errors.Is(runErr, exporter.ErrFailed) && res != nil && res.ExitCode > 0 {
			// As the original: the exporter's code (2 for an argparse
			// error, its sys.exit's), and its own words on stderr only.
			return res.ExitCode
		}
		if c.compat && e.Kind() == exporter.KindPython && errors.Is(runErr, exporter.ErrNoMetrics) && res != nil && res.ExitCode == 0 {
			// A class that gathered nothing and exited 0 (its argparse
			// answered -h, say): as the original, exit 0; nothing printed,
			// and no push that would empty the job's group.
			g.logger.Debug("the exporter wrote no metrics; nothing printed or pushed", "exporter", c.name)
			return exitOK
		}
		return fail(g, exitFailed, "exporter %s: %v", c.name, runErr)
	}
	text := exposition.Text(res.Families)
	if !c.noPrint {
		if _, err := g.stdout.Write(text); err != nil {
			return fail(g, exitFailed, "writing the metrics: %v", err)
		}
	}
	if c.outputFile != "" {
		if err := os.WriteFile(c.outputFile, text, 0o644); err != nil {
			return fail(g, exitFailed, "writing %s: %v", c.outputFile, err)
		}
	}
	if d == nil {
		return exitOK
	}
	b := &batch.Batch{
		ID:       schedule.RunID(res.Start),
		Exporter: c.name,
		Job:      res.JobOr(e.Job()),
		Params:   params,
		Labels:   exporter.ConstLabels(cfg, os.Getenv),
		Families: res.Families,
		Start:    res.Start,
		Duration: res.Duration,
		ExitCode: res.ExitCode,
	}
	if err := d.Deliver(ctx, b); err != nil {
		return fail(g, exitFailed, "push: %v", err)
	}
	return exitOK
}

// checkParams validates --param values like the server validates a query.
// With ARGS, required parameters may come from them instead (ARGS are the
// operator's and unchecked), so only the values given are checked then.
func (c *runCmd) checkParams(e *exporter.Entry) (map[string]string, error) {
	q := url.Values{}
	for _, p := range c.params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE", p)
		}
		q.Add(k, v)
	}
	params := e.Params()
	if len(c.args) > 0 {
		optional := make(exporter.Params, len(params))
		for n, p := range params {
			cp := *p
			cp.Required = false
			optional[n] = &cp
		}
		params = optional
	}
	return params.Check(q)
}
