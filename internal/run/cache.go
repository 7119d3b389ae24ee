package run

import (
	"container/list"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
)

// DefaultCacheMaxBytes bounds the result cache when the config does not
// (global.cache_max_bytes).
const DefaultCacheMaxBytes = 64 << 20

// entryOverhead is what an entry costs besides its key and body (the
// struct, the list element, the map slot), counted so that many tiny
// answers are bounded too.
const entryOverhead = 256

// sweepEvery is how often a put looks for expired entries.
const sweepEvery = time.Second

// cached is one successful run's answer: the exporter's families encoded
// once, in the format of the request that ran it, without the outcome
// series and the terminator that each answer adds. The encoded text is a
// fraction of what parsed families would take (a few bytes a sample
// against hundreds).
type cached struct {
	key    string
	format expfmt.Format
	body   []byte
	// expires is when a cache_ttl hit stops being served (zero: never
	// served as a hit). Past it the entry is dropped, unless stale is set
	// (stale_on_error): then it is kept, bounded in bytes like the rest,
	// as the answer to give when a run fails.
	expires time.Time
	stale   bool
	// dur and exit are the run's, for the outcome series of a repeat.
	dur  time.Duration
	exit int
	elem *list.Element
}

// expired says e is of no more use at now.
func (e *cached) expired(now time.Time) bool { return !e.stale && !now.Before(e.expires) }

func (e *cached) size() int64 { return int64(len(e.key)+len(e.body)) + entryOverhead }

// resultCache keeps the last successful answer per request key, least
// recently used first out once the total passes max bytes. Expired
// entries are dropped as they are found and by a sweep at most every
// second on put. Safe for concurrent use.
type resultCache struct {
	mu        sync.Mutex
	max       int64
	bytes     int64
	entries   map[string]*cached
	lru       *list.List // front: most recently used
	lastSweep time.Time
}

func newResultCache(maxBytes int64) *resultCache {
	if maxBytes <= 0 {
		maxBytes = DefaultCacheMaxBytes
	}
	return &resultCache{max: maxBytes, entries: map[string]*cached{}, lru: list.New()}
}

// get returns key's entry; fresh says it is within its cache_ttl.
func (c *resultCache) get(key string, now time.Time) (e *cached, fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e = c.entries[key]
	if e == nil {
		return nil, false
	}
	if e.expired(now) {
		c.remove(e)
		return nil, false
	}
	c.lru.MoveToFront(e.elem)
	return e, !e.expires.IsZero() && now.Before(e.expires)
}

// put stores e, replacing key's entry, and evicts until the total fits.
// An answer larger than the whole cache is not kept.
func (c *resultCache) put(e *cached, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[e.key]; old != nil {
		c.remove(old)
	}
	if now.Sub(c.lastSweep) >= sweepEvery {
		c.lastSweep = now
		for _, o := range c.entries {
			if o.expired(now) {
				c.remove(o)
			}
		}
	}
	if e.size() > c.max {
		return
	}
	for c.bytes+e.size() > c.max {
		c.remove(c.lru.Back().Value.(*cached))
	}
	e.elem = c.lru.PushFront(e)
	c.entries[e.key] = e
	c.bytes += e.size()
}

func (c *resultCache) remove(e *cached) {
	c.lru.Remove(e.elem)
	delete(c.entries, e.key)
	c.bytes -= e.size()
}

// stats are the cache's size, for its gauges.
func (c *resultCache) stats() (bytes int64, entries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, len(c.entries)
}
