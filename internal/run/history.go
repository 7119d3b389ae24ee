package run

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// Record is one run of an exporter, for the status page and the API.
type Record struct {
	At       time.Time
	Duration time.Duration
	Outcome  Class
	// Reason is why a run failed in metricwrap's own words ("exporter
	// failed with exit code 3...", "exporter timed out...", "invalid
	// exposition: line 4: ..."), never the exporter's stderr: safe to
	// show without debug output. Empty for a success.
	Reason string
	// Warm says the run was warm (exporter.WarmRunner); a warm run refused
	// and run cold is cold.
	Warm bool
	// Error is the run's error, first line, bounded; it may quote the
	// exporter's stderr, so pages show it only where debug output is
	// allowed.
	Error string
}

// historyRuns is how many runs of each exporter the history keeps.
const historyRuns = 10

// history keeps the last runs of each exporter. Its keys are exporter
// names from the config and each keeps historyRuns records, so it stays as
// small as the config.
type history struct {
	mu   sync.Mutex
	runs map[string][]Record // oldest first
}

func (h *history) record(name string, r Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.runs == nil {
		h.runs = map[string][]Record{}
	}
	rs := append(h.runs[name], r)
	if len(rs) > historyRuns {
		rs = append(rs[:0], rs[len(rs)-historyRuns:]...)
	}
	h.runs[name] = rs
}

func (h *history) get(name string) (Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := h.runs[name]
	if len(rs) == 0 {
		return Record{}, false
	}
	return rs[len(rs)-1], true
}

// recent returns the kept runs of name, newest first.
func (h *history) recent(name string) []Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := h.runs[name]
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
}

// Reason is a failed run's reason as anyone may read it: the error's
// first line, except that a process failure which came with stderr says
// only how the process ended, since stderr may hold what nobody should
// read over the network (a DSN, a token). The log has the whole error.
// "" for nil.
func Reason(err error, res *exporter.Result) string {
	if err == nil {
		return ""
	}
	if !errors.Is(err, exporter.ErrFailed) || res == nil || len(res.Stderr) == 0 {
		return ShortError(err)
	}
	if res.ExitCode < 0 {
		return "exporter failed: killed by a signal; its stderr is in the server log"
	}
	return fmt.Sprintf("exporter failed with exit code %d; its stderr is in the server log", res.ExitCode)
}
