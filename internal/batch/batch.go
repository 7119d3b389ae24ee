// Package batch defines what one run hands to the push side: the metric
// families it produced and what describes the run. It depends on nothing of
// metricwrap's own, so that every producer (run, exec, serve's schedule) and
// every consumer (sinks, fan-out, spool) can share it without import cycles.
package batch

import (
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Batch is what one run produced, as handed to every sink. Sinks must treat
// it as read-only: the same Batch goes to several sinks concurrently.
type Batch struct {
	// ID identifies the run; it is unique across processes (a timestamp and
	// random bits) and stable when the batch is spooled and redelivered, so
	// sinks can tie per-batch state (Dynatrace counter deltas) to it.
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
	// Increments names the counter families whose values are this run's
	// increase rather than a running total: the counters exec itself makes
	// (one run is +1). A sink that sends deltas (Dynatrace) sends their
	// values as they are, on the very first run, instead of waiting for a
	// second sighting to compute a difference. It travels with the batch
	// through the spool.
	Increments []string `json:"increments,omitempty"`
}

// IsIncrement reports whether the family called name holds increments (see
// Increments).
func (b *Batch) IsIncrement(name string) bool {
	return slices.Contains(b.Increments, name)
}

// Empty reports whether the batch carries no sample at all (no family, or
// families declared without a sample). An empty batch must never be
// delivered: a Pushgateway PUT of it would erase the group.
func (b *Batch) Empty() bool {
	for _, mf := range b.Families {
		if len(mf.GetMetric()) > 0 {
			return false
		}
	}
	return true
}
