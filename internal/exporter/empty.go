package exporter

import (
	"fmt"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/exposition"

	"github.com/metricwrap/metricwrap/internal/runner"
)

// requireMetrics is the one rule for an empty run, whatever its kind: a
// run whose families hold no sample fails with ErrNoMetrics, and hint
// says what to do about it. The one exception is a valid OpenMetrics
// document (f): its mandatory "# EOF" makes even a document without a
// sample (metadata alone, or "# EOF" alone) an explicit answer rather than
// a mistake. Such a run succeeds, and the sinks still refuse to deliver
// its batch as empty (batch.Batch.Empty), so it never erases a group.
func requireMetrics(fams []*dto.MetricFamily, f exposition.Format, hint string) error {
	if f == exposition.FormatOpenMetrics {
		return nil
	}
	for _, mf := range fams {
		if len(mf.GetMetric()) > 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrNoMetrics, hint)
}

// processHint says where a process exporter's metrics were looked for and
// what it printed instead: the common mistake is a program that prints its
// metrics, run in the default file mode.
func processHint(output runner.Output, rr *runner.Result) string {
	if output == runner.OutputStdout {
		return "printed nothing to stdout: print Prometheus text exposition there, or write it to $METRICS_FILE and set `output: file`"
	}
	if n := len(rr.Stdout); n > 0 {
		return fmt.Sprintf("wrote nothing to $METRICS_FILE but printed %d bytes to stdout: set `output: stdout`", n)
	}
	return "wrote nothing to $METRICS_FILE and printed nothing: write Prometheus text exposition to the file $METRICS_FILE names (or print it and set `output: stdout`)"
}
