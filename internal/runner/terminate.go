package runner

import (
	"context"
	"sync"
	"syscall"
	"time"
)

// terminator sends SIGTERM to the child's group when the run's context ends
// before the child exits, and SIGKILL after the grace period. It is a
// context.AfterFunc and a timer rather than a goroutine per run: a run that
// ends on its own, the common case, costs neither a goroutine nor a timer.
type terminator struct {
	mu        sync.Mutex
	stop      func() bool
	exited    bool
	signalled bool
	kill      *time.Timer
}

func startTerminator(ctx context.Context, child Launched, grace time.Duration) *terminator {
	t := &terminator{}
	t.stop = context.AfterFunc(ctx, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.exited {
			return
		}
		t.signalled = true
		_ = child.Signal(syscall.SIGTERM)
		t.kill = time.AfterFunc(grace, func() { _ = child.Signal(syscall.SIGKILL) })
	})
	return t
}

// childExited stops any signalling still to come and reports whether the
// child was signalled because the run's context ended.
func (t *terminator) childExited() bool {
	t.stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.exited = true
	if t.kill != nil {
		t.kill.Stop()
	}
	return t.signalled
}
