package server

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// TestOwnMetricsPassPromtool runs `promtool check metrics` on every
// metricwrap_* family the server exposes (the seed-compatible server_*
// names are exempt: they keep the original tool's names).
func TestOwnMetricsPassPromtool(t *testing.T) {
	promtool := testenv.Promtool(t)
	s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: &fakeExporter{name: "x"}})
	get(t, ts.URL+"/metrics/x") // so that the labelled series exist
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	n := 0
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "metricwrap_") {
			if err := enc.Encode(f); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n < 5 {
		t.Fatalf("only %d metricwrap_* families exposed", n)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
