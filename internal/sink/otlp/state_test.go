package otlp

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink/ledger"
)

// TestExpireBoundsDone: delivered batches are remembered up to maxDone
// (the newest), batches still pending are kept whatever their number, and
// everything older than ledger.TTL goes.
func TestExpireBoundsDone(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st := newState()
	for i := range maxDone + 5 {
		st.Pending[fmt.Sprint("done", i)] = &pending{Entry: ledger.Entry{Created: now.Add(time.Duration(i-maxDone-5) * time.Second), Done: true}}
	}
	st.Pending["waiting"] = &pending{Entry: ledger.Entry{Created: now.Add(-time.Hour)}}
	st.Pending["ancient"] = &pending{Entry: ledger.Entry{Created: now.Add(-ledger.TTL - time.Second)}}
	st.Series["gone"] = &series{Time: now.Add(-seriesTTL - time.Second).UnixNano()}
	st.Series["kept"] = &series{Time: now.UnixNano()}
	st.expire(now)
	if len(st.Pending) != maxDone+1 || st.Pending["waiting"] == nil || st.Pending["ancient"] != nil {
		t.Fatalf("%d pending after expire, want %d with waiting and without ancient", len(st.Pending), maxDone+1)
	}
	for i := range 5 {
		if st.Pending[fmt.Sprint("done", i)] != nil {
			t.Errorf("done%d, among the oldest, was kept", i)
		}
	}
	if st.Series["gone"] != nil || st.Series["kept"] == nil {
		t.Errorf("series after expire: %v", st.Series)
	}
}

// stateV1 is a state file as metricwrap wrote it before the ledger was
// shared with the Dynatrace sink: its field names are the format.
const stateV1 = `{"version":1,"series":{"c\u0000a=1":{"start":100,"time":200,"vals":[5]},` +
	`"h":{"start":100,"time":200,"vals":[3,1.5,1,2],"bounds":[0.1,1]}},` +
	`"pending":{"b1":{"created":"2026-12-01T12:00:00Z","sent":2,"points":{"c\u0000a=1":{"start":150,"vals":[4]}}},` +
	`"b0":{"created":"2026-12-01T11:00:00Z","done":true}}}`

// TestStateFileFormat: a file in the format of the previous version loads
// with every field in place, and saving it writes the same fields back.
func TestStateFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(stateV1), 0o600); err != nil {
		t.Fatal(err)
	}
	store := &ledger.Store{Path: path, Noun: "series state"}
	for round := range 2 {
		st, err := loadState(store)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		c, h := st.Series["c\x00a=1"], st.Series["h"]
		if c == nil || c.Start != 100 || c.Time != 200 || len(c.Vals) != 1 || c.Vals[0] != 5 {
			t.Errorf("round %d: counter series %+v", round, c)
		}
		if h == nil || len(h.Vals) != 4 || len(h.Bounds) != 2 || h.Bounds[1] != 1 {
			t.Errorf("round %d: histogram series %+v", round, h)
		}
		b1, b0 := st.Pending["b1"], st.Pending["b0"]
		if b1 == nil || b1.Done || b1.Sent != 2 || !b1.Created.Equal(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("round %d: pending b1 %+v", round, b1)
		}
		if p := b1.Points["c\x00a=1"]; p == nil || p.Start != 150 || len(p.Vals) != 1 || p.Vals[0] != 4 {
			t.Errorf("round %d: pinned point %+v", round, p)
		}
		if b0 == nil || !b0.Done || b0.Points != nil {
			t.Errorf("round %d: done batch b0 %+v", round, b0)
		}
		store.Save(st) // the second round reads what this one wrote
	}
}
