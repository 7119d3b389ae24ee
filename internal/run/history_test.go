package run

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// TestHistoryKeepsTheLastRuns: the newest historyRuns runs, newest first.
func TestHistoryKeepsTheLastRuns(t *testing.T) {
	var h history
	t0 := time.Unix(1e9, 0)
	for i := range historyRuns + 3 {
		h.record("x", Record{At: t0.Add(time.Duration(i) * time.Second)})
	}
	got := h.recent("x")
	if len(got) != historyRuns {
		t.Fatalf("kept %d runs, want %d", len(got), historyRuns)
	}
	for i, r := range got {
		if want := t0.Add(time.Duration(historyRuns+2-i) * time.Second); !r.At.Equal(want) {
			t.Errorf("run %d at %v, want %v (newest first)", i, r.At, want)
		}
	}
	if last, ok := h.get("x"); !ok || !last.At.Equal(got[0].At) {
		t.Errorf("get = %v, %v; want the newest run", last, ok)
	}
	if len(h.recent("y")) != 0 {
		t.Error("runs for an exporter that never ran")
	}
}

// TestReasonLeavesStderrOut: a process failure with stderr is told by how
// the process ended; every other error is metricwrap's own and kept.
func TestReasonLeavesStderrOut(t *testing.T) {
	failed := fmt.Errorf("%w: exited with code 3: password=hunter2", exporter.ErrFailed)
	for _, tc := range []struct {
		err  error
		res  *exporter.Result
		want string
	}{
		{nil, nil, ""},
		{failed, &exporter.Result{ExitCode: 3, Stderr: []byte("password=hunter2")}, "exporter failed with exit code 3; its stderr is in the server log"},
		{failed, &exporter.Result{ExitCode: -1, Stderr: []byte("x")}, "exporter failed: killed by a signal; its stderr is in the server log"},
		{fmt.Errorf("%w after 2.5s", exporter.ErrTimeout), nil, "exporter timed out after 2.5s"},
		{errors.New("invalid exposition: line 4: bad"), nil, "invalid exposition: line 4: bad"},
	} {
		if got := Reason(tc.err, tc.res); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
