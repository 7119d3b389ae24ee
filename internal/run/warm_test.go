package run

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// warmFake is a fake that can also run warm, as warm says.
type warmFake struct {
	*fake
	warmRuns atomic.Int64
	warm     func() (*exporter.Result, error)
}

func (f *warmFake) RunWarm(context.Context, *exporter.Request) (*exporter.Result, error) {
	f.warmRuns.Add(1)
	if f.warm != nil {
		return f.warm()
	}
	return gaugeResult(2), nil
}

// TestWarmOrCold: a run is warm only when the engine runs warm, the entry
// allows it and the exporter is a WarmRunner; a refused warm run (ErrNotWarm)
// runs cold exactly once; the history says which the run was.
func TestWarmOrCold(t *testing.T) {
	refused := func() (*exporter.Result, error) {
		return nil, fmt.Errorf("%w: no worker ready", exporter.ErrNotWarm)
	}
	failed := func() (*exporter.Result, error) {
		return &exporter.Result{ExitCode: 1}, fmt.Errorf("%w: exited with code 1", exporter.ErrFailed)
	}
	cases := []struct {
		name        string
		engineWarm  bool
		entryWarm   bool
		notWarmKind bool // the exporter is no WarmRunner
		warm        func() (*exporter.Result, error)
		// what happened
		warmRuns, coldRuns int64
		recordWarm         bool
		outcome            Class
	}{
		{name: "warm engine, warm entry", engineWarm: true, entryWarm: true, warmRuns: 1, recordWarm: true, outcome: Success},
		{name: "cold engine", entryWarm: true, coldRuns: 1, outcome: Success},
		{name: "entry says warm: false", engineWarm: true, coldRuns: 1, outcome: Success},
		{name: "no warm runner", engineWarm: true, entryWarm: true, notWarmKind: true, coldRuns: 1, outcome: Success},
		{name: "refused, then cold", engineWarm: true, entryWarm: true, warm: refused, warmRuns: 1, coldRuns: 1, outcome: Success},
		{name: "a warm run that fails is the run", engineWarm: true, entryWarm: true, warm: failed, warmRuns: 1, recordWarm: true, outcome: Failure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cold := &fake{name: "x"}
			wf := &warmFake{fake: cold, warm: tc.warm}
			var x exporter.Exporter = wf
			if tc.notWarmKind {
				x = cold
			}
			set, err := exporter.NewSet(&exporter.Entry{Exporter: x, Warm: tc.entryWarm})
			if err != nil {
				t.Fatal(err)
			}
			e := New(Options{Warm: tc.engineWarm})
			defer e.Close()
			e.SetExporters(set, Limits{})
			entry, _ := set.Get("x")

			a := e.Do(context.Background(), &Request{Entry: entry})
			if a.Class != tc.outcome {
				t.Errorf("outcome %s (%v), want %s", a.Class, a.Err, tc.outcome)
			}
			if got := wf.warmRuns.Load(); got != tc.warmRuns {
				t.Errorf("%d warm runs, want %d", got, tc.warmRuns)
			}
			if got := cold.runs.Load(); got != tc.coldRuns {
				t.Errorf("%d cold runs, want %d", got, tc.coldRuns)
			}
			r, ok := e.Last("x")
			if !ok || r.Warm != tc.recordWarm || r.Outcome != tc.outcome {
				t.Errorf("history %+v, want warm %v, outcome %s", r, tc.recordWarm, tc.outcome)
			}
			if got := len(e.Recent("x")); got != 1 {
				t.Errorf("%d runs in the history, want 1", got)
			}
		})
	}
}
