package run

import (
	"context"
	"sync"
	"time"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// flightGroup lets identical requests that arrive while a run is in flight
// share that run: N concurrent scrapes of the same exporter with the same
// parameters cost one run. Unlike singleflight, the run does not belong to
// the first caller: it runs on its own context, which is cancelled only when
// every caller waiting on it has gone away (a client that disconnects
// cancels its run unless another request waits on it).
type flightGroup struct {
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done    chan struct{}
	res     *exporter.Result
	err     error
	waiters int
	cancel  context.CancelFunc
}

// do runs fn once for key among concurrent callers and returns its outcome
// to each of them; joined is called when this caller joins a run another
// caller started. The run gets a context of its own, from parent (the
// server's lifetime) and bounded by timeout; ctx is the caller's: when it
// ends before the run, do returns ctx's error and, if it was the last
// waiter, cancels the run.
func (g *flightGroup) do(ctx, parent context.Context, key string, timeout time.Duration,
	fn func(context.Context) (*exporter.Result, error), joined func()) (*exporter.Result, error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = map[string]*flight{}
	}
	f, ok := g.flights[key]
	if ok {
		f.waiters++
		joined()
	} else {
		fctx, cancel := context.WithTimeout(parent, timeout)
		f = &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
		g.flights[key] = f
		go func() {
			defer cancel()
			f.res, f.err = fn(fctx)
			g.mu.Lock()
			if g.flights[key] == f {
				delete(g.flights, key)
			}
			g.mu.Unlock()
			close(f.done)
		}()
	}
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		g.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
			// A new request must not join a run that is being cancelled.
			if g.flights[key] == f {
				delete(g.flights, key)
			}
		}
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}
