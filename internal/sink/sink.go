// Package sink defines how the metric families of one run are delivered
// somewhere else (Pushgateway, Dynatrace, S3, remote write) and fans one run
// out to several sinks.
package sink

import (
	"context"
	"errors"

	"github.com/metricwrap/metricwrap/internal/batch"
)

// Sink delivers batches. Push must be safe for concurrent use and must honour
// ctx. A returned error wrapped with Permanent is not retried (bad
// credentials, a request the receiver will never accept); any other error is
// retried and, when retries run out, spooled.
type Sink interface {
	// Name is the sink's name from the config (or the env-only name, such as
	// "pushgateway"); it keys metrics, logs and the spool.
	Name() string
	// Destination says where the sink delivers, canonically and without
	// secrets: type, endpoint and whatever else selects the receiving end
	// (tenant, bucket and prefix, job and grouping). The spool keys each
	// queue by it, so a batch spooled for one destination is never
	// delivered to another after the config or the environment changed.
	Destination() string
	// Push delivers b. It checks b against the protocol's rules first and
	// refuses what the destination would refuse (with Refused), and maps the
	// destination's answer with Answer.
	Push(ctx context.Context, b *batch.Batch) error
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

// IsPermanent reports whether err, or any error it wraps, was marked
// Permanent or is a Refusal that Answer classified as permanent.
func IsPermanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	var r *Refusal
	return errors.As(err, &r) && r.permanent
}
