package python

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/runner"
	bundle "github.com/metricwrap/metricwrap/python"
)

// Kind is the python exporter kind (exporter.PythonKind): it makes the
// exporters of modules in the original layout, which run cold or, with a
// Pool, also warm (exporter.WarmRunner), and picks the interpreter they
// and `python3` commands run under. It is safe for concurrent use.
type Kind struct {
	explicit string
	pool     *Pool

	once   sync.Once
	runner string
	err    error
}

// New returns the kind. explicit is global.python ("" for none). pool,
// when not nil, is where class exporters run warm (serve): the kind has
// each worker preload the modules of exporters that may run warm (not
// `warm: false`), and RunWarm runs through it. Whether a run is tried warm
// is internal/run's choice. run and exec pass nil: every run starts a
// fresh interpreter.
func New(explicit string, pool *Pool) *Kind {
	return &Kind{explicit: explicit, pool: pool}
}

// Interpreter finds the interpreter (explicit, else METRICWRAP_PYTHON, else
// the first python3 on PATH that imports prometheus_client), on first use.
func (k *Kind) Interpreter() (string, error) { return FindInterpreter(k.explicit) }

// Runner installs the bundled runner in the user's cache directory, on
// first use, and returns its path.
func (k *Kind) Runner() (string, error) {
	k.once.Do(func() {
		dir, err := bundle.DefaultDir()
		if err != nil {
			k.err = err
			return
		}
		k.runner, k.err = bundle.Install(dir)
	})
	return k.runner, k.err
}

// New implements exporter.PythonKind.
func (k *Kind) New(c exporter.ProcessConfig, file string, warm *bool) exporter.Exporter {
	dir, name, splitErr := Split(file)
	if abs, err := filepath.Abs(dir); err == nil {
		// The child runs in its private directory (or the configured
		// dir), so a relative path would point elsewhere.
		dir = abs
	}
	c.Kind = exporter.KindPython
	// A job: configured wins; otherwise each run reports the instance's
	// job_name, and the exporter's name stands in before any run.
	jobFromRun := c.Job == ""
	if jobFromRun {
		c.Job = c.Name
	}
	c.Argv = func(debug bool) (string, []string, error) {
		if splitErr != nil {
			return "", nil, splitErr
		}
		interp, err := k.Interpreter()
		if err != nil {
			return "", nil, err
		}
		script, err := k.Runner()
		if err != nil {
			return "", nil, err
		}
		return interp, RunnerArgs(script, dir, name, debug), nil
	}
	e := &classExporter{Process: exporter.NewProcess(c), dir: dir, jobFromRun: jobFromRun}
	if k.pool != nil && splitErr == nil {
		e.pool = k.pool
		if warm == nil || *warm {
			k.pool.Add(dir, name)
		}
	}
	return e
}

// classExporter is a Python exporter. Run starts a fresh interpreter;
// RunWarm forks the run from its pool's worker.
type classExporter struct {
	*exporter.Process
	dir        string // absolute, as the runner is given it
	pool       *Pool  // nil: RunWarm refuses every run
	jobFromRun bool   // no job configured: the run's job_name is the job
}

// Run implements exporter.Exporter with a cold run.
func (e *classExporter) Run(ctx context.Context, req *exporter.Request) (*exporter.Result, error) {
	return e.run(ctx, req, runner.Run)
}

// RunWarm implements exporter.WarmRunner through the pool. When the pool
// refuses the run (no worker ready, a run no worker can serve) it returns
// the pool's error, which wraps exporter.ErrNotWarm, and no result.
func (e *classExporter) RunWarm(ctx context.Context, req *exporter.Request) (*exporter.Result, error) {
	if e.pool == nil {
		return nil, fmt.Errorf("%w: no python worker pool", exporter.ErrNotWarm)
	}
	var refused error
	res, err := e.run(ctx, req, func(ctx context.Context, s runner.Spec) (*runner.Result, error) {
		rr, err := e.pool.Run(ctx, e.dir, s)
		if errors.Is(err, exporter.ErrNotWarm) {
			refused = err
		}
		return rr, err
	})
	if refused != nil {
		return nil, refused
	}
	return res, err
}

// run is a run through run, cold or warm, with the runner's job line cut
// off the metrics.
func (e *classExporter) run(ctx context.Context, req *exporter.Request, run func(context.Context, runner.Spec) (*runner.Result, error)) (*exporter.Result, error) {
	var job string
	res, err := e.RunWith(ctx, req, func(ctx context.Context, s runner.Spec) (*runner.Result, error) {
		rr, err := run(ctx, s)
		if rr != nil {
			rr.Metrics, job = cutJobLine(rr.Metrics)
		}
		return rr, err
	})
	if res != nil && e.jobFromRun {
		res.Job = job
	}
	return res, err
}

// jobLinePrefix starts the runner's last line of METRICS_FILE, which names
// the instance's job_name as a JSON string.
var jobLinePrefix = []byte("# metricwrap-job: ")

// cutJobLine returns metrics without the runner's job line, and the job it
// names ("" when there is none: a plain script, a failed run).
func cutJobLine(metrics []byte) ([]byte, string) {
	body := bytes.TrimSuffix(metrics, []byte("\n"))
	i := bytes.LastIndexByte(body, '\n') + 1
	line := body[i:]
	rest, ok := bytes.CutPrefix(line, jobLinePrefix)
	if !ok {
		return metrics, ""
	}
	var job string
	if json.Unmarshal(rest, &job) != nil {
		return metrics, ""
	}
	return metrics[:i], job
}

var (
	_ exporter.PythonKind = (*Kind)(nil)
	_ exporter.WarmRunner = (*classExporter)(nil)
)
