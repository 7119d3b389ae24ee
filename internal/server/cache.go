package server

import (
	"sync"
	"time"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// resultCache keeps the last successful result per request key: served
// again within the exporter's cache_ttl, and, with stale_on_error, served in
// place of a failed run. Keys are bounded by the exporters' declared
// parameter patterns; maxEntries bounds them whatever the patterns allow.
type resultCache struct {
	mu      sync.Mutex
	entries map[string]cached
}

type cached struct {
	res *exporter.Result
	at  time.Time
}

const maxCacheEntries = 10000

func (c *resultCache) get(key string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e, ok
}

func (c *resultCache) put(key string, res *exporter.Result, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cached{}
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= maxCacheEntries {
		// Evict the oldest entry; a linear scan is fine at this bound and
		// happens only when the cache is full.
		var oldest string
		var at time.Time
		for k, e := range c.entries {
			if oldest == "" || e.at.Before(at) {
				oldest, at = k, e.at
			}
		}
		delete(c.entries, oldest)
	}
	c.entries[key] = cached{res: res, at: now}
}

// reset forgets everything, after a config reload.
func (c *resultCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
}
