package runner

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"
)

// terminate waits for the run's context to end before the child exits, then
// sends SIGTERM to the group and, after grace, SIGKILL.
func terminate(ctx context.Context, exited <-chan struct{}, pid int, grace time.Duration, signalled *atomic.Bool) {
	select {
	case <-exited:
		return
	case <-ctx.Done():
	}
	signalled.Store(true)
	killGroup(pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		killGroup(pid, syscall.SIGKILL)
	}
}
