package server

import (
	"sync"
	"time"
)

// runRecord is the last run of one exporter, for the status page and API.
type runRecord struct {
	At       time.Time
	Duration time.Duration
	Outcome  string
	Error    string
}

// history keeps the last run of each exporter. Its keys are exporter names
// from the config, so it stays as small as the config.
type history struct {
	mu   sync.Mutex
	last map[string]runRecord
}

func (h *history) record(name string, r runRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last = map[string]runRecord{}
	}
	h.last[name] = r
}

func (h *history) get(name string) (runRecord, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.last[name]
	return r, ok
}
