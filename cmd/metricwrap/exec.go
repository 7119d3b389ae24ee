package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/delivery"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/job"
	"github.com/metricwrap/metricwrap/internal/schedule"
	"github.com/metricwrap/metricwrap/internal/sink/otlp"
	"github.com/metricwrap/metricwrap/internal/sink/pushgateway"
)

// exitExecSetup is exec's exit code when metricwrap itself fails before
// the command starts (bad config, unknown or misconfigured sink), as env
// and docker run use 125: the command's own codes stay unambiguous.
const exitExecSetup = 125

// gatewayReadTimeout bounds reading a Pushgateway's counters before a push.
const gatewayReadTimeout = 5 * time.Second

// execHelp is exec's help, which documents its exit codes.
const execHelp = `Run a batch job and deliver its metrics: job_duration_seconds, job_exit_code,
job_last_run_timestamp_seconds, job_last_success_timestamp_seconds (on success),
job_runs_total{status}, the jobs.NAME.metrics of the config, and what CMD writes to
$METRICS_FILE. stdin, stdout and stderr are CMD's; SIGINT, SIGTERM and SIGHUP are
forwarded to CMD's process group. Put -- before CMD.

Status: Succeeded (exit 0), Failed (non-zero exit, or ended by a signal), Error (CMD
could not be started, or metricwrap killed it after --grace or a second SIGTERM).

Exit code: CMD's; 128+N when a signal N ended it; 126 when CMD cannot be executed;
127 when CMD is not found; 125 when metricwrap fails before CMD starts (bad config,
unknown sink); 2 for bad flags. A failed delivery never changes the exit code: what
is not delivered is spooled for the next run, flush or serve. A spool or state dir
that cannot be written costs a warning (delivery goes on without a spool), never the
run; $METRICS_FILE goes in $TMPDIR, else in the working directory.

With no --push and no jobs.NAME.sinks, nothing is delivered (debug log only).`

// execCmd is `metricwrap exec [--job NAME] [--push SINK]... -- CMD [ARGS...]`.
type execCmd struct {
	cmd             *kingpin.CmdClause
	job             string
	push            []string
	prefix          string
	metricFile      string
	pushgatewayAddr string
	grace           time.Duration
	argv            []string
}

func (c *execCmd) register(app *kingpin.Application, _ *globals) {
	c.cmd = app.Command("exec", execHelp)
	c.cmd.Flag("job", "Job name: the jobs.NAME entry of the config, {{job.name}}, and the Pushgateway job (default: CMD's base name).").StringVar(&c.job)
	c.cmd.Flag("push", "Push to this sink: a sink of the config, or pushgateway, dynatrace, s3, remote-write, otlp from the environment (repeatable); added to jobs.NAME.sinks.").StringsVar(&c.push)
	c.cmd.Flag("prefix", "Prefix every metric name as PREFIX_NAME, e.g. keptn_infracost (default: jobs.NAME.prefix).").StringVar(&c.prefix)
	c.cmd.Flag("metric-file", "Set METRICS_FILE to this file and read it after CMD (default: a fresh file in a private directory, removed after).").StringVar(&c.metricFile)
	c.cmd.Flag("pushgateway-address", "Pushgateway for --push pushgateway (default $PUSHGATEWAY_URL).").StringVar(&c.pushgatewayAddr)
	c.cmd.Flag("grace", "How long CMD may take to exit after a forwarded signal before its process group is killed (0: no limit).").Default("10s").DurationVar(&c.grace)
	c.cmd.Arg("command", "CMD and its arguments, after --.").Required().StringsVar(&c.argv)
}

func (c *execCmd) selected(name string) bool { return c.cmd != nil && name == c.cmd.FullCommand() }

func (c *execCmd) execute(g *globals) int {
	cfg, _, err := loadConfig(g)
	if err != nil {
		return fail(g, exitExecSetup, "%v", err)
	}
	name := c.job
	if name == "" {
		name = filepath.Base(c.argv[0])
	}
	jc := cfg.Jobs[name]
	sinks := append([]string(nil), c.push...)
	if jc != nil {
		sinks = append(sinks, jc.Sinks...)
	}
	if c.prefix != "" && !validPrefix(c.prefix) {
		return fail(g, exitExecSetup, "--prefix %q is not a valid metric name prefix", c.prefix)
	}
	opts := delivery.Options{
		Config: cfg, Getenv: os.Getenv, PushgatewayAddr: c.pushgatewayAddr, Logger: g.logger,
	}
	// Build every sink now, once, so that a missing setting fails before
	// the job runs; the spool is opened only to deliver.
	prepared, err := delivery.Prepare(sinks, opts)
	if err != nil {
		return fail(g, exitExecSetup, "%v", err)
	}
	labels := exporter.ConstLabels(cfg, os.Getenv)
	keptn, skipped := job.KeptnLabels(os.Environ())
	for k, v := range keptn {
		labels[k] = v
	}
	if len(skipped) > 0 {
		g.logger.Warn("event labels that are no valid label names are left out", "vars", skipped)
	}

	sigs := make(chan os.Signal, 4)
	for _, s := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(s) { // nohup: an ignored signal stays ignored, for CMD too
			signal.Notify(sigs, s)
		}
	}
	defer signal.Stop(sigs)

	res := job.Run(job.Options{
		Name: name, Argv: c.argv, Config: jc, Prefix: c.prefix, Labels: labels,
		MetricFile: c.metricFile, MaxMetricBytes: int64(cfg.Global.MaxOutputBytes), Grace: c.grace,
		Stdin: os.Stdin, Stdout: g.stdout, Stderr: g.stderr, Signals: sigs, Logger: g.logger,
	})
	switch {
	case errors.Is(res.Err, job.ErrNotFound), errors.Is(res.Err, job.ErrCannotExecute):
		fmt.Fprintf(g.stderr, "metricwrap: exec: %v\n", res.Err)
	case res.Err != nil:
		g.logger.Warn("job killed", "job", name, "err", res.Err)
	}
	if res.MetricsErr != nil {
		fmt.Fprintf(g.stderr, "metricwrap: exec: job %s: %v\n", name, res.MetricsErr)
	}
	if len(sinks) == 0 {
		g.logger.Debug("no sink to deliver the job's metrics to; give --push or jobs.NAME.sinks", "job", name)
		return res.ExitCode
	}
	c.deliver(g, cfg, prepared, name, sinks, labels, res, sigs)
	return res.ExitCode
}

// deliver pushes the run's metrics; failures are logged and spooled, never
// turned into an exit code. A signal during delivery cuts retries short, so
// what is left goes to the spool at once.
func (c *execCmd) deliver(g *globals, cfg *config.Config, prepared *delivery.Prepared, name string,
	sinks []string, labels map[string]string, res *job.Result, sigs <-chan os.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	// The run's own families hold increments (job_runs_total is +1). A
	// Pushgateway needs running totals (a POST replaces same-name metrics),
	// so they are added to what the group holds; sinks that take deltas
	// get the increments as they are, marked, and need no state for them.
	incFams := res.Families
	if gw := pushgateway.GatewayFor(cfg, sinks, name, c.pushgatewayAddr, os.Getenv); gw != nil {
		rctx, rcancel := context.WithTimeout(ctx, gatewayReadTimeout)
		prev, err := gw.Previous(rctx)
		rcancel()
		if err != nil {
			g.logger.Warn("cannot read the job's counters from the Pushgateway; job_runs_total restarts from this run", "err", err)
		}
		incFams = cloneFamilies(res.Families)
		pushgateway.Accumulate(res.Families, prev)
	}
	// A spool or state dir exec cannot write costs the spool, never the
	// delivery (Prepared.Open warns and delivers without one).
	d, err := prepared.Open()
	if err != nil {
		fmt.Fprintf(g.stderr, "metricwrap: exec: job %s: delivery: %v\n", name, err)
		return
	}
	defer d.Close()
	b := &batch.Batch{
		// POST: a failed run must not erase the last success timestamp,
		// now or when replayed from the spool.
		PushMethod: pushgateway.MethodPost,
		ID:         schedule.RunID(res.Start),
		Exporter:   name,
		Job:        name,
		Labels:     labels,
		Families:   res.Families,
		Start:      res.Start,
		Duration:   res.Duration,
		ExitCode:   res.ExitCode,
	}
	if res.Err != nil {
		b.Error = res.Err.Error()
	} else if res.Status != job.StatusSucceeded {
		b.Error = fmt.Sprintf("exit code %d", res.ExitCode)
	}
	inc := *b
	inc.Families, inc.Increments = incFams, res.Increments
	var totalSinks, incSinks []string
	for _, s := range d.Sinks() {
		if takesIncrements(cfg, s) {
			incSinks = append(incSinks, s)
		} else {
			totalSinks = append(totalSinks, s)
		}
	}
	// The two deliveries go in parallel, as the sinks of one do.
	var incErr, totalErr error
	var wg sync.WaitGroup
	if len(incSinks) > 0 {
		wg.Go(func() { incErr = d.Deliver(ctx, &inc, incSinks...) })
	}
	if len(totalSinks) > 0 {
		wg.Go(func() { totalErr = d.Deliver(ctx, b, totalSinks...) })
	}
	wg.Wait()
	if err := errors.Join(incErr, totalErr); err != nil {
		fmt.Fprintf(g.stderr, "metricwrap: exec: job %s: delivery: %v\n", name, err)
	}
}

// takesIncrements reports whether sink name gets the run's increments
// instead of the totals a Pushgateway needs: it sends counters as deltas
// (Dynatrace; OTLP with delta temporality) or keeps running totals of its
// own (OTLP with cumulative temporality, which has no Pushgateway to read
// the previous total from).
func takesIncrements(cfg *config.Config, name string) bool {
	if sc, ok := cfg.Sinks[name]; ok {
		return sc.Type == config.SinkDynatrace || sc.Type == config.SinkOTLP
	}
	return name == delivery.EnvDynatrace || name == otlp.EnvName
}

// cloneFamilies is a deep copy of fams, for a second set of values.
func cloneFamilies(fams []*dto.MetricFamily) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, len(fams))
	for i, mf := range fams {
		out[i] = proto.Clone(mf).(*dto.MetricFamily)
	}
	return out
}

// validPrefix reports whether p can start a metric name.
func validPrefix(p string) bool {
	for i, r := range p {
		switch {
		case r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return p != ""
}
