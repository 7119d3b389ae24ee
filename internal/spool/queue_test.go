package spool

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// TestQueuesAreKeyedByDestination: two destinations of one sink name are
// two queues; replaying one never hands out the other's batches.
func TestQueuesAreKeyedByDestination(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	a := sink.Queue{Sink: "pushgateway", Destination: "pushgateway http://a:9091"}
	b := sink.Queue{Sink: "pushgateway", Destination: "pushgateway http://b:9091"}
	for _, id := range []string{"a1", "a2"} {
		if err := s.Put(a, testBatch(id)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()

	s = open(t, Options{Dir: dir})
	var got []string
	if _, err := s.Replay(context.Background(), b, func(_ context.Context, x *batch.Batch) error {
		got = append(got, x.ID)
		return nil
	}); err != nil || len(got) != 0 {
		t.Fatalf("replaying B's queue handed out %v (%v); want nothing", got, err)
	}
	orphans := s.Orphans()
	if len(orphans) != 1 || orphans[0].Destination != a.Destination || orphans[0].Batches != 2 {
		t.Fatalf("orphans %+v, want A's queue with 2 batches", orphans)
	}
	s.LogOrphans()
	if !strings.Contains(s.logs.String(), "http://a:9091") || !strings.Contains(s.logs.String(), "--drop-orphans") {
		t.Fatalf("the orphan warning does not name A or say what to do:\n%s", s.logs.String())
	}
	if n, err := testutil.GatherAndCount(s.reg, "metricwrap_spool_orphaned_batches"); err != nil || n != 1 {
		t.Fatalf("metricwrap_spool_orphaned_batches: %d series, %v; want 1", n, err)
	}
	assertIDs(t, []string{"a1", "a2"}, drainQueue(t, s.Spool, a))
	if len(s.Orphans()) != 0 {
		t.Fatalf("A's queue is still an orphan once replayed: %+v", s.Orphans())
	}
}

// TestLegacyQueueIsAnOrphan: a directory of the version that keyed queues
// by sink name only is never replayed (its destination is unknown), is
// reported and can be dropped on purpose.
func TestLegacyQueueIsAnOrphan(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	if err := s.Put(qn("gw"), testBatch("old")); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	// Move the queue to where the old version kept it.
	if err := os.Rename(filepath.Join(dir, queueKey(qn("gw"))), filepath.Join(dir, "gw")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "gw", queueMetaFile)); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	assertIDs(t, nil, drain(t, s.Spool, "gw"))
	orphans := s.Orphans()
	if len(orphans) != 1 || !orphans[0].Legacy || orphans[0].Queue != "gw" {
		t.Fatalf("orphans %+v, want the legacy queue gw", orphans)
	}
	if n := s.DropOrphans(); n != 1 {
		t.Fatalf("DropOrphans dropped %d, want 1", n)
	}
	if v := dropped(s, "gw", ReasonOrphan); v != 1 {
		t.Fatalf("dropped{reason=orphan} = %v, want 1", v)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "gw", "*"+entrySuffix)); len(left) != 0 {
		t.Fatalf("files left after DropOrphans: %v", left)
	}
}

// TestRefusedHeadIsSetAsideWhenTheNextIsTaken: a batch the destination
// keeps refusing with a 500 while it takes the one behind it is
// quarantined with the answer, once; order is kept for the others.
func TestRefusedHeadIsSetAsideWhenTheNextIsTaken(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	put(t, s.Spool, "rw", "b0", "poison", "b2", "b3")
	var got []string
	deliver := func(_ context.Context, b *batch.Batch) error {
		if b.ID == "poison" {
			return sink.Answer("rw", http.StatusInternalServerError, nil, []byte("duplicate label names"))
		}
		got = append(got, b.ID)
		return nil
	}
	// The first two replays each see one refusal: the destination may be
	// unwell, so order wins and the replay stops.
	for i := range DefaultMaxRefusals - 1 {
		n, err := s.Replay(context.Background(), qn("rw"), deliver)
		if err == nil || n != 1-min(i, 1) {
			t.Fatalf("replay %d: %d delivered, %v; want a stop at the refused batch", i, n, err)
		}
	}
	assertIDs(t, []string{"b0"}, got)
	// The third refusal, with b2 taken, sets it aside.
	n, err := s.Replay(context.Background(), qn("rw"), deliver)
	if err != nil || n != 2 {
		t.Fatalf("third replay: %d delivered, %v; want b2 and b3", n, err)
	}
	assertIDs(t, []string{"b0", "b2", "b3"}, got)
	if v := testutil.ToFloat64(s.quarantined.WithLabelValues("rw")); v != 1 {
		t.Fatalf("quarantined = %v, want 1", v)
	}
	if c := strings.Count(s.logs.String(), "quarantined a batch"); c != 1 {
		t.Fatalf("logged the quarantine %d times, want once:\n%s", c, s.logs.String())
	}
	reasons, _ := filepath.Glob(filepath.Join(dir, queueKey(qn("rw")), quarantineDir, "*"+reasonSuffix))
	if len(reasons) != 1 {
		t.Fatalf("quarantine holds %v", reasons)
	}
	if why, _ := os.ReadFile(reasons[0]); !strings.Contains(string(why), "duplicate label names") {
		t.Fatalf("reason %q lacks the destination's answer", why)
	}
}

// TestTwoPoisonedInARowAreSetAside: two batches the destination keeps
// refusing, one behind the other, do not block the queue: once both have
// struck out and the batch behind them is taken, both go aside, and what
// is delivered keeps its order.
func TestTwoPoisonedInARowAreSetAside(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	put(t, s.Spool, "rw", "poison", "poison2", "b3", "b4")
	var got []string
	deliver := func(_ context.Context, b *batch.Batch) error {
		if strings.HasPrefix(b.ID, "poison") {
			return sink.Answer("rw", http.StatusInternalServerError, nil, []byte("duplicate label names"))
		}
		got = append(got, b.ID)
		return nil
	}
	var delivered int
	for i := 0; i < 3*DefaultMaxRefusals && delivered == 0; i++ {
		n, _ := s.Replay(context.Background(), qn("rw"), deliver)
		delivered += n
	}
	if delivered != 2 {
		t.Fatalf("%d delivered after %d replays; want b3 and b4 past the two refused batches", delivered, 3*DefaultMaxRefusals)
	}
	assertIDs(t, []string{"b3", "b4"}, got)
	if v := testutil.ToFloat64(s.quarantined.WithLabelValues("rw")); v != 2 {
		t.Fatalf("quarantined = %v, want 2", v)
	}
}

// TestRefusalsWithoutTheNextTakenKeepOrder: when the destination refuses
// the batch behind too, it is not the head's fault: nothing is set aside.
func TestRefusalsWithoutTheNextTakenKeepOrder(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	put(t, s.Spool, "rw", "b0", "b1")
	refuse := func(context.Context, *batch.Batch) error {
		return sink.Answer("rw", http.StatusInternalServerError, nil, nil)
	}
	for range 2 * DefaultMaxRefusals {
		if _, err := s.Replay(context.Background(), qn("rw"), refuse); err == nil {
			t.Fatal("replay succeeded against a refusing destination")
		}
	}
	if v := testutil.ToFloat64(s.quarantined.WithLabelValues("rw")); v != 0 {
		t.Fatalf("quarantined %v batches of a destination that refuses everything", v)
	}
	// An outage (no answer, or 503) never counts against a batch.
	down := func(context.Context, *batch.Batch) error { return errors.New("connection refused") }
	if _, err := s.Replay(context.Background(), qn("rw"), down); err == nil {
		t.Fatal("replay succeeded against a destination that is down")
	}
	assertIDs(t, []string{"b0", "b1"}, drain(t, s.Spool, "rw"))
}

func drainQueue(t *testing.T, s *Spool, q sink.Queue) []string {
	t.Helper()
	var got []string
	if _, err := s.Replay(context.Background(), q, func(_ context.Context, b *batch.Batch) error {
		got = append(got, b.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRefusedHeadWithARefusedForGoodBatchBehind: while the head is refused
// (500) and the batch behind it is refused for good (400), that batch is
// quarantined and the probe goes on to the next, so neither of the two
// blocks the queue.
func TestRefusedHeadWithARefusedForGoodBatchBehind(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	put(t, s.Spool, "rw", "poison", "bad", "b2", "b3")
	var got []string
	deliver := func(_ context.Context, b *batch.Batch) error {
		switch b.ID {
		case "poison":
			return sink.Answer("rw", http.StatusInternalServerError, nil, []byte("duplicate label names"))
		case "bad":
			return sink.Answer("rw", http.StatusBadRequest, nil, []byte("out of bounds"))
		}
		got = append(got, b.ID)
		return nil
	}
	for i := range DefaultMaxRefusals + 1 {
		if _, err := s.Replay(context.Background(), qn("rw"), deliver); err == nil {
			break
		} else if i == DefaultMaxRefusals {
			t.Fatalf("replay %d still stopped: %v", i, err)
		}
	}
	assertIDs(t, []string{"b2", "b3"}, got)
	if v := testutil.ToFloat64(s.quarantined.WithLabelValues("rw")); v != 2 {
		t.Fatalf("quarantined = %v, want 2 (the refused head and the batch refused for good)", v)
	}
	if left := drain(t, s.Spool, "rw"); len(left) != 0 {
		t.Fatalf("left in the queue: %v", left)
	}
}

// TestRefusalsAddUpAcrossProcesses: each exec is a process of its own with
// one attempt (retry_for: 0s); the refusals of a poisoned head still add up,
// so it is set aside on the third run, not left to block until max_age.
func TestRefusalsAddUpAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	put(t, s.Spool, "rw", "poison", "b1")
	_ = s.Close()
	var got []string
	deliver := func(_ context.Context, b *batch.Batch) error {
		if b.ID == "poison" {
			return sink.Answer("rw", http.StatusInternalServerError, nil, nil)
		}
		got = append(got, b.ID)
		return nil
	}
	for run := 1; run <= DefaultMaxRefusals; run++ {
		s := open(t, Options{Dir: dir})
		_, err := s.Replay(context.Background(), qn("rw"), deliver)
		_ = s.Close()
		if run < DefaultMaxRefusals && (err == nil || len(got) != 0) {
			t.Fatalf("run %d: %v, delivered %v; want a stop at the refused head", run, err, got)
		}
		if run == DefaultMaxRefusals && (err != nil || len(got) != 1) {
			t.Fatalf("run %d: %v, delivered %v; want the head set aside and b1 delivered", run, err, got)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, queueKey(qn("rw")), "*"+refusedSuffix)); len(left) != 0 {
		t.Fatalf("refusal counts left behind: %v", left)
	}
}

// TestQuarantineIsBoundedByMaxAge: quarantined batches (and their .reason
// files) are kept for spool.max_age like any spooled batch, then removed,
// at the next Open and at the next quarantine: a destination refusing
// every run for weeks must not fill the disk.
func TestQuarantineIsBoundedByMaxAge(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, MaxAge: time.Hour})
	clock := &fakeClock{t: time.Now().Add(-2 * time.Hour)}
	s.now = clock.Now
	put(t, s.Spool, "rw", "old")
	refuse := func(context.Context, *batch.Batch) error {
		return sink.Answer("rw", http.StatusBadRequest, nil, []byte("no"))
	}
	if _, err := s.Replay(context.Background(), qn("rw"), refuse); err != nil {
		t.Fatal(err)
	}
	qdir := filepath.Join(dir, queueKey(qn("rw")), quarantineDir)
	if files, _ := os.ReadDir(qdir); len(files) != 2 {
		t.Fatalf("quarantine holds %d files, want the batch and its reason", len(files))
	}
	// A fresh quarantine prunes what expired meanwhile.
	clock.Advance(90 * time.Minute)
	put(t, s.Spool, "rw", "new")
	if _, err := s.Replay(context.Background(), qn("rw"), refuse); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		var out []string
		files, _ := os.ReadDir(qdir)
		for _, f := range files {
			if strings.HasSuffix(f.Name(), entrySuffix) {
				out = append(out, f.Name())
			}
		}
		return out
	}
	if got := names(); len(got) != 1 {
		t.Fatalf("quarantine holds %v after the old one expired, want only the new batch", got)
	}
	_ = s.Close()
	// Open prunes too.
	s2 := open(t, Options{Dir: dir, MaxAge: time.Minute})
	_ = s2
	if files, _ := os.ReadDir(qdir); len(files) != 0 {
		t.Fatalf("quarantine holds %d files after Open with every entry expired", len(files))
	}
}
