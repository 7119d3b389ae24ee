package server

import (
	"context"
	"errors"
)

// errOverloaded: no run slot came free before the request's deadline (503).
var errOverloaded = errors.New("too many exporter runs in progress; try again later")

// limiter bounds how many exporter runs are in progress at once. A request
// beyond the bound waits for a slot up to its own deadline.
type limiter chan struct{}

func newLimiter(n int) limiter {
	if n < 1 {
		n = 1
	}
	return make(limiter, n)
}

// acquire takes a slot or returns errOverloaded when ctx ends first.
func (l limiter) acquire(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	default:
	}
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errOverloaded
	}
}

func (l limiter) release() { <-l }
