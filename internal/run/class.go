package run

import (
	"context"
	"errors"
	"net/http"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// Class is what became of a request, one word per kind of failure. It is
// decided here once and used everywhere a failure shows: the outcome label
// of metricwrap_exporter_runs_total, the reason label of an `on_failure:
// report` answer, the history on the status page and the HTTP status. It
// never carries text from the exporter, so it is safe to show anyone.
type Class string

// The classes, in the words the metrics have always used.
const (
	Success        Class = "success"
	Failure        Class = "failure"
	Timeout        Class = "timeout"
	Canceled       Class = "canceled"
	InvalidOutput  Class = "invalid_output"
	OutputTooLarge Class = "output_too_large"
	NoMetrics      Class = "no_metrics"
	// Overloaded: no run slot came free before the deadline; nothing ran.
	Overloaded Class = "overloaded"
)

// ErrOverloaded says no run slot came free before the request's deadline (503).
var ErrOverloaded = errors.New("too many exporter runs in progress; try again later")

// Classify maps a run's error to its class.
func Classify(err error) Class {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, ErrOverloaded):
		return Overloaded
	case errors.Is(err, exporter.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, exporter.ErrInvalidOutput):
		return InvalidOutput
	case errors.Is(err, exporter.ErrOutputTooLarge):
		return OutputTooLarge
	case errors.Is(err, exporter.ErrNoMetrics):
		return NoMetrics
	default:
		return Failure
	}
}

// Status is the HTTP status of a failed answer with `on_failure: error`
// (SPEC 3): 503 when nothing could run, 504 on a timeout, else 500.
func (c Class) Status() int {
	switch c {
	case Success:
		return http.StatusOK
	case Overloaded:
		return http.StatusServiceUnavailable
	case Timeout:
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}
