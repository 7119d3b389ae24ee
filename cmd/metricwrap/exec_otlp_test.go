package main

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink/otlp/dtotlp"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// TestExecRunsTotalReachesDynatraceOTLPOnTheFirstRun: with --push otlp in
// delta temporality (Dynatrace's OTLP ingest, strict fake), job_runs_total,
// an increment exec makes, goes out as a delta of 1 on every run, the very
// first included, with no stored state.
func TestExecRunsTotalReachesDynatraceOTLPOnTheFirstRun(t *testing.T) {
	t.Parallel()
	dt := dtotlp.New("dt-token")
	srv := httptest.NewServer(dt)
	defer srv.Close()
	env := baseEnv("XDG_STATE_HOME="+filepath.Join(t.TempDir(), "state"),
		"OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL+"/api/v2/otlp",
		"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Api-Token%20dt-token",
		"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta")
	for run := 1; run <= 2; run++ {
		r := runMW(t, env, "exec", "--job", "backup", "--push", "otlp", "--", "true")
		if r.code != 0 {
			t.Fatalf("run %d: exit %d; stderr:\n%s", run, r.code, r.stderr)
		}
		n := 0
		for _, p := range dt.Accepted() {
			if p.Metric == "job_runs_total" && p.Delta && p.Value == 1 && p.Dimensions["status"] == "Succeeded" {
				n++
			}
		}
		if n != run {
			t.Fatalf("after run %d Dynatrace has %d job_runs_total deltas of 1, want %d; accepted %+v, rejected %v",
				run, n, run, dt.Accepted(), dt.Rejected())
		}
	}
}

// TestExecRunsTotalToCollectorCumulative: with --push otlp in the default
// cumulative temporality and no Pushgateway to read a previous total from,
// job_runs_total still counts runs at a real Collector: 1, then 2.
func TestExecRunsTotalToCollectorCumulative(t *testing.T) {
	t.Parallel()
	c := testenv.StartCollector(t)
	env := baseEnv("XDG_STATE_HOME="+filepath.Join(t.TempDir(), "state"), "OTEL_EXPORTER_OTLP_ENDPOINT="+c.URL)
	for run := 1; run <= 2; run++ {
		r := runMW(t, env, "exec", "--job", "backup", "--push", "otlp", "--", "true")
		if r.code != 0 {
			t.Fatalf("run %d: exit %d; stderr:\n%s", run, r.code, r.stderr)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		lines := c.Received(t)
		if len(lines) == 2 {
			last = string(lines[1])
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The OTLP JSON of the second run: job_runs_total is a cumulative
	// monotonic sum at 2.
	i := strings.Index(last, `"name":"job_runs_total"`)
	if i < 0 {
		t.Fatalf("second request %q has no job_runs_total", last)
	}
	rest := last[i:]
	if !strings.Contains(rest, `"asDouble":2`) || !strings.Contains(rest, `"aggregationTemporality":2`) || !strings.Contains(rest, `"isMonotonic":true`) {
		t.Errorf("job_runs_total of run 2: %s; want a cumulative monotonic sum of 2", rest)
	}
}
