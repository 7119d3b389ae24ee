// Package job wraps a batch job, for `metricwrap exec` (SPEC 5): it runs
// the command with its standard streams passed through and signals
// forwarded to its process group, records the outcome as metrics (the job_*
// families and the Argo Workflows-style custom metrics of jobs.NAME.metrics)
// and collects what the command wrote to METRICS_FILE, so that a job
// container needs no hand-written "parent script". Delivering the result is
// the caller's (package delivery); pushgateway.Accumulate and its Gateway
// reader let counters continue across runs in a Pushgateway.
package job

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/runner"
)

// EnvMetricsFile names the file the command may write metrics to.
const EnvMetricsFile = "METRICS_FILE"

// DefaultMaxMetricBytes bounds METRICS_FILE when Options sets no bound.
const DefaultMaxMetricBytes = 16 << 20

// Options describe one run of a job.
type Options struct {
	// Name is the job's name: {{job.name}}, and the Pushgateway job.
	Name string
	// Argv is the command and its arguments; Argv[0] is looked up in PATH.
	Argv []string
	// Config is the job's entry of jobs: (custom metrics, labels); nil for
	// a job the config does not define.
	Config *config.JobConfig
	// Prefix is put before every metric name as PREFIX_NAME; empty means
	// Config.Prefix.
	Prefix string
	// Labels are constant labels (global labels, Keptn labels) added to
	// every metric after the job's own labels; a label a metric already has
	// wins.
	Labels map[string]string
	// MetricFile is a file the command writes metrics to, given by the
	// user; empty means a fresh file in a private directory, removed after.
	MetricFile string
	// TempDirs are where the private directory of METRICS_FILE may go, in
	// order of preference; nil means the temporary directory ($TMPDIR),
	// then the working directory, so a pod whose root file system is read
	// only still gets a METRICS_FILE in the one volume it may write.
	TempDirs []string
	// MaxMetricBytes bounds METRICS_FILE; 0 means DefaultMaxMetricBytes.
	MaxMetricBytes int64
	// Grace is how long the command may take to exit after a forwarded
	// signal before its group is killed; 0 means no bound.
	Grace time.Duration
	// Environ is the command's environment without METRICS_FILE; nil means
	// os.Environ(). Templates' {{env.NAME}} read it too.
	Environ []string
	// Stdin, Stdout and Stderr are the command's; an *os.File is passed
	// as is, byte for byte.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Signals receives the signals to forward to the command.
	Signals <-chan os.Signal
	Logger  *slog.Logger
}

// Result is a finished run.
type Result struct {
	Status   string
	ExitCode int
	Start    time.Time
	Duration time.Duration
	// Err says why the command did not run (wrapping ErrNotFound or
	// ErrCannotExecute) or that metricwrap killed it (ErrKilled).
	Err error
	// Families are the run's metrics, labelled and validated: the job_*
	// families, the custom metrics whose `when` held, and the command's.
	Families []*dto.MetricFamily
	// Increments names the counter families exec made itself
	// (job_runs_total, the counter: metrics of the config): each holds this
	// run's increase, not a running total (batch.Batch.Increments). The
	// command's own counters are not among them.
	Increments []string
	// MetricsErr reports metrics that were left out: METRICS_FILE that did
	// not parse or clashed with the job's own metrics (all of the file is
	// left out), custom metrics that could not be evaluated.
	MetricsErr error
}

// Run runs the job once and returns its result; it fails only in ways the
// Result describes, so the caller always has metrics to deliver.
func Run(o Options) *Result {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.MaxMetricBytes <= 0 {
		o.MaxMetricBytes = DefaultMaxMetricBytes
	}
	if o.Prefix == "" && o.Config != nil {
		o.Prefix = o.Config.Prefix
	}
	res := &Result{}
	if len(o.Argv) == 0 {
		res.Status, res.ExitCode, res.Start = StatusError, ExitNotFound, time.Now()
		res.Err = fmt.Errorf("no command given: %w", ErrNotFound)
		res.Families, res.MetricsErr = o.families(res, nil)
		return res
	}

	metricFile := o.MetricFile
	if metricFile == "" {
		if dir := o.privateDir(); dir != "" {
			defer os.RemoveAll(dir)
			metricFile = filepath.Join(dir, "metrics.prom")
		}
	}
	env := withoutVar(o.Environ, EnvMetricsFile)
	if metricFile != "" {
		env = append(env, EnvMetricsFile+"="+metricFile)
	}

	p := &runner.Passthrough{
		Argv: o.Argv, Env: env,
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr,
		Signals: o.Signals, Grace: o.Grace, Logger: o.Logger,
	}
	out := p.Run()
	res.ExitCode, res.Start, res.Duration, res.Err = out.ExitCode, out.Start, out.Duration, out.Err
	switch {
	case out.Err != nil:
		res.Status = StatusError
	case out.ExitCode == 0:
		res.Status = StatusSucceeded
	default:
		res.Status = StatusFailed
	}

	var cmdFams []*dto.MetricFamily
	var fileErr error
	if metricFile != "" && (out.Err == nil || errors.Is(out.Err, ErrKilled)) {
		cmdFams, fileErr = readMetrics(metricFile, o.MaxMetricBytes)
	}
	res.Families, res.MetricsErr = o.families(res, cmdFams)
	res.MetricsErr = errors.Join(fileErr, res.MetricsErr)
	return res
}

// privateDir creates the private directory for METRICS_FILE in the first
// of TempDirs that takes it; "" when none does, and the job runs anyway
// (without METRICS_FILE): losing its own metrics beats losing the job.
func (o *Options) privateDir() string {
	parents := o.TempDirs
	if parents == nil {
		parents = []string{os.TempDir(), "."}
	}
	var errs []error
	for _, parent := range parents {
		dir, err := os.MkdirTemp(parent, "metricwrap-job-")
		if err == nil {
			if len(errs) > 0 {
				o.Logger.Warn("METRICS_FILE is in a fallback directory", "dir", dir, "err", errors.Join(errs...))
			}
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs // the command may change its working directory
			}
			return dir
		}
		errs = append(errs, err)
	}
	o.Logger.Error("cannot create a private directory for METRICS_FILE; the job runs without one (set TMPDIR to a writable directory)",
		"err", errors.Join(errs...))
	return ""
}

// families assembles, labels and validates a run's metrics. The command's
// families are dropped as a whole when they clash with the job's own.
func (o *Options) families(res *Result, cmdFams []*dto.MetricFamily) ([]*dto.MetricFamily, error) {
	fams := RunMetrics(Outcome{Status: res.Status, ExitCode: res.ExitCode, Start: res.Start, Duration: res.Duration}, o.Prefix)
	vars := Vars{
		Status: res.Status, Duration: res.Duration.Seconds(), ExitCode: res.ExitCode,
		JobName: o.Name, Getenv: getenvFrom(o.Environ),
	}
	var errs []error
	var jobLabels map[string]string
	if c := o.Config; c != nil {
		custom, err := CustomMetrics(c.Metrics, o.Prefix, vars)
		fams = append(fams, custom...)
		errs = append(errs, err)
		jobLabels = map[string]string{}
		for k, tmpl := range c.Labels {
			v, err := config.ExpandTemplate(tmpl, vars.Lookup)
			if err != nil {
				errs = append(errs, fmt.Errorf("jobs.%s.labels.%s: %w", o.Name, k, err))
				continue
			}
			jobLabels[k] = v
		}
	}
	for _, mf := range fams {
		if mf.GetType() == dto.MetricType_COUNTER {
			res.Increments = append(res.Increments, mf.GetName())
		}
	}
	for _, mf := range cmdFams {
		mf.Name = ptr(prefixed(o.Prefix, mf.GetName()))
	}
	label := func(fs []*dto.MetricFamily) []*dto.MetricFamily {
		exposition.AddLabels(fs, jobLabels)
		exposition.AddLabels(fs, o.Labels)
		return fs
	}
	all := label(append(fams, cmdFams...))
	if err := exposition.Validate(all); err != nil {
		if len(cmdFams) > 0 {
			errs = append(errs, fmt.Errorf("%s: left out, it clashes with the job's own metrics: %w", EnvMetricsFile, err))
			all = all[:len(fams)]
		}
		if err := exposition.Validate(all); err != nil {
			errs = append(errs, fmt.Errorf("job metrics: %w", err))
		}
	}
	return all, errors.Join(errs...)
}

// readMetrics parses what the command wrote to METRICS_FILE, read by the
// runner's reader (the one for exporters too): a file it did not write
// means no metrics, and a FIFO, a symlink or a file over limit is refused
// at once, so a job cannot make exec hang or read a device after it ends.
func readMetrics(path string, limit int64) ([]*dto.MetricFamily, error) {
	data, err := runner.ReadMetricsFile(path, limit)
	if err != nil {
		return nil, fmt.Errorf("%s %s left out: %w", EnvMetricsFile, path, err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	fams, err := exposition.Parse(data, exposition.Detect(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMetricsFile, err)
	}
	return fams, nil
}

// withoutVar is environ without the entries of name.
func withoutVar(environ []string, name string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// getenvFrom reads variables from environ (the last entry of a name wins,
// as in exec).
func getenvFrom(environ []string) func(string) string {
	return func(name string) string {
		v := ""
		for _, kv := range environ {
			if k, val, ok := strings.Cut(kv, "="); ok && k == name {
				v = val
			}
		}
		return v
	}
}
