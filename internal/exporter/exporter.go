// Package exporter defines what an exporter is to metricwrap, whatever runs
// it: a built-in compiled in, a command, a Python class in the original
// layout, or another exporter's endpoint to scrape. It turns one request
// (validated parameters, extra arguments, a deadline) into one Result of
// parsed metric families. Nothing here knows about HTTP serving or sinks.
package exporter

import (
	"context"
	"errors"
	"io"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Kinds of exporter, as shown on the status page and in the API.
const (
	KindBuiltin = "builtin"
	KindCommand = "command"
	KindPython  = "python"
	KindScrape  = "scrape"
)

// Errors a run can end with. Callers map them to status codes with errors.Is:
// ErrTimeout is a 504, the others a 500.
var (
	// ErrTimeout: the run did not finish before its deadline and was killed.
	ErrTimeout = errors.New("exporter timed out")
	// ErrFailed: the exporter exited non-zero or its collector returned an error.
	ErrFailed = errors.New("exporter failed")
	// ErrInvalidOutput: what the exporter wrote is not valid exposition.
	ErrInvalidOutput = errors.New("invalid exposition")
	// ErrOutputTooLarge: the exporter wrote more than max_output_bytes.
	ErrOutputTooLarge = errors.New("exporter output too large")
	// ErrNoMetrics: the run ended well but produced no sample at all. It is
	// a failure, never an empty result, so that no push replaces a
	// Pushgateway group (or anything else) with nothing.
	ErrNoMetrics = errors.New("no metrics")
	// ErrNotWarm: a WarmRunner could not take the run and nothing ran, so
	// the caller runs it cold (Run). It is never a run's outcome.
	ErrNotWarm = errors.New("no warm runner took the run")
)

// Request is one run of an exporter.
type Request struct {
	// Params are parameter values already checked by Params.Check.
	Params map[string]string
	// Args are extra arguments passed through unchecked (the CLI's run
	// command, where the operator typed them).
	Args []string
	// Stdout and Stderr, when set, get a process's own output as it comes
	// (the command line passes it through).
	Stdout, Stderr io.Writer
	// Debug asks the exporter for debug output (the original tool's --debug,
	// passed to Python exporters' constructor).
	Debug bool
	// ShowRaw says the caller shows Result.Raw (the server's debug view),
	// so a built-in, which has no exposition of its own, encodes one.
	ShowRaw bool
}

// Result is what one run produced. It is returned alongside a run error too,
// so that the debug page can show what the exporter printed.
type Result struct {
	Families []*dto.MetricFamily
	// Raw is the exposition exactly as the exporter wrote it.
	Raw []byte
	// ExitCode is the process exit code (0 for built-ins and scrapes).
	ExitCode int
	// Stdout and Stderr are the tails the runner kept.
	Stdout, Stderr []byte
	// MetricsFilename is the file the process was told to write (removed).
	MetricsFilename string
	Start           time.Time
	Duration        time.Duration
	// Job is the push job the run itself named (a Python class's job_name,
	// set as late as its parse_args); "" means Exporter.Job().
	Job string
}

// JobOr is the job to push this run under: r.Job, else def (the exporter's
// Job()).
func (r *Result) JobOr(def string) string {
	if r != nil && r.Job != "" {
		return r.Job
	}
	return def
}

// Exporter runs on demand. Run must be safe for concurrent use: the server
// runs one exporter for several distinct requests at once.
type Exporter interface {
	Name() string
	Kind() string
	// Params declares the query parameters the exporter accepts.
	Params() Params
	// Job is the push job name (default: the exporter's name).
	Job() string
	Run(ctx context.Context, req *Request) (*Result, error)
}

// WarmRunner is an exporter that can also run warm: from a process kept
// ready between runs (the python kind's workers), sparing a run the
// start-up that Run pays each time. Whether a run is tried warm is the
// caller's choice, made once in internal/run; the warm runner only says,
// with an error wrapping ErrNotWarm, that it cannot take this run (no
// worker ready, a run a worker cannot serve) before anything ran. Every
// other error, and every result, is the run's, the same as Run's would
// be. RunWarm must be safe for concurrent use, as Run.
type WarmRunner interface {
	RunWarm(ctx context.Context, req *Request) (*Result, error)
}
