package main

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
)

// TestExecRunsTotalReachesDynatraceOnTheFirstRun: job_runs_total, which
// exec makes, is an increment: the very first run, with a fresh state dir,
// sends it as count,delta=1 (before, its first sighting sent nothing).
func TestExecRunsTotalReachesDynatraceOnTheFirstRun(t *testing.T) {
	t.Parallel()
	dt := dtfake.New("dt-token")
	srv := httptest.NewServer(dt)
	defer srv.Close()
	env := baseEnv("XDG_STATE_HOME="+filepath.Join(t.TempDir(), "state"), "DT_TENANT="+srv.URL, "DT_API_TOKEN=dt-token")
	for run := 1; run <= 2; run++ {
		r := runMW(t, env, "exec", "--job", "backup", "--push", "dynatrace", "--", "true")
		if r.code != 0 {
			t.Fatalf("run %d: exit %d; stderr:\n%s", run, r.code, r.stderr)
		}
		if got := strings.Count(dtLines(dt), "job_runs_total,job=backup,status=Succeeded count,delta=1"); got != run {
			t.Fatalf("after run %d Dynatrace has %d job_runs_total deltas of 1, want %d; lines:\n%s", run, got, run, dtLines(dt))
		}
	}
}
