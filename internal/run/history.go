package run

import (
	"sync"
	"time"
)

// Record is the last run of one exporter, for the status page and the API.
type Record struct {
	At       time.Time
	Duration time.Duration
	Outcome  Class
	// Error is the run's error, first line, bounded; it may quote the
	// exporter's stderr, so pages show it only where debug output is
	// allowed.
	Error string
}

// history keeps the last run of each exporter. Its keys are exporter names
// from the config, so it stays as small as the config.
type history struct {
	mu   sync.Mutex
	last map[string]Record
}

func (h *history) record(name string, r Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last = map[string]Record{}
	}
	h.last[name] = r
}

func (h *history) get(name string) (Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.last[name]
	return r, ok
}
