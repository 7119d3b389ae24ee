package schedule

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/exporter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake counts runs and the most that ever ran at once.
type fake struct {
	params  exporter.Params
	runs    atomic.Int64
	running atomic.Int64
	maxSeen atomic.Int64
	hold    time.Duration
	fail    bool
	gotArgs sync.Map
}

func (f *fake) Name() string            { return "sched" }
func (f *fake) Kind() string            { return exporter.KindCommand }
func (f *fake) Job() string             { return "sched-job" }
func (f *fake) Params() exporter.Params { return f.params }
func (f *fake) Run(ctx context.Context, req *exporter.Request) (*exporter.Result, error) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.runs.Add(1)
	for k, v := range req.Params {
		f.gotArgs.Store(k, v)
	}
	select {
	case <-time.After(f.hold):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.fail {
		return &exporter.Result{}, errors.New("boom")
	}
	v := 1.0
	return &exporter.Result{Start: time.Now(), Families: []*dto.MetricFamily{{
		Name: strPtr("x"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}},
	}}}, nil
}

func strPtr(s string) *string { return &s }

type recorder struct {
	mu      sync.Mutex
	batches []*batch.Batch
	names   [][]string
}

func (r *recorder) Deliver(_ context.Context, b *batch.Batch, names ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
	r.names = append(r.names, names)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestScheduledRunsAreDeliveredToTheirSinks(t *testing.T) {
	f := &fake{params: exporter.Params{"target": {Name: "target", Required: true}}}
	set, err := exporter.NewSet(&exporter.Entry{
		Exporter: f, Schedule: 10 * time.Millisecond, Timeout: time.Second,
		ScheduleParams: map[string]string{"target": "core-sw01"}, Sinks: []string{"gw", "dt"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	runs := NewRunsCounter()
	s, err := Start(set, rec, Options{Labels: map[string]string{"env": "test"}, Runs: runs})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return rec.count() >= 3 })
	s.Stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	b := rec.batches[0]
	if b.Exporter != "sched" || b.Job != "sched-job" || b.Params["target"] != "core-sw01" || b.Labels["env"] != "test" || b.ID == "" {
		t.Fatalf("batch %+v", b)
	}
	if got := rec.names[0]; len(got) != 2 || got[0] != "gw" || got[1] != "dt" {
		t.Fatalf("sinks %v", got)
	}
	if rec.batches[0].ID == rec.batches[1].ID {
		t.Fatal("two runs share an ID")
	}
	if v := testutil.ToFloat64(runs.WithLabelValues("sched", "success")); v < 3 {
		t.Fatalf("success runs counted %v", v)
	}
}

func TestScheduledRunsNeverOverlap(t *testing.T) {
	// Each run takes five intervals: ticks during a run must be dropped.
	f := &fake{hold: 50 * time.Millisecond}
	set, _ := exporter.NewSet(&exporter.Entry{Exporter: f, Schedule: 10 * time.Millisecond, Timeout: time.Second})
	s, err := Start(set, &recorder{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.runs.Load() >= 4 })
	s.Stop()
	if m := f.maxSeen.Load(); m != 1 {
		t.Fatalf("%d runs overlapped", m)
	}
}

func TestFailedRunIsCountedNotDelivered(t *testing.T) {
	f := &fake{fail: true}
	set, _ := exporter.NewSet(&exporter.Entry{Exporter: f, Schedule: 5 * time.Millisecond, Timeout: time.Second})
	rec := &recorder{}
	runs := NewRunsCounter()
	s, err := Start(set, rec, Options{Runs: runs})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return testutil.ToFloat64(runs.WithLabelValues("sched", "failure")) >= 2 })
	s.Stop()
	if rec.count() != 0 {
		t.Fatal("a failed run was delivered")
	}
}

func TestBadScheduleParamsRefused(t *testing.T) {
	f := &fake{params: exporter.Params{"target": {Name: "target", Required: true}}}
	set, _ := exporter.NewSet(&exporter.Entry{Exporter: f, Schedule: time.Second})
	if _, err := Start(set, &recorder{}, Options{}); err == nil {
		t.Fatal("a schedule missing a required parameter started")
	}
	if f.runs.Load() != 0 {
		t.Fatal("exporter ran")
	}
}

func TestUnscheduledExportersDoNotRun(t *testing.T) {
	f := &fake{}
	set, _ := exporter.NewSet(&exporter.Entry{Exporter: f})
	s, err := Start(set, &recorder{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if f.runs.Load() != 0 {
		t.Fatal("an exporter without a schedule ran")
	}
}

// TestNextTick: the next run of a schedule is the first tick after now.
func TestNextTick(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct{ now, want int64 }{
		{1000, 1060}, {1001, 1060}, {1059, 1060}, {1060, 1120}, {1500, 1540},
	} {
		if got := nextTick(t0, time.Minute, time.Unix(tc.now, 0)); got.Unix() != tc.want {
			t.Errorf("nextTick(at %d) = %d, want %d", tc.now, got.Unix(), tc.want)
		}
	}
}

// named gives a fake exporter its own name, for sets of several.
type named struct {
	*fake
	name string
}

func (n named) Name() string { return n.name }

// ownList is a Shard that owns the exporters it lists and runs them a
// millisecond after each asks.
type ownList map[string]bool

func (o ownList) Owns(e *exporter.Entry) bool { return o[e.Name()] }
func (ownList) Next(_ *exporter.Entry, now time.Time) time.Time {
	return now.Add(time.Millisecond)
}

// TestAShardRunsOnlyWhatItOwnsWhenItSays: with Options.Shard, a schedule
// not owned never runs, and the owned ones run at the shard's times (here
// many within an interval of an hour).
func TestAShardRunsOnlyWhatItOwnsWhenItSays(t *testing.T) {
	mine, theirs := &fake{}, &fake{}
	set, err := exporter.NewSet(
		&exporter.Entry{Exporter: named{mine, "mine"}, Schedule: time.Hour, Timeout: time.Second},
		&exporter.Entry{Exporter: named{theirs, "theirs"}, Schedule: time.Hour, Timeout: time.Second},
	)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(set, &recorder{}, Options{Shard: ownList{"mine": true}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for mine.runs.Load() < 3 {
		if time.Now().After(deadline) {
			s.Stop()
			t.Fatalf("the owned schedule ran %d times in 10s; the shard asks for one a millisecond", mine.runs.Load())
		}
		time.Sleep(time.Millisecond)
	}
	s.Stop()
	if n := theirs.runs.Load(); n != 0 {
		t.Errorf("the schedule the shard does not own ran %d times", n)
	}
}
