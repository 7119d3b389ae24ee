package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metricwrap/metricwrap/internal/batch"
)

// Queue names one spool queue: a sink at a destination (Sink.Destination).
// A batch spooled for a Queue is only ever delivered to that Queue.
type Queue struct {
	Sink        string
	Destination string
}

// Spooler keeps batches until their destination acknowledged them and hands
// them back, oldest first. *spool.Spool implements it (spool imports sink, so
// sink only knows this interface). Both methods must be safe for concurrent
// use; Replay must remove an entry only after deliver returned nil, stop at
// a failure the destination may get over, and set aside (not retry forever)
// entries rejected with a permanent error.
type Spooler interface {
	Put(q Queue, b *batch.Batch) error
	Replay(ctx context.Context, q Queue, deliver func(context.Context, *batch.Batch) error) (int, error)
}

// ErrEmpty refuses a batch without a metric family: delivering it would
// erase data (a Pushgateway PUT of an empty group deletes the group).
var ErrEmpty = Permanent(errors.New("the batch has no sample; nothing was sent, so no group or series was erased"))

// Outcome is what became of one batch at one sink; it is the result label of
// metricwrap_sink_push_total.
type Outcome string

// The outcomes exclude each other: each batch handed to a sink ends in one.
const (
	// OutcomeSuccess: the sink took the batch (fresh or from the spool).
	OutcomeSuccess Outcome = "success"
	// OutcomeSpooled: not delivered in time; it waits in the spool.
	OutcomeSpooled Outcome = "spooled"
	// OutcomeDropped: the sink or its destination refused it for good
	// (IsPermanent); retrying cannot help, so it was not retried. With a
	// spool it is kept in the queue's quarantine/ directory.
	OutcomeDropped Outcome = "dropped"
	// OutcomeFailure: not delivered and not spooled (no spool, or the spool
	// write failed): the batch is lost for this sink.
	OutcomeFailure Outcome = "failure"
)

// FanoutOptions configure a Fanout. Zero durations take the defaults.
type FanoutOptions struct {
	// RetryFor bounds how long one batch is retried at one sink before it
	// is left in the spool; ctx may end it sooner. Zero means one attempt.
	// The default (config.DefaultSinkConfig) is resolved by the caller.
	RetryFor time.Duration
	// SinkRetryFor overrides RetryFor per sink name. A zero value means one
	// attempt, then the spool (config `retry_for: 0s`).
	SinkRetryFor map[string]time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff with full
	// jitter between attempts (defaults 200ms and 5s).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Spool holds every batch from before its first attempt until its
	// destination acknowledged it; nil delivers without one and loses what
	// fails.
	Spool  Spooler
	Logger *slog.Logger
	// Registerer receives the push metrics; nil registers nothing. Metrics
	// already registered by an earlier Fanout (a config reload) are reused.
	Registerer prometheus.Registerer
}

// Fanout delivers each batch to several sinks concurrently, so that a slow or
// failing sink never holds up the others. Per sink, deliveries are serialized
// and a sink's spooled backlog always goes before a new batch, so every sink
// sees batches in the order they were handed over. Safe for concurrent use.
type Fanout struct {
	opts    FanoutOptions
	logger  *slog.Logger
	targets []*target
	byName  map[string]*target
	m       fanoutMetrics
}

// target is one sink and the token that serializes its deliveries (a channel
// so waiting for it honours ctx).
type target struct {
	sink  Sink
	name  string
	queue Queue
	slot  chan struct{}
	// retryFor bounds retries of one batch; zero means a single attempt.
	retryFor time.Duration
}

// retryContext bounds one batch's delivery to t: by t.retryFor, or, for a
// single attempt, only by ctx and the sink's own timeout.
func (t *target) retryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.retryFor <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.retryFor)
}

// Result says what became of a batch at one sink, for logging.
type Result struct {
	Sink     string
	Outcome  Outcome
	Attempts int           // push attempts for this batch
	Replayed int           // spooled batches delivered before it
	Duration time.Duration // the whole delivery, backlog included
	Err      error         // why it was not delivered; nil on success
}

// LogValue lets a Result be logged as one attribute group.
func (r Result) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("sink", r.Sink),
		slog.String("outcome", string(r.Outcome)),
		slog.Int("attempts", r.Attempts),
		slog.Duration("duration", r.Duration),
	}
	if r.Replayed > 0 {
		attrs = append(attrs, slog.Int("replayed", r.Replayed))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("err", r.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// NewFanout returns a Fanout over sinks, whose names must be unique.
func NewFanout(sinks []Sink, o FanoutOptions) (*Fanout, error) {
	if o.BackoffBase <= 0 {
		o.BackoffBase = 200 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Second
	}
	f := &Fanout{opts: o, logger: o.Logger, byName: map[string]*target{}}
	if f.logger == nil {
		f.logger = slog.New(slog.DiscardHandler)
	}
	for _, s := range sinks {
		name := s.Name()
		if _, dup := f.byName[name]; dup {
			return nil, fmt.Errorf("two sinks are named %q", name)
		}
		t := &target{sink: s, name: name, queue: Queue{Sink: name, Destination: s.Destination()},
			slot: make(chan struct{}, 1), retryFor: o.RetryFor}
		if rf, ok := o.SinkRetryFor[name]; ok {
			t.retryFor = rf
		}
		f.targets = append(f.targets, t)
		f.byName[name] = t
	}
	m, err := newFanoutMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	f.m = m
	for _, t := range f.targets {
		for _, o := range []Outcome{OutcomeSuccess, OutcomeSpooled, OutcomeDropped, OutcomeFailure} {
			f.m.pushes.WithLabelValues(t.name, string(o))
		}
	}
	return f, nil
}

// Deliver hands b to the named sinks (all sinks when no name is given), all at
// once, and returns when each has delivered, spooled or given up, with one
// Result per sink in the order asked. An unknown name gets a failure Result.
func (f *Fanout) Deliver(ctx context.Context, b *batch.Batch, names ...string) []Result {
	targets := f.targets
	var results []Result
	if len(names) > 0 {
		targets = make([]*target, len(names))
		for i, n := range names {
			targets[i] = f.byName[n]
		}
	}
	results = make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		if t == nil {
			results[i] = Result{Sink: names[i], Outcome: OutcomeFailure, Err: fmt.Errorf("no sink named %q is configured", names[i])}
			continue
		}
		wg.Go(func() { results[i] = f.deliver(ctx, t, b) })
	}
	wg.Wait()
	return results
}

// Queues returns the spool queue of every sink, so the spool can tell its
// orphans.
func (f *Fanout) Queues() []Queue {
	qs := make([]Queue, len(f.targets))
	for i, t := range f.targets {
		qs[i] = t.queue
	}
	return qs
}

// deliver runs one sink's delivery within RetryFor. With a spool, b is
// written to its queue first and the queue is replayed, so b goes after the
// backlog, and leaves the spool only once the destination took it (or
// refused it for good: then it is quarantined). Without one, b is pushed
// directly.
func (f *Fanout) deliver(ctx context.Context, t *target, b *batch.Batch) (r Result) {
	start := time.Now()
	r.Sink = t.name
	defer func() {
		r.Duration = time.Since(start)
		f.m.pushes.WithLabelValues(t.name, string(r.Outcome)).Inc()
	}()
	if b.Empty() {
		r.Outcome, r.Err = OutcomeDropped, ErrEmpty
		return r
	}
	wait, cancelWait := t.retryContext(ctx)
	defer cancelWait()
	select {
	case t.slot <- struct{}{}:
		defer func() { <-t.slot }()
	case <-wait.Done():
		r.Err = fmt.Errorf("an earlier delivery to this sink is still running: %w", wait.Err())
		return f.keep(t, b, r)
	}
	if f.opts.Spool == nil {
		return f.direct(wait, t, b, r)
	}
	putErr := f.opts.Spool.Put(t.queue, b)
	// The retry budget starts once the batch is safe on disk: writing it
	// (an fsync on a busy disk) is not a delivery attempt.
	ctx, cancel := t.retryContext(ctx)
	defer cancel()
	if putErr != nil {
		f.logger.Warn("cannot spool the batch before delivery; delivering it without the spool", "sink", t.name, "batch", b.ID, "err", putErr)
		r = f.direct(ctx, t, b, r)
		if r.Outcome == OutcomeFailure {
			r.Err = fmt.Errorf("%w; and not spooled: %w", r.Err, putErr)
		}
		return r
	}
	var (
		freshDone bool
		freshErr  error
	)
	replay := f.replayer(t)
	n, err := f.opts.Spool.Replay(ctx, t.queue, func(ctx context.Context, got *batch.Batch) error {
		if got.ID != b.ID {
			return replay(ctx, got)
		}
		rctx, cancel := t.retryContext(ctx)
		defer cancel()
		attempts, refused, err := f.push(rctx, t, got)
		r.Attempts += attempts
		freshDone, freshErr = err == nil || IsPermanent(err), err
		return withRefusals(err, refused)
	})
	switch {
	case freshDone && freshErr == nil:
		r.Outcome, r.Replayed = OutcomeSuccess, n-1
	case freshDone:
		r.Outcome, r.Err, r.Replayed = OutcomeDropped, freshErr, n
	default:
		r.Outcome, r.Replayed = OutcomeSpooled, n
		switch {
		case freshErr != nil:
			r.Err = freshErr
		case err != nil:
			r.Err = fmt.Errorf("spooled batches not delivered yet: %w", err)
		default:
			r.Err = errors.New("not delivered yet")
		}
	}
	return r
}

// direct pushes b without a spool.
func (f *Fanout) direct(ctx context.Context, t *target, b *batch.Batch, r Result) Result {
	r.Attempts, _, r.Err = f.push(ctx, t, b)
	switch {
	case r.Err == nil:
		r.Outcome = OutcomeSuccess
	case IsPermanent(r.Err):
		r.Outcome = OutcomeDropped
	default:
		return f.keep(t, b, r)
	}
	return r
}

// keep writes b to the spool after a delivery that could not start, and
// records how that went.
func (f *Fanout) keep(t *target, b *batch.Batch, r Result) Result {
	if f.opts.Spool == nil {
		r.Outcome = OutcomeFailure
		r.Err = fmt.Errorf("not delivered and no spool configured: %w", r.Err)
		return r
	}
	if err := f.opts.Spool.Put(t.queue, b); err != nil {
		r.Outcome = OutcomeFailure
		r.Err = fmt.Errorf("not delivered (%w) and not spooled: %w", r.Err, err)
		return r
	}
	r.Outcome = OutcomeSpooled
	return r
}

// replayer returns the deliver function that Replay calls per spooled batch:
// the same retries as a fresh batch, each batch within its own RetryFor.
func (f *Fanout) replayer(t *target) func(context.Context, *batch.Batch) error {
	return func(ctx context.Context, b *batch.Batch) error {
		ctx, cancel := t.retryContext(ctx)
		defer cancel()
		_, refused, err := f.push(ctx, t, b)
		switch {
		case err == nil:
			f.m.pushes.WithLabelValues(t.name, string(OutcomeSuccess)).Inc()
		case IsPermanent(err):
			f.m.pushes.WithLabelValues(t.name, string(OutcomeDropped)).Inc()
		}
		return withRefusals(err, refused)
	}
}

// refusalsError tells the spool how many answered refusals an error stands
// for, so that it can tell a batch the destination keeps refusing from a
// destination that is down.
type refusalsError struct {
	err error
	n   int
}

func (e *refusalsError) Error() string { return e.err.Error() }
func (e *refusalsError) Unwrap() error { return e.err }
func (e *refusalsError) Refusals() int { return e.n }

func withRefusals(err error, n int) error {
	if err == nil || n == 0 {
		return err
	}
	return &refusalsError{err, n}
}

// Flush delivers every sink's spooled backlog, all sinks at once, and returns
// the errors of the sinks whose backlog is not empty yet.
func (f *Fanout) Flush(ctx context.Context) error {
	if f.opts.Spool == nil {
		return nil
	}
	errs := make([]error, len(f.targets))
	var wg sync.WaitGroup
	for i, t := range f.targets {
		wg.Go(func() {
			select {
			case t.slot <- struct{}{}:
				defer func() { <-t.slot }()
			case <-ctx.Done():
				errs[i] = fmt.Errorf("flush sink %s: %w", t.name, ctx.Err())
				return
			}
			n, err := f.opts.Spool.Replay(ctx, t.queue, f.replayer(t))
			if n > 0 {
				f.logger.Info("delivered spooled batches", "sink", t.name, "count", n)
			}
			if err != nil {
				errs[i] = fmt.Errorf("flush sink %s: %w", t.name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fanoutMetrics are the push metrics, labelled by sink.
type fanoutMetrics struct {
	pushes      *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
}

func newFanoutMetrics(r prometheus.Registerer) (fanoutMetrics, error) {
	m := fanoutMetrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_sink_push_total",
			Help: "Batches handed to a sink, by what became of them: success, spooled (delivery failed, kept for later), dropped (rejected permanently) or failure (lost).",
		}, []string{"sink", "result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "metricwrap_sink_last_success_timestamp_seconds",
			Help: "When a sink last accepted a batch, in unix seconds.",
		}, []string{"sink"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "metricwrap_sink_push_duration_seconds",
			Help:    "Duration of single push attempts to a sink, failed ones included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"sink"}),
	}
	if r == nil {
		return m, nil
	}
	var err error
	m.pushes, err = registerOrReuse(r, m.pushes)
	if err != nil {
		return m, err
	}
	m.lastSuccess, err = registerOrReuse(r, m.lastSuccess)
	if err != nil {
		return m, err
	}
	m.duration, err = registerOrReuse(r, m.duration)
	return m, err
}

// registerOrReuse registers c, or returns the equal collector that an earlier
// Fanout registered, so that a new Fanout (after a reload) keeps counting.
func registerOrReuse[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	err := r.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register sink metrics: %w", err)
}
