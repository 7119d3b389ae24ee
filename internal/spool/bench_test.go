package spool

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// orderSink records what it took, in order, and refuses one batch with a
// 500 every time, as a receiver refuses a batch it cannot store.
type orderSink struct {
	name, poison string
	mu           sync.Mutex
	got          []string
}

func (s *orderSink) Name() string        { return s.name }
func (s *orderSink) Destination() string { return "bench " + s.name }
func (s *orderSink) Push(_ context.Context, b *batch.Batch) error {
	if b.ID == s.poison {
		return sink.Answer(s.name, http.StatusInternalServerError, nil, []byte("cannot store this batch"))
	}
	s.mu.Lock()
	s.got = append(s.got, b.ID)
	s.mu.Unlock()
	return nil
}

// BenchmarkFlush10kThreeDestinations is issue 11's benchmark:
// 10,000 spooled batches across three destinations, one batch of one of
// them refused every time. Each valid batch must be delivered exactly once,
// in order per destination, and the poisoned one quarantined. The time is
// the flush alone (reading, decoding, delivering and removing every entry);
// building the spool is not timed.
func BenchmarkFlush10kThreeDestinations(b *testing.B) {
	// "clean" is the baseline: the same spool without the poisoned batch.
	b.Run("clean", func(b *testing.B) { benchFlush(b, "") })
	b.Run("one poisoned", func(b *testing.B) { benchFlush(b, "b-00100") })
}

func benchFlush(b *testing.B, poison string) {
	const total = 10000
	names := []string{"a", "b", "c"}
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		sp, err := Open(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		sp.nosync = true // building the fixture only
		sinks := make([]*orderSink, len(names))
		wantIDs := map[string][]string{}
		for i, n := range names {
			sinks[i] = &orderSink{name: n}
		}
		sinks[1].poison = poison
		for i := range total {
			s := sinks[i%len(names)]
			id := fmt.Sprintf("%s-%05d", s.name, i/len(names))
			if err := sp.Put(sink.Queue{Sink: s.name, Destination: s.Destination()}, testBatch(id)); err != nil {
				b.Fatal(err)
			}
			if id != s.poison {
				wantIDs[s.name] = append(wantIDs[s.name], id)
			}
		}
		_ = sp.Close()
		sp, err = Open(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		ss := make([]sink.Sink, len(sinks))
		for i, s := range sinks {
			ss[i] = s
		}
		f, err := sink.NewFanout(ss, sink.FanoutOptions{
			RetryFor: time.Minute, BackoffBase: time.Microsecond, BackoffMax: time.Microsecond, Spool: sp,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := f.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, s := range sinks {
			if fmt.Sprint(s.got) != fmt.Sprint(wantIDs[s.name]) {
				b.Fatalf("destination %s got %d batches, want %d in order, each once", s.name, len(s.got), len(wantIDs[s.name]))
			}
		}
		want := 0.0
		if poison != "" {
			want = 1
		}
		if v := testutil.ToFloat64(sp.quarantined.WithLabelValues("b")); v != want {
			b.Fatalf("quarantined %v, want %v", v, want)
		}
		_ = sp.Close()
	}
	b.ReportMetric(total, "batches/op")
}
