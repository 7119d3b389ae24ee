package dynatrace

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink/ledger"
)

// stateV1 is a state file as metricwrap wrote it before the ledger was
// shared with the OTLP sink: its field names are the format.
const stateV1 = `{"version":1,"counters":{"jobs_total,job=a":7,"errors_total":2},` +
	`"pending":{"b1":{"created":"2026-12-01T12:00:00Z","sent":3,"deltas":{"jobs_total,job=a":4}},` +
	`"b0":{"created":"2026-12-01T11:00:00Z","done":true}}}`

// TestStateFileFormat: a file in the format of the previous version loads
// with every field in place, and saving it writes the same fields back.
func TestStateFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(stateV1), 0o600); err != nil {
		t.Fatal(err)
	}
	store := &ledger.Store{Path: path, Noun: "counter state"}
	for round := range 2 {
		st, err := loadState(store)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(st.Counters) != 2 || st.Counters["jobs_total,job=a"] != 7 || st.Counters["errors_total"] != 2 {
			t.Errorf("round %d: counters %v", round, st.Counters)
		}
		b1, b0 := st.Pending["b1"], st.Pending["b0"]
		if b1 == nil || b1.Done || b1.Sent != 3 || !b1.Created.Equal(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("round %d: pending b1 %+v", round, b1)
		}
		if len(b1.Deltas) != 1 || b1.Deltas["jobs_total,job=a"] != 4 {
			t.Errorf("round %d: pinned deltas %v", round, b1.Deltas)
		}
		if b0 == nil || !b0.Done || b0.Deltas != nil {
			t.Errorf("round %d: done batch b0 %+v", round, b0)
		}
		store.Save(st) // the second round reads what this one wrote
	}
}
