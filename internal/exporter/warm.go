package exporter

import (
	"context"
	"path/filepath"

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
