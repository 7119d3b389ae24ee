package python

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"sync"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/runner"
	bundle "github.com/metricwrap/metricwrap/python"
)

// Kind is the python exporter kind (exporter.PythonKind): it makes the
// exporters of modules in the original layout, cold or, with a Pool, warm,
// and picks the interpreter they and `python3` commands run under. It is
// safe for concurrent use.
type Kind struct {
	explicit string
	pool     *Pool

	once   sync.Once
	runner string
	err    error
}

// New returns the kind. explicit is global.python ("" for none). pool, when
// not nil, runs class exporters warm (serve); an exporter's `warm: false`
// opts out. run and exec pass nil: every run starts a fresh interpreter.
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
	if k.pool != nil && splitErr == nil && (warm == nil || *warm) {
		k.pool.Add(dir, name)
		e.pool = k.pool
	}
	return e
}

// classExporter is a Python exporter; with a pool its runs are forked from
// a warm worker when one is ready.
type classExporter struct {
	*exporter.Process
	dir        string // absolute, as the runner is given it
	pool       *Pool  // nil: cold
	jobFromRun bool   // no job configured: the run's job_name is the job
}

func (e *classExporter) Run(ctx context.Context, req *exporter.Request) (*exporter.Result, error) {
	run := runner.Run
	if e.pool != nil {
		run = func(ctx context.Context, s runner.Spec) (*runner.Result, error) {
			return e.pool.Run(ctx, e.dir, s)
		}
	}
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

var _ exporter.PythonKind = (*Kind)(nil)
