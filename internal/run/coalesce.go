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
// ends before the run, do returns ctx's error (at once, or for the caller
// that leads the run, once the run is over) and, if it was the last
// waiter, cancels the run.
func (g *flightGroup) do(ctx, parent context.Context, key string, timeout time.Duration,
	fn func(context.Context) (*exporter.Result, error), joined func()) (*exporter.Result, error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = map[string]*flight{}
	}
	f, ok := g.flights[key]
	if !ok {
		fctx, cancel := context.WithTimeout(parent, timeout)
		f = &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
		g.flights[key] = f
		g.mu.Unlock()
		return g.lead(ctx, fctx, key, f, fn)
	}
	f.waiters++
	joined()
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		g.mu.Lock()
		g.leave(key, f)
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}

// lead runs flight f, on its context fctx, in the goroutine of the caller
// that started it (ctx is the caller's).
// Handing every run to a goroutine of its own and back cost a goroutine,
// a fresh stack grown on the way down to fork and exec, and the wake-ups
// of both: a third of the server's futex and nanosleep calls. A leader
// whose ctx ends first leaves the flight as any waiter does (the run is
// cancelled when no one else waits on it) and returns ctx's error once the
// run is over.
func (g *flightGroup) lead(ctx, fctx context.Context, key string, f *flight,
	fn func(context.Context) (*exporter.Result, error)) (*exporter.Result, error) {
	// leave may run after the flight is over (ctx ended as it finished):
	// it then finds the flight gone and does nothing.
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.leave(key, f)
	})
	f.res, f.err = fn(fctx)
	stop()
	f.cancel()
	g.mu.Lock()
	if g.flights[key] == f {
		delete(g.flights, key)
	}
	g.mu.Unlock()
	close(f.done)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f.res, f.err
}

// leave takes one waiter off f, under g.mu; the last one cancels the run
// (a run already over is not hurt by that).
func (g *flightGroup) leave(key string, f *flight) {
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		// A new request must not join a run that is being cancelled.
		if g.flights[key] == f {
			delete(g.flights, key)
		}
	}
}
