package server

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

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

// TestOutcomeSeriesPassPromtool runs `promtool check metrics` on the
// series metricwrap adds to an answer of /metrics/NAME: success, duration
// and exit code of a successful and of a reported failed run, and the
// cache marker.
func TestOutcomeSeriesPassPromtool(t *testing.T) {
	promtool := testenv.Promtool(t)
	failing := &fakeExporter{name: "bad", fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
		return &exporter.Result{ExitCode: 1}, fmt.Errorf("%w: exited with code 1", exporter.ErrFailed)
	}}
	_, ts := newTestServer(t, Options{},
		&exporter.Entry{Exporter: &fakeExporter{name: "x"}, CacheTTL: time.Minute},
		&exporter.Entry{Exporter: failing, OnFailure: exporter.OnFailureReport})
	for _, path := range []string{"/metrics/x", "/metrics/bad"} {
		status, body, _ := get(t, ts.URL+path)
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		var ours []string
		keep := false
		for _, line := range strings.SplitAfter(body, "\n") {
			if strings.HasPrefix(line, "# HELP ") {
				keep = strings.HasPrefix(line, "# HELP metricwrap_")
			}
			if keep {
				ours = append(ours, line)
			}
		}
		if len(ours) < 6 {
			t.Fatalf("%s: outcome series missing:\n%s", path, body)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(strings.Join(ours, ""))
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("promtool check metrics on %s: %v\n%s\n%s", path, err, out, strings.Join(ours, ""))
		}
	}
}
