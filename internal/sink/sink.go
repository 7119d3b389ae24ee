// Package sink defines how the metric families of one run are delivered
// somewhere else (Pushgateway, Dynatrace, S3, remote write) and fans one run
// out to several sinks.
package sink

import (
	"context"
	"errors"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Batch is what one run produced, as handed to every sink. Sinks must treat
// it as read-only: the same Batch goes to several sinks concurrently.
type Batch struct {
	// ID identifies the run; it is unique per process and stable when the
	// batch is spooled and redelivered.
	ID string `json:"id"`
	// Exporter is the exporter (or, for exec, the job) that produced the run.
	Exporter string `json:"exporter"`
	// Job is the Pushgateway job name and the grouping used by other sinks.
	Job string `json:"job"`
	// Params are the validated parameters of the run.
	Params map[string]string `json:"params,omitempty"`
	// Labels are the constant labels already added to Families; sinks that
	// need them separately (S3 records) read them here.
	Labels map[string]string `json:"labels,omitempty"`
	// Families are the parsed, validated metric families, in document order.
	Families []*dto.MetricFamily `json:"-"`
	// Start is when the run started; Duration how long it took.
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	// ExitCode is the exporter's or job's exit code (0 for built-ins).
	ExitCode int `json:"exit_code"`
	// Error describes a failed run; empty on success.
	Error string `json:"error,omitempty"`
	// PushMethod is how a Pushgateway takes the batch when its sink sets no
	// method: "put" (replace the group; the default) or "post" (replace
	// same-name metrics only, for jobs, so a failed run keeps the last
	// success timestamp). It travels with the batch through the spool.
	PushMethod string `json:"push_method,omitempty"`
}

// Sink delivers batches. Push must be safe for concurrent use and must honour
// ctx. A returned error wrapped with Permanent is not retried (bad
// credentials, a request the receiver will never accept); any other error is
// retried and, when retries run out, spooled.
type Sink interface {
	// Name is the sink's name from the config (or the env-only name, such as
	// "pushgateway"); it keys metrics, logs and the spool.
	Name() string
	Push(ctx context.Context, b *Batch) error
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that IsPermanent reports true for it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or any error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
