package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// printerScript prints its metrics to stdout instead of writing them to
// $METRICS_FILE: the mistake that made a default PUT replace a group with
// nothing.
const printerScript = "#!/bin/sh\nprintf '# TYPE important_value gauge\\nimportant_value 1\\n'\n"

// emptyRunHint is what every form must say about printerScript's run.
var emptyRunHint = fmt.Sprintf("wrote nothing to $METRICS_FILE but printed %d bytes to stdout: set `output: stdout`",
	len("# TYPE important_value gauge\nimportant_value 1\n"))

// TestEmptyRunNeverErases runs an exporter that prints in file mode, in
// every form that pushes or serves, against a real Pushgateway whose group
// already holds important_value 7: each run fails saying what to do, and
// the group is untouched (no PUT of an empty group).
func TestEmptyRunNeverErases(t *testing.T) {
	t.Parallel()
	gw := startGateway(t)
	dir := t.TempDir()
	exporters := filepath.Join(dir, "exporters")
	script := writeFile(t, exporters, "printer", printerScript, 0o755)
	cfg := writeFile(t, dir, "metricwrap.yml", fmt.Sprintf(`
exporters:
  printer: {command: [%q]}
  sched: {command: [%q], schedule: 200ms, sinks: [gw]}
sinks:
  gw: {type: pushgateway, url: %q, method: put, retry_for: 0s}
spool: {dir: %q}
`, script, script, gw.URL, filepath.Join(dir, "spool")), 0o644)
	env := baseEnv()

	seed := func(t *testing.T, job string) {
		t.Helper()
		pushRaw(t, gw.URL, job, "# TYPE important_value gauge\nimportant_value 7\n")
	}
	untouched := func(t *testing.T, job string) {
		t.Helper()
		g := gatewayJob(t, gw.URL, job)
		if v, ok := g.samples["important_value{}"]; !ok || v != 7 || len(g.samples) != 1 {
			t.Errorf("group job=%s holds %v; want only important_value 7", job, g.samples)
		}
	}

	t.Run("run", func(t *testing.T) {
		seed(t, "printer")
		r := runMW(t, env, "--config.file", cfg, "run", "printer", "--push", "gw")
		if r.code == 0 || !strings.Contains(r.stderr, emptyRunHint) {
			t.Errorf("exit %d, stderr:\n%s\nwant a failure saying %q", r.code, r.stderr, emptyRunHint)
		}
		untouched(t, "printer")
	})
	t.Run("compatibility form", func(t *testing.T) {
		seed(t, "printer")
		r := runMW(t, env, "--exporters.dir", exporters, "--exporter", "printer", "--pushgateway-address", gw.Addr)
		if r.code == 0 || !strings.Contains(r.stderr, emptyRunHint) {
			t.Errorf("exit %d, stderr:\n%s\nwant a failure saying %q", r.code, r.stderr, emptyRunHint)
		}
		untouched(t, "printer")
	})
	t.Run("serve", func(t *testing.T) {
		seed(t, "sched")
		s := startServe(t, env, "--config.file", cfg)
		code, body := get(t, s.url+"/metrics/printer")
		if code != http.StatusInternalServerError || !strings.Contains(body, emptyRunHint) {
			t.Errorf("/metrics/printer: %d %q; want 500 saying %q", code, body, emptyRunHint)
		}
		// Two failed scheduled runs, then the group is looked at.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(metricsText(t, s.url), `metricwrap_scheduled_runs_total{exporter="sched",outcome="failure"} 2`) {
			if time.Now().After(deadline) {
				t.Fatalf("no two failed scheduled runs within 30s:\n%s", metricsText(t, s.url))
			}
			time.Sleep(50 * time.Millisecond)
		}
		untouched(t, "sched")
		if out := s.out.String(); !strings.Contains(out, "set `output: stdout`") {
			t.Errorf("serve's log does not say what to do:\n%s", out)
		}
	})
	if _, err := os.Stat(filepath.Join(dir, "spool")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(dir, "spool"))
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				t.Errorf("spool holds %s: an empty run was queued for delivery", e.Name())
			}
		}
	}
}

// metricsText is serve's own /metrics.
func metricsText(t *testing.T, base string) string {
	t.Helper()
	_, body := get(t, base+"/metrics")
	return body
}
