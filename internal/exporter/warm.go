package exporter

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"time"

	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/runner"
	"github.com/metricwrap/metricwrap/python"
)

// WarmRunner runs Python class exporters from a warm worker that has
// already imported prometheus_client and the exporter's module, so a run
// costs a fork instead of an interpreter start (pyworker.Pool implements
// it; serve sets it, run and exec never do). It must be safe for
// concurrent use.
//
// Warm runs are the default for Python class exporters when BuildOptions
// has one; an exporter opts out with `warm: false`. Opt out when a module
// does work at import time that must happen per run or not in a
// long-lived process: opening connections or files, starting threads,
// reading its configured env or arguments, printing. That code runs once,
// in the worker, with only PATH, HOME, LANG and TZ in its environment.
type WarmRunner interface {
	// Add announces, while a set is built, exporter name of exportersDir,
	// so its worker imports it before the first run.
	Add(exportersDir, name string)
	// Run runs spec, the exporter's cold command line, warm when it can
	// and cold otherwise, with runner.Run's results and errors either way.
	Run(ctx context.Context, exportersDir string, spec runner.Spec) (*runner.Result, error)
}

// warmExporter is a Python class exporter whose runs go through a
// WarmRunner.
type warmExporter struct {
	*processExporter
	dir  string
	warm WarmRunner
}

// warmed returns pe running warm through w unless w is nil, the exporter
// says `warm: false`, or its file does not name an exporter module.
func warmed(pe *processExporter, file string, enabled *bool, w WarmRunner) Exporter {
	if w == nil || (enabled != nil && !*enabled) {
		return pe
	}
	dir, name, err := python.Split(file)
	if err != nil {
		return pe
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // as pythonArgv passes it
	}
	w.Add(dir, name)
	return &warmExporter{processExporter: pe, dir: dir, warm: w}
}

func (e *warmExporter) Run(ctx context.Context, req *Request) (*Result, error) {
	return e.runWith(ctx, req, func(ctx context.Context, s runner.Spec) (*runner.Result, error) {
		return e.warm.Run(ctx, e.dir, s)
	})
}

// runWith is processExporter.Run with the runner given: the same spec from
// the request, the same Result and error mapping.
func (e *processExporter) runWith(ctx context.Context, req *Request, run func(context.Context, runner.Spec) (*runner.Result, error)) (*Result, error) {
	path, args, err := e.argv(req.Debug)
	if err != nil {
		return &Result{Start: time.Now()}, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	spec := e.spec
	spec.Path = path
	paramArgs, paramEnv := e.params.Apply(req.Params)
	spec.Args = append(append(append(append([]string(nil), args...), spec.Args...), paramArgs...), req.Args...)
	if len(paramEnv) > 0 {
		env := maps.Clone(spec.Env)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, paramEnv)
		spec.Env = env
	}
	if req.Timeout > 0 && (spec.Timeout <= 0 || req.Timeout < spec.Timeout) {
		spec.Timeout = req.Timeout
	}
	rr, runErr := run(ctx, spec)
	res := &Result{}
	if rr != nil {
		res.ExitCode = rr.ExitCode
		res.Stdout, res.Stderr = rr.Stdout, rr.Stderr
		res.MetricsFilename = rr.MetricsFilename
		res.Raw = rr.Metrics
		res.Start, res.Duration = rr.Start, rr.Duration
	}
	if runErr != nil {
		return res, mapRunnerError(runErr)
	}
	fams, err := exposition.Parse(rr.Metrics, exposition.Detect(rr.Metrics))
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidOutput, err)
	}
	res.Families = fams
	return res, nil
}
