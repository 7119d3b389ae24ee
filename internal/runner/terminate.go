package runner

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"
)

// terminate sends SIGTERM to the child's group when the run's context ends
// before the child exits, and SIGKILL after grace.
func terminate(ctx context.Context, exited <-chan struct{}, child Launched, grace time.Duration, signalled *atomic.Bool) {
	select {
	case <-exited:
		return
	case <-ctx.Done():
	}
	signalled.Store(true)
	_ = child.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = child.Signal(syscall.SIGKILL)
	}
}
