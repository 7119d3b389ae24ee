package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	*Spool
	reg  *prometheus.Registry
	logs *syncBuffer
}

// open opens a spool in dir with a fresh registry and a captured log.
func open(t *testing.T, o Options) fixture {
	t.Helper()
	f := fixture{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	o.Registerer = f.reg
	o.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	f.Spool = s
	return f
}

// qn is the queue of the test sink called name.
func qn(name string) sink.Queue { return sink.Queue{Sink: name, Destination: "test " + name} }

func put(t *testing.T, s *Spool, sinkName string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.Put(qn(sinkName), testBatch(id)); err != nil {
			t.Fatal(err)
		}
	}
}

// drain replays sinkName and returns the delivered IDs in order.
func drain(t *testing.T, s *Spool, sinkName string) []string {
	t.Helper()
	var got []string
	n, err := s.Replay(context.Background(), qn(sinkName), func(_ context.Context, b *batch.Batch) error {
		assertBatch(t, testBatch(b.ID), b)
		got = append(got, b.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(got) {
		t.Fatalf("Replay reported %d delivered, deliver saw %d", n, len(got))
	}
	return got
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func assertIDs(t *testing.T, want, got []string) {
	t.Helper()
	if strings.Join(want, ",") != strings.Join(got, ",") {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

func dropped(s fixture, sinkName, reason string) float64 {
	return testutil.ToFloat64(s.dropped.WithLabelValues(sinkName, reason))
}

func TestPutReplayInOrderAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	for i := range 5 {
		put(t, s.Spool, "gateway", fmt.Sprintf("g%03d", i))
		if i < 3 {
			put(t, s.Spool, "a/b", fmt.Sprintf("x%03d", i))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, Options{Dir: dir})
	for _, tc := range []struct {
		sink string
		want []string
	}{
		{"gateway", ids("g", 5)},
		{"a/b", ids("x", 3)},
		{"unknown", nil},
	} {
		t.Run(tc.sink, func(t *testing.T) {
			assertIDs(t, tc.want, drain(t, s.Spool, tc.sink))
			assertIDs(t, nil, drain(t, s.Spool, tc.sink)) // exactly once
		})
	}
	// New entries continue the sequence after a reopen.
	put(t, s.Spool, "gateway", "g100", "g101")
	assertIDs(t, []string{"g100", "g101"}, drain(t, s.Spool, "gateway"))
}

func TestReplayStopsAtFirstFailure(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	put(t, s.Spool, "gw", ids("b", 5)...)
	down := errors.New("connection refused")
	var got []string
	n, err := s.Replay(context.Background(), qn("gw"), func(_ context.Context, b *batch.Batch) error {
		if b.ID == "b002" {
			return down
		}
		got = append(got, b.ID)
		return nil
	})
	if !errors.Is(err, down) || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2, %v", n, err, down)
	}
	assertIDs(t, []string{"b000", "b001"}, got)
	assertIDs(t, []string{"b002", "b003", "b004"}, drain(t, s.Spool, "gw"))
}

func TestReplayDropsPermanentlyRejected(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	put(t, s.Spool, "gw", ids("b", 4)...)
	var got []string
	n, err := s.Replay(context.Background(), qn("gw"), func(_ context.Context, b *batch.Batch) error {
		if b.ID == "b001" {
			return sink.Permanent(errors.New("400 bad request"))
		}
		got = append(got, b.ID)
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("Replay = %d, %v; want 3, nil", n, err)
	}
	assertIDs(t, []string{"b000", "b002", "b003"}, got)
	if v := testutil.ToFloat64(s.quarantined.WithLabelValues("gw")); v != 1 {
		t.Fatalf("quarantined = %v, want 1", v)
	}
	if !strings.Contains(s.logs.String(), "400 bad request") {
		t.Fatalf("log does not name the rejection:\n%s", s.logs)
	}
	assertIDs(t, nil, drain(t, s.Spool, "gw"))
}

func TestReplayQuarantinesCorruptEntries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)-2] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func([]byte) []byte { return nil }},
		{"future version", func(b []byte) []byte { return append([]byte("metricwrap-spool 9 "), b[len("metricwrap-spool 1 "):]...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, Options{Dir: dir})
			put(t, s.Spool, "gw", ids("b", 3)...)
			bad := filepath.Join(dir, queueKey(qn("gw")), s.queues[queueKey(qn("gw"))].entries[1].name)
			data, err := os.ReadFile(bad)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bad, tc.corrupt(data), 0o600); err != nil {
				t.Fatal(err)
			}

			assertIDs(t, []string{"b000", "b002"}, drain(t, s.Spool, "gw"))
			if _, err := os.Stat(filepath.Join(dir, queueKey(qn("gw")), quarantineDir, filepath.Base(bad))); err != nil {
				t.Fatalf("corrupt entry not in quarantine: %v", err)
			}
			if !strings.Contains(s.logs.String(), "quarantined corrupt spool entry") {
				t.Fatalf("no log line for the quarantined entry:\n%s", s.logs)
			}
			if v := dropped(s, "gw", ReasonCorrupt); v != 1 {
				t.Fatalf("dropped{reason=corrupt} = %v, want 1", v)
			}
			// The quarantine survives a reopen without being replayed.
			_ = s.Close()
			s = open(t, Options{Dir: dir})
			assertIDs(t, nil, drain(t, s.Spool, "gw"))
		})
	}
}

func TestMaxBytesDropsOldestFirst(t *testing.T) {
	one, err := encode(testBatch("b000"))
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(one))
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 3 * size})
	put(t, s.Spool, "a", "a000")
	put(t, s.Spool, "b", "b000")
	put(t, s.Spool, "a", "a001", "a002")
	put(t, s.Spool, "b", "b001")

	if v := dropped(s, "a", ReasonMaxBytes) + dropped(s, "b", ReasonMaxBytes); v != 2 {
		t.Fatalf("dropped{reason=max_bytes} = %v, want 2", v)
	}
	if !strings.Contains(s.logs.String(), "reason=max_bytes") {
		t.Fatalf("no log line for the drops:\n%s", s.logs)
	}
	assertIDs(t, []string{"a001", "a002"}, drain(t, s.Spool, "a"))
	assertIDs(t, []string{"b001"}, drain(t, s.Spool, "b"))

	if err := s.Put(qn("a"), &batch.Batch{ID: "huge", Error: strings.Repeat("x", int(4*size))}); err == nil {
		t.Fatal("Put of a batch larger than MaxBytes succeeded")
	}
}

func TestMaxAgeDropsAtPutAndReplay(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxAge: time.Hour})
	clock := &fakeClock{t: time.Now()}
	s.now = clock.Now
	put(t, s.Spool, "gw", "b000", "b001")
	clock.Advance(40 * time.Minute)
	put(t, s.Spool, "gw", "b002")
	put(t, s.Spool, "other", "o000")
	clock.Advance(30 * time.Minute)

	put(t, s.Spool, "other", "o001") // Put drops what expired, in every sink
	if v := dropped(s, "gw", ReasonMaxAge); v != 2 {
		t.Fatalf("dropped{sink=gw,reason=max_age} after Put = %v, want 2", v)
	}
	clock.Advance(40 * time.Minute)
	assertIDs(t, nil, drain(t, s.Spool, "gw"))
	assertIDs(t, []string{"o001"}, drain(t, s.Spool, "other"))
	if v := dropped(s, "gw", ReasonMaxAge) + dropped(s, "other", ReasonMaxAge); v != 4 {
		t.Fatalf("dropped{reason=max_age} = %v, want 4", v)
	}
}

func TestOpenRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	put(t, s.Spool, "gw", "b000")
	_ = s.Close()
	tmp := filepath.Join(dir, queueKey(qn("gw")), "00000000000000000002-1.batch.123.tmp")
	if err := os.WriteFile(tmp, []byte("half a batch"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file still there after Open: %v", err)
	}
	assertIDs(t, []string{"b000"}, drain(t, s.Spool, "gw"))
}

func TestOpenRefusesDirInUse(t *testing.T) {
	dir := t.TempDir()
	open(t, Options{Dir: dir})
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

func TestGauges(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	clock := &fakeClock{t: time.Now()}
	s.now = clock.Now
	put(t, s.Spool, "gw", "b000", "b001")
	clock.Advance(90 * time.Second)
	put(t, s.Spool, "dt", "d000")
	clock.Advance(10 * time.Second)
	size := s.queues[queueKey(qn("dt"))].bytes

	want := fmt.Sprintf(`
# HELP metricwrap_spool_depth Batches waiting in the spool for delivery, per sink.
# TYPE metricwrap_spool_depth gauge
metricwrap_spool_depth{sink="dt"} 1
metricwrap_spool_depth{sink="gw"} 2
# HELP metricwrap_spool_bytes Bytes on disk of the batches waiting in the spool, per sink.
# TYPE metricwrap_spool_bytes gauge
metricwrap_spool_bytes{sink="dt"} %d
metricwrap_spool_bytes{sink="gw"} %d
# HELP metricwrap_spool_oldest_age_seconds Age of the oldest batch waiting in the spool, per sink; 0 when empty.
# TYPE metricwrap_spool_oldest_age_seconds gauge
metricwrap_spool_oldest_age_seconds{sink="dt"} 10
metricwrap_spool_oldest_age_seconds{sink="gw"} 100
`, size, 2*size)
	names := []string{"metricwrap_spool_depth", "metricwrap_spool_bytes", "metricwrap_spool_oldest_age_seconds"}
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	drain(t, s.Spool, "gw")
	want = strings.NewReplacer(`{sink="gw"} 2`, `{sink="gw"} 0`, fmt.Sprintf(`{sink="gw"} %d`, 2*size), `{sink="gw"} 0`, `{sink="gw"} 100`, `{sink="gw"} 0`).Replace(want)
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentPutAndReplay(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	s.nosync = true
	const n = 200
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		wg.Go(func() {
			for _, id := range ids(name, n) {
				if err := s.Put(qn(name), testBatch(id)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	got := map[string][]string{}
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for _, name := range []string{"a", "b"} {
				_, err := s.Replay(context.Background(), qn(name), func(_ context.Context, b *batch.Batch) error {
					mu.Lock()
					defer mu.Unlock()
					got[name] = append(got[name], b.ID)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, name := range []string{"a", "b"} {
		got[name] = append(got[name], drain(t, s.Spool, name)...)
		assertIDs(t, ids(name, n), got[name])
	}
}
