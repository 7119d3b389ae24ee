package otlp

import (
	"fmt"
	"testing"
	"time"
)

// TestExpireBoundsDone: delivered batches are remembered up to maxDone
// (the newest), batches still pending are kept whatever their number, and
// everything older than pendingTTL goes.
func TestExpireBoundsDone(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st := newState()
	for i := range maxDone + 5 {
		st.Pending[fmt.Sprint("done", i)] = &pending{Created: now.Add(time.Duration(i-maxDone-5) * time.Second), Done: true}
	}
	st.Pending["waiting"] = &pending{Created: now.Add(-time.Hour)}
	st.Pending["ancient"] = &pending{Created: now.Add(-pendingTTL - time.Second)}
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
