package run

import (
	"context"
	"sync"
)

// limiter bounds how many runs are in progress at once, in total and per
// exporter, and hands free slots out fairly. A request beyond a bound
// waits, up to its own deadline, in its exporter's queue; when a slot
// frees, the exporters with waiters take turns (round robin), each queue
// in arrival order. So a flood of requests for one exporter can hold at
// most its share of the slots, and never makes another exporter's request
// wait behind the whole flood: it waits for the next free slot at most.
type limiter struct {
	mu    sync.Mutex
	total int
	// share is the per-exporter bound for exporters without their own
	// (limits).
	share  int
	limits map[string]int
	inUse  int
	byName map[string]*lane
	// ring holds the exporters that have waiters, in turn order.
	ring []*lane
	next int
}

// lane is one exporter's running count and waiters.
type lane struct {
	name    string
	running int
	waiters []*waiter
	inRing  bool
}

type waiter struct {
	ready   chan struct{}
	granted bool
}

// newLimiter bounds runs to total at once and each exporter to share,
// or to its bound in limits.
func newLimiter(total, share int, limits map[string]int) *limiter {
	total = max(total, 1)
	return &limiter{total: total, share: min(max(share, 1), total), limits: limits, byName: map[string]*lane{}}
}

// fairShare is the default per-exporter bound: all of total when a single
// exporter can run, else half of it (at least 1), so whatever one
// exporter's runs do, the others keep at least half the slots.
func fairShare(total, exporters int) int {
	if exporters <= 1 {
		return max(total, 1)
	}
	return max((total+1)/2, 1)
}

// acquire takes a slot for exporter name, or returns ErrOverloaded when ctx
// ends first.
func (l *limiter) acquire(ctx context.Context, name string) error {
	l.mu.Lock()
	ln := l.lane(name)
	if l.inUse < l.total && ln.running < l.bound(name) && len(ln.waiters) == 0 && len(l.ring) == 0 {
		l.inUse++
		ln.running++
		l.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan struct{})}
	ln.waiters = append(ln.waiters, w)
	if !ln.inRing {
		ln.inRing = true
		l.ring = append(l.ring, ln)
	}
	l.dispatch()
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		// The slot came at the same moment; hand it on.
		l.inUse--
		ln.running--
		l.dispatch()
		return ErrOverloaded
	}
	for i, o := range ln.waiters {
		if o == w {
			ln.waiters = append(ln.waiters[:i], ln.waiters[i+1:]...)
			break
		}
	}
	if len(ln.waiters) == 0 && ln.inRing {
		for i, o := range l.ring {
			if o == ln {
				l.removeFromRing(i)
				if l.next > i {
					l.next--
				}
				break
			}
		}
	}
	l.dropIfIdle(ln)
	return ErrOverloaded
}

// release gives back a slot of exporter name.
func (l *limiter) release(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inUse--
	ln := l.byName[name]
	ln.running--
	l.dispatch()
	l.dropIfIdle(ln)
}

// lane returns name's lane, making it on first use.
func (l *limiter) lane(name string) *lane {
	ln := l.byName[name]
	if ln == nil {
		ln = &lane{name: name}
		l.byName[name] = ln
	}
	return ln
}

// dropIfIdle forgets a lane with nothing running or waiting, so the map
// stays as small as what is in progress.
func (l *limiter) dropIfIdle(ln *lane) {
	if ln.running == 0 && len(ln.waiters) == 0 && !ln.inRing {
		delete(l.byName, ln.name)
	}
}

// bound is how many runs exporter name may have at once.
func (l *limiter) bound(name string) int {
	if n := l.limits[name]; n > 0 {
		return min(n, l.total)
	}
	return l.share
}

// dispatch grants free slots to waiters, exporter by exporter in turn,
// skipping exporters at their bound.
func (l *limiter) dispatch() {
	for l.inUse < l.total && len(l.ring) > 0 {
		granted := false
		for tries := len(l.ring); tries > 0 && l.inUse < l.total; tries-- {
			if l.next >= len(l.ring) {
				l.next = 0
			}
			ln := l.ring[l.next]
			if len(ln.waiters) == 0 {
				l.removeFromRing(l.next)
				continue
			}
			if ln.running >= l.bound(ln.name) {
				l.next++
				continue
			}
			w := ln.waiters[0]
			ln.waiters = ln.waiters[1:]
			w.granted = true
			close(w.ready)
			l.inUse++
			ln.running++
			granted = true
			if len(ln.waiters) == 0 {
				l.removeFromRing(l.next)
			} else {
				l.next++
			}
		}
		if !granted {
			return
		}
	}
}

func (l *limiter) removeFromRing(i int) {
	l.ring[i].inRing = false
	l.ring = append(l.ring[:i], l.ring[i+1:]...)
	if len(l.ring) == 0 {
		l.next = 0
	}
}
