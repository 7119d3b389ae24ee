package sink_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/spool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var errDown = errors.New("connection refused")

// fakeSink records what it accepted. fail, when set, decides each attempt.
type fakeSink struct {
	name string
	mu   sync.Mutex
	fail func(b *batch.Batch, attempt int) error
	n    int            // attempts
	got  []string       // accepted IDs, in order
	seen map[string]int // accepted count per ID
	hook func(context.Context) error
}

func newFake(name string) *fakeSink { return &fakeSink{name: name, seen: map[string]int{}} }

func (s *fakeSink) Name() string { return s.name }

func (s *fakeSink) Destination() string { return "fake " + s.name }

func (s *fakeSink) Push(ctx context.Context, b *batch.Batch) error {
	if s.hook != nil {
		if err := s.hook(ctx); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.fail != nil {
		if err := s.fail(b, s.n); err != nil {
			return err
		}
	}
	s.got = append(s.got, b.ID)
	s.seen[b.ID]++
	return nil
}

func (s *fakeSink) setFail(fail func(*batch.Batch, int) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

func (s *fakeSink) accepted() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...), s.n
}

func down(*batch.Batch, int) error { return errDown }

// fakeSpool is a spool in memory: queues by sink name, the rules of
// sink.Spooler. It fails Puts when err is set.
type fakeSpool struct {
	mu     sync.Mutex
	err    error
	puts   []string
	queues map[sink.Queue][]*batch.Batch
}

func (s *fakeSpool) Put(q sink.Queue, b *batch.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.queues == nil {
		s.queues = map[sink.Queue][]*batch.Batch{}
	}
	s.puts = append(s.puts, q.Sink+"/"+b.ID)
	s.queues[q] = append(s.queues[q], b)
	return nil
}

func (s *fakeSpool) Replay(ctx context.Context, q sink.Queue, deliver func(context.Context, *batch.Batch) error) (int, error) {
	n := 0
	for {
		s.mu.Lock()
		if len(s.queues[q]) == 0 {
			s.mu.Unlock()
			return n, nil
		}
		b := s.queues[q][0]
		s.mu.Unlock()
		err := deliver(ctx, b)
		if err != nil && !sink.IsPermanent(err) {
			return n, err
		}
		s.mu.Lock()
		s.queues[q] = s.queues[q][1:]
		s.mu.Unlock()
		if err == nil {
			n++
		}
	}
}

// held lists what the spool still holds, as SINK/ID.
func (s *fakeSpool) held() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for q, bs := range s.queues {
		for _, b := range bs {
			out = append(out, q.Sink+"/"+b.ID)
		}
	}
	return out
}

type fanoutFixture struct {
	*sink.Fanout
	reg *prometheus.Registry
}

// newFanout builds a Fanout with fast retries and a fresh registry.
func newFanout(t *testing.T, sp sink.Spooler, sinks ...sink.Sink) fanoutFixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	f, err := sink.NewFanout(sinks, sink.FanoutOptions{
		RetryFor:    100 * time.Millisecond,
		BackoffBase: time.Millisecond,
		BackoffMax:  10 * time.Millisecond,
		Spool:       sp,
		Registerer:  reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return fanoutFixture{f, reg}
}

func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	s, err := spool.Open(spool.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mkBatch(id string) *batch.Batch {
	return &batch.Batch{ID: id, Job: "job", Start: time.Unix(1763900000, 0), Families: []*dto.MetricFamily{{
		Name: proto.String("up"), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}}},
	}}}
}

func pushes(f fanoutFixture, sinkName string, o sink.Outcome) float64 {
	return testutil.ToFloat64(counter(f, sinkName, o))
}

func counter(f fanoutFixture, sinkName string, o sink.Outcome) prometheus.Collector {
	// Re-registering an equal vector hands back the Fanout's own.
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "metricwrap_sink_push_total",
		Help: "Batches handed to a sink, by what became of them: success, spooled (delivery failed, kept for later), dropped (rejected permanently) or failure (lost).",
	}, []string{"sink", "result"})
	var are prometheus.AlreadyRegisteredError
	if err := f.reg.Register(vec); errors.As(err, &are) {
		vec = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return vec.WithLabelValues(sinkName, string(o))
}

func assertOutcome(t *testing.T, r sink.Result, want sink.Outcome) {
	t.Helper()
	if r.Outcome != want {
		t.Fatalf("sink %s: outcome %s (err %v), want %s", r.Sink, r.Outcome, r.Err, want)
	}
}

func assertIDs(t *testing.T, s *fakeSink, want ...string) {
	t.Helper()
	got, _ := s.accepted()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sink %s accepted %v, want %v", s.name, got, want)
	}
	for id, n := range s.seen {
		if n != 1 {
			t.Fatalf("sink %s accepted %s %d times", s.name, id, n)
		}
	}
}

func TestSinkDownThenBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		recover func(context.Context, fanoutFixture) error
		want    []string
	}{
		{"flush delivers the backlog", func(ctx context.Context, f fanoutFixture) error {
			return f.Flush(ctx)
		}, []string{"b1", "b2", "b3"}},
		{"next delivery replays the backlog first", func(ctx context.Context, f fanoutFixture) error {
			r := f.Deliver(ctx, mkBatch("b4"), "gateway")
			if r[0].Outcome != sink.OutcomeSuccess || r[0].Replayed != 3 {
				return fmt.Errorf("result %+v, want success after 3 replayed", r[0])
			}
			return nil
		}, []string{"b1", "b2", "b3", "b4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			gw, other := newFake("gateway"), newFake("other")
			gw.setFail(down)
			f := newFanout(t, openSpool(t), gw, other)
			for i, id := range []string{"b1", "b2", "b3"} {
				r := f.Deliver(ctx, mkBatch(id))
				assertOutcome(t, r[0], sink.OutcomeSpooled)
				assertOutcome(t, r[1], sink.OutcomeSuccess)
				// The first batch is tried (retried as time allows: a loaded
				// machine may use up RetryFor in one attempt); later ones
				// queue behind it without being tried, so that order is kept.
				if i == 0 && r[0].Attempts < 1 || i > 0 && r[0].Attempts != 0 {
					t.Fatalf("batch %s: gateway tried %d times before spooling", id, r[0].Attempts)
				}
			}
			if v := pushes(f, "gateway", sink.OutcomeSpooled); v != 3 {
				t.Fatalf("push_total{result=spooled} = %v, want 3", v)
			}
			// While down, a flush fails and keeps everything.
			if err := f.Flush(ctx); !errors.Is(err, errDown) {
				t.Fatalf("Flush while down = %v, want %v", err, errDown)
			}
			assertIDs(t, gw)

			gw.setFail(nil)
			if err := tc.recover(ctx, f); err != nil {
				t.Fatal(err)
			}
			assertIDs(t, gw, tc.want...)
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			assertIDs(t, gw, tc.want...) // exactly once
			assertIDs(t, other, "b1", "b2", "b3")
			if v := pushes(f, "gateway", sink.OutcomeSuccess); v != float64(len(tc.want)) {
				t.Fatalf("push_total{result=success} = %v, want %d", v, len(tc.want))
			}
		})
	}
}

func TestPermanentErrorIsNotRetriedNorSpooled(t *testing.T) {
	gw := newFake("gateway")
	gw.setFail(func(*batch.Batch, int) error { return sink.Permanent(errors.New("401 unauthorized")) })
	sp := &fakeSpool{}
	f := newFanout(t, sp, gw)
	r := f.Deliver(context.Background(), mkBatch("b1"))
	assertOutcome(t, r[0], sink.OutcomeDropped)
	if _, n := gw.accepted(); n != 1 || r[0].Attempts != 1 {
		t.Fatalf("%d attempts (result says %d), want 1", n, r[0].Attempts)
	}
	if held := sp.held(); len(held) != 0 {
		t.Fatalf("the spool still holds %v", held)
	}
	if v := pushes(f, "gateway", sink.OutcomeDropped); v != 1 {
		t.Fatalf("push_total{result=dropped} = %v, want 1", v)
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	gw := newFake("gateway")
	gw.setFail(func(_ *batch.Batch, attempt int) error {
		if attempt < 3 {
			return errDown
		}
		return nil
	})
	sp := &fakeSpool{}
	f := newFanout(t, sp, gw)
	r := f.Deliver(context.Background(), mkBatch("b1"))
	assertOutcome(t, r[0], sink.OutcomeSuccess)
	if held := sp.held(); r[0].Attempts != 3 || len(held) != 0 {
		t.Fatalf("attempts %d, spool holds %v; want 3 attempts, nothing left", r[0].Attempts, held)
	}
	if n := testutil.CollectAndCount(f.reg, "metricwrap_sink_last_success_timestamp_seconds"); n != 1 {
		t.Fatalf("%d last-success series, want 1", n)
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var observed uint64
	for _, mf := range mfs {
		if mf.GetName() == "metricwrap_sink_push_duration_seconds" {
			observed = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if observed != 3 {
		t.Fatalf("push duration histogram has %d observations, want one per attempt (3)", observed)
	}
}

func TestUndeliveredAndUnspooled(t *testing.T) {
	for _, tc := range []struct {
		name string
		sp   sink.Spooler
	}{
		{"no spool", nil},
		{"spool write fails", &fakeSpool{err: errors.New("disk full")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newFake("gateway")
			gw.setFail(down)
			f := newFanout(t, tc.sp, gw)
			r := f.Deliver(context.Background(), mkBatch("b1"))
			assertOutcome(t, r[0], sink.OutcomeFailure)
			if !errors.Is(r[0].Err, errDown) {
				t.Fatalf("err %v does not say why delivery failed", r[0].Err)
			}
			if v := pushes(f, "gateway", sink.OutcomeFailure); v != 1 {
				t.Fatalf("push_total{result=failure} = %v, want 1", v)
			}
		})
	}
}

func TestHangingSinkDoesNotDelayOthers(t *testing.T) {
	hangReturned := make(chan struct{})
	hang := newFake("hang")
	hang.hook = func(ctx context.Context) error {
		<-ctx.Done() // hangs until the delivery is given up
		close(hangReturned)
		return ctx.Err()
	}
	fastDone := make(chan struct{})
	fast := newFake("fast")
	fast.hook = func(context.Context) error { close(fastDone); return nil }

	sp := &fakeSpool{}
	f, err := sink.NewFanout([]sink.Sink{hang, fast}, sink.FanoutOptions{
		RetryFor: time.Minute, Spool: sp, Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan []sink.Result, 1)
	go func() { results <- f.Deliver(ctx, mkBatch("b1")) }()

	select {
	case <-fastDone:
	case <-hangReturned:
		t.Fatal("the fast sink was delivered to only after the hanging sink returned")
	}
	cancel() // as on shutdown: the hanging sink's batch must still be spooled
	r := <-results
	// The hook runs before the fake records the batch: look once it returned.
	assertIDs(t, fast, "b1")
	assertOutcome(t, r[0], sink.OutcomeSpooled)
	assertOutcome(t, r[1], sink.OutcomeSuccess)
	if held := strings.Join(sp.held(), ","); held != "hang/b1" {
		t.Fatalf("spool holds %v, want hang/b1", held)
	}
}

func TestDeliverToNamedSinks(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	f := newFanout(t, nil, a, b)
	r := f.Deliver(context.Background(), mkBatch("b1"), "b", "nope")
	assertOutcome(t, r[0], sink.OutcomeSuccess)
	assertOutcome(t, r[1], sink.OutcomeFailure)
	if r[0].Sink != "b" || r[1].Sink != "nope" {
		t.Fatalf("results for %s, %s; want b, nope", r[0].Sink, r[1].Sink)
	}
	assertIDs(t, a)
	assertIDs(t, b, "b1")
}

func TestReplayedPermanentRejectionIsDropped(t *testing.T) {
	gw := newFake("gateway")
	gw.setFail(down)
	sp := openSpool(t)
	f := newFanout(t, sp, gw)
	for _, id := range []string{"b1", "b2", "b3"} {
		f.Deliver(context.Background(), mkBatch(id))
	}
	gw.setFail(func(b *batch.Batch, _ int) error {
		if b.ID == "b2" {
			return sink.Permanent(errors.New("400 invalid"))
		}
		return nil
	})
	if err := f.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertIDs(t, gw, "b1", "b3")
	if v := pushes(f, "gateway", sink.OutcomeDropped); v != 1 {
		t.Fatalf("push_total{result=dropped} = %v, want 1", v)
	}
}

func TestNewFanout(t *testing.T) {
	reg := prometheus.NewRegistry()
	for i := range 2 { // a reload builds a second Fanout on the same registry
		if _, err := sink.NewFanout([]sink.Sink{newFake("a")}, sink.FanoutOptions{Registerer: reg}); err != nil {
			t.Fatalf("Fanout %d: %v", i, err)
		}
	}
	if _, err := sink.NewFanout([]sink.Sink{newFake("a"), newFake("a")}, sink.FanoutOptions{}); err == nil {
		t.Fatal("duplicate sink names accepted")
	}
}

func TestZeroRetryForSpoolsAfterOneAttempt(t *testing.T) {
	gw := newFake("gateway")
	gw.setFail(down)
	sp := openSpool(t)
	f, err := sink.NewFanout([]sink.Sink{gw}, sink.FanoutOptions{
		RetryFor:     time.Minute, // would retry for a minute without the override
		SinkRetryFor: map[string]time.Duration{"gateway": 0},
		BackoffBase:  time.Millisecond,
		Spool:        sp,
		Registerer:   prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Deliver(context.Background(), mkBatch("b1"))
	if r[0].Outcome != sink.OutcomeSpooled || r[0].Attempts != 1 {
		t.Fatalf("result %+v, want spooled after 1 attempt", r[0])
	}
}
