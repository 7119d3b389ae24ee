package exporter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/runner"
)

// Process runs a child process per request through the runner: the command
// kind, and the base of the python kind (internal/exporter/python, which
// runs the bundled runner under an interpreter, cold or warm). Arguments
// are the configured ones, then checked parameters passed as arguments,
// then the request's extra Args.
type Process struct {
	name, kind, job string
	params          Params
	argv            func(debug bool) (path string, args []string, err error)
	spec            runner.Spec
}

// ProcessConfig is what a Process is made of.
type ProcessConfig struct {
	Name, Kind, Job string
	Params          Params
	// Argv returns the program and its leading arguments for one run; the
	// python kind resolves its interpreter here, lazily, so a machine
	// without Python still serves every other exporter.
	Argv func(debug bool) (path string, args []string, err error)
	// Spec holds what is the same for every run.
	Spec runner.Spec
}

// NewProcess returns the exporter c describes.
func NewProcess(c ProcessConfig) *Process {
	return &Process{name: c.Name, kind: c.Kind, job: c.Job, params: c.Params, argv: c.Argv, spec: c.Spec}
}

// Name implements Exporter.
func (e *Process) Name() string { return e.name }

// Kind implements Exporter: command, or python for the python kind.
func (e *Process) Kind() string { return e.kind }

// Job implements Exporter.
func (e *Process) Job() string { return e.job }

// Params implements Exporter.
func (e *Process) Params() Params { return e.params }

// Run implements Exporter with a child started by the runner.
func (e *Process) Run(ctx context.Context, req *Request) (*Result, error) {
	return e.RunWith(ctx, req, runner.Run)
}

// RunWith is Run with the runner given (a warm worker's, for the python
// kind): the same spec from the request, the same Result and error mapping.
func (e *Process) RunWith(ctx context.Context, req *Request, run func(context.Context, runner.Spec) (*runner.Result, error)) (*Result, error) {
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
	spec.Stdout, spec.Stderr = req.Stdout, req.Stderr
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
	format := exposition.Detect(rr.Metrics)
	fams, err := exposition.Parse(rr.Metrics, format)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidOutput, err)
	}
	res.Families = fams
	return res, requireMetrics(fams, format, processHint(spec.Output, rr))
}

// mapRunnerError turns the runner's sentinels into this package's, keeping
// the runner's message (exit code, stderr tail) as it is.
func mapRunnerError(err error) error {
	switch {
	case errors.Is(err, runner.ErrTimeout):
		return kindError{ErrTimeout, err}
	case errors.Is(err, runner.ErrOutputTooLarge):
		return kindError{ErrOutputTooLarge, err}
	case errors.Is(err, context.Canceled):
		return err
	default:
		return kindError{ErrFailed, err}
	}
}

// kindError classes err as one of this package's sentinels without adding
// to its message.
type kindError struct{ kind, err error }

func (e kindError) Error() string        { return e.err.Error() }
func (e kindError) Unwrap() error        { return e.err }
func (e kindError) Is(target error) bool { return target == e.kind }
