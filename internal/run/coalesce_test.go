package run

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// TestLeaderLeavesARunOthersWaitOn: the request that started a shared run
// runs it in its own goroutine. When it goes away, a run another request
// waits on goes on and answers that one; a run no one waits on any more is
// cancelled.
func TestLeaderLeavesARunOthersWaitOn(t *testing.T) {
	var g flightGroup
	release := make(chan struct{})
	started := make(chan struct{})
	fn := func(ctx context.Context) (*exporter.Result, error) {
		close(started)
		select {
		case <-release:
			return gaugeResult(7), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	leaderCtx, leave := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := g.do(leaderCtx, context.Background(), "k", time.Minute, fn, func() {})
		leader <- err
	}()
	<-started
	joined := make(chan struct{})
	other := make(chan *exporter.Result, 1)
	go func() {
		res, _ := g.do(context.Background(), context.Background(), "k", time.Minute, fn, func() { close(joined) })
		other <- res
	}()
	<-joined
	leave()
	close(release)
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("the leader that went away got %v, want its context's error", err)
	}
	if res := <-other; res == nil || len(res.Families) != 1 {
		t.Errorf("the request still waiting got %v, want the run's result", res)
	}

	// Alone, a leader that goes away cancels its run.
	cancelled := make(chan error, 1)
	alone, leaveAlone := context.WithCancel(context.Background())
	go func() {
		_, _ = g.do(alone, context.Background(), "k2", time.Minute, func(ctx context.Context) (*exporter.Result, error) {
			leaveAlone()
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil, ctx.Err()
		}, func() {})
	}()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the run ended with %v, want cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a run whose only waiter went away was not cancelled")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.flights) != 0 {
		t.Errorf("%d flights left", len(g.flights))
	}
}
