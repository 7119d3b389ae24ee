package sink

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/metricwrap/metricwrap/internal/batch"
)

// push tries to deliver b to t until it succeeds, fails permanently, or ctx
// ends (it gives up early when the next wait would outlast ctx's deadline);
// a sink without retries gets one attempt. Between attempts it waits the
// backoff, or what the destination asked for with Retry-After when that is
// longer, on every answer that carries it. It returns the attempts made, how
// many of them the destination answered with a refusal that blames the batch
// (it stops after MaxRefusals of those), and the last error.
func (f *Fanout) push(ctx context.Context, t *target, b *batch.Batch) (attempts, refused int, err error) {
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := t.sink.Push(ctx, b)
		f.m.duration.WithLabelValues(t.name).Observe(time.Since(start).Seconds())
		if err == nil {
			f.m.lastSuccess.WithLabelValues(t.name).SetToCurrentTime()
			return attempt, refused, nil
		}
		if BlamesBatch(err) {
			refused++
		}
		if IsPermanent(err) || ctx.Err() != nil || t.retryFor <= 0 || refused >= MaxRefusals {
			return attempt, refused, err
		}
		wait := max(backoff(attempt, f.opts.BackoffBase, f.opts.BackoffMax), RetryAfter(err))
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return attempt, refused, err
		}
		f.logger.Debug("push failed, retrying", "sink", t.name, "batch", b.ID, "attempt", attempt, "wait", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return attempt, refused, err
		}
	}
}

// backoff is the wait after the given failed attempt (1-based): "full
// jitter", uniform in [0, min(limit, base*2^(attempt-1))), which spreads the
// retries of many clients better than a fixed exponential step.
func backoff(attempt int, base, limit time.Duration) time.Duration {
	ceiling := base
	for i := 1; i < attempt && ceiling < limit; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, limit)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}
