package ledger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink"
)

type pin struct {
	Entry
	Points []float64 `json:"points,omitempty"`
}

func (p *pin) Unpin() { p.Points = nil }

type testFile struct {
	Ledger[pin, *pin]
	Base map[string]float64 `json:"base"`
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// TestSettle: a retryable failure remembers how far the batch got; success
// or a permanent failure marks it done and drops its points; a batch not
// pinned, or pinned under another entry, changes nothing.
func TestSettle(t *testing.T) {
	var l Ledger[pin, *pin]
	l.Init()
	p := &pin{Points: []float64{1}}
	l.Pin("b", p, t0)
	if got, ok := l.Lookup("b"); !ok || got != p || !p.Created.Equal(t0) {
		t.Fatalf("Lookup after Pin: %v %v", got, ok)
	}
	retry := errors.New("503")
	if l.Settle("b", p, 0, retry) {
		t.Error("a failure that sent nothing new asked for a save")
	}
	if !l.Settle("b", p, 2, retry) || p.Sent != 2 || p.Done {
		t.Errorf("retryable failure: changed, entry %+v", p.Entry)
	}
	if !l.Settle("b", p, 3, sink.Permanent(retry)) || !p.Done || p.Sent != 0 || p.Points != nil {
		t.Errorf("permanent failure: entry %+v, points %v", p.Entry, p.Points)
	}
	if l.Settle("b", p, 3, nil) {
		t.Error("settling a done batch again asked for a save")
	}
	other := &pin{}
	if l.Settle("b", other, 1, nil) || other.Done || l.Settle("", other, 1, nil) {
		t.Error("an entry not pinned under the id was settled")
	}
	l.Pin("", other, t0)
	if _, ok := l.Lookup(""); ok || len(l.Pending) != 1 {
		t.Errorf("an empty id was pinned: %v", l.Pending)
	}
}

// TestExpire: TTL applies to every batch; the cap, when set, keeps the
// newest done batches and every batch not yet done.
func TestExpire(t *testing.T) {
	for _, maxDone := range []int{0, 3} {
		var l Ledger[pin, *pin]
		l.Init()
		for i := range 5 {
			l.Pin(fmt.Sprint("done", i), &pin{Entry: Entry{Done: true}}, t0.Add(time.Duration(i)*time.Second))
		}
		l.Pin("waiting", &pin{}, t0)
		l.Pin("old", &pin{}, t0.Add(-TTL-time.Second))
		l.Expire(t0.Add(10*time.Second), maxDone)
		want := map[int]int{0: 6, 3: 4}[maxDone]
		if len(l.Pending) != want || l.Pending["waiting"] == nil || l.Pending["old"] != nil {
			t.Errorf("maxDone %d: %d left, want %d with waiting, without old", maxDone, len(l.Pending), want)
		}
		if maxDone == 3 && (l.Pending["done1"] != nil || l.Pending["done2"] == nil) {
			t.Errorf("maxDone 3: the cap did not keep the newest: %v", l.Pending)
		}
	}
}

// TestStore: a save and a load round trip; a missing file is empty; a
// corrupt file or one of a newer version is a ParseError; no temp file is
// left beside the state.
func TestStore(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Path: filepath.Join(dir, "sub", "state.json"), Noun: "test state"}
	var f testFile
	f.Init()
	if err := s.Load(&f); err != nil || len(f.Pending) != 0 {
		t.Fatalf("missing file: %v %v", err, f.Pending)
	}
	f.Base = map[string]float64{"x": 1}
	f.Pin("b", &pin{Points: []float64{2}}, t0)
	s.Save(&f)
	if s.failed {
		t.Fatal("save failed")
	}
	var g testFile
	g.Init()
	if err := s.Load(&g); err != nil || g.Base["x"] != 1 || g.Pending["b"] == nil || g.Pending["b"].Points[0] != 2 {
		t.Fatalf("round trip: %v %+v", err, g)
	}
	entries, _ := os.ReadDir(filepath.Dir(s.Path))
	if len(entries) != 1 {
		t.Errorf("files beside the state: %v", entries)
	}
	for _, bad := range []string{`{"version":`, `{"version":2}`} {
		if err := os.WriteFile(s.Path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		var parse *ParseError
		if err := s.Load(&g); !errors.As(err, &parse) {
			t.Errorf("%s: got %v, want a ParseError", bad, err)
		}
	}
}
