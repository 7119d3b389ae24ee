package python

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/runner"
)

// ErrUnavailable means the run could not be handed to a worker and nothing
// ran; Pool.Run then refuses the run (exporter.ErrNotWarm).
var ErrUnavailable = errors.New("no python worker available")

// Backoff between restarts of a worker that keeps dying or failing to start.
var (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 30 * time.Second
	// healthyAfter is how long a worker must have lived for its death to
	// start the backoff over.
	healthyAfter = 10 * time.Second
)

// Key identifies a worker: the interpreter, the bundled runner and the
// exporters directory (absolute) it imports from.
type Key struct {
	Python, Runner, ExportersDir string
}

// Options configure a Pool.
type Options struct {
	Logger *slog.Logger
	// Metrics are shared by successive pools; nil keeps them unexported.
	Metrics *Metrics
}

// Pool runs Python class exporters in warm workers, or refuses a run it
// cannot serve; it never runs one cold. It is safe for concurrent use.
// Close stops every worker.
type Pool struct {
	log     *slog.Logger
	metrics *Metrics

	mu     sync.Mutex
	closed bool
	done   chan struct{}       // closed by Close
	names  map[string][]string // exporters dir -> exporters to import
	slots  map[Key]*slot
	bg     sync.WaitGroup // starts and retirements
}

// slot is the worker of one Key across restarts.
type slot struct {
	key      Key
	cur      *worker // ready; nil while none is
	starting bool
	failures int       // consecutive deaths or failed starts
	notUntil time.Time // no start before, after a failure
	reason   string    // why the next start is a restart; "" for the first
}

// NewPool returns an empty pool; workers start on demand.
func NewPool(o Options) *Pool {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	return &Pool{log: o.Logger, metrics: o.Metrics, names: map[string][]string{}, slots: map[Key]*slot{}, done: make(chan struct{})}
}

// Add says exporter name of exportersDir may run warm, so its worker
// imports it ahead of the first run. Call it while building the set, before
// runs start; an exporter not added still runs warm, importing its module
// in each run.
func (p *Pool) Add(exportersDir, name string) {
	dir := absDir(exportersDir)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.names[dir], name) {
		p.names[dir] = append(p.names[dir], name)
		slices.Sort(p.names[dir])
	}
}

// Run runs spec, the cold command line of a Python class exporter of
// exportersDir (the interpreter, then the runner and its arguments), in a
// warm worker. It refuses the run, with an error wrapping
// exporter.ErrNotWarm and before anything ran, when no worker is ready or
// takes it, or when the run's environment is one the worker's interpreter
// did not start with (eligible); the caller then runs it cold, so a
// refusal for want of a worker is counted here as a cold run. Otherwise
// results and errors are those runner.Run would give.
func (p *Pool) Run(ctx context.Context, exportersDir string, spec runner.Spec) (*runner.Result, error) {
	if !eligible(spec) {
		return nil, fmt.Errorf("%w: the run's environment changes how python starts", exporter.ErrNotWarm)
	}
	key := Key{Python: spec.Path, Runner: spec.Args[0], ExportersDir: absDir(exportersDir)}
	w := p.acquire(key)
	if w == nil {
		p.metrics.cold.Inc()
		return nil, fmt.Errorf("%w: no python worker ready", exporter.ErrNotWarm)
	}
	res, err := runner.RunLaunched(ctx, spec, w.launch)
	w.inflight.Done()
	if errors.Is(err, ErrUnavailable) {
		p.metrics.cold.Inc()
		return nil, fmt.Errorf("%w: %w", exporter.ErrNotWarm, err)
	}
	p.metrics.warm.Inc()
	return res, err
}

// Warmup starts the worker for key if need be and waits until it is ready
// or ctx ends; it reports whether a worker is ready. serve's start-up and
// tests use it so the first runs are warm too.
func (p *Pool) Warmup(ctx context.Context, key Key) bool {
	key.ExportersDir = absDir(key.ExportersDir)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if w := p.acquire(key); w != nil {
			w.inflight.Done()
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// acquire returns the slot's ready, current worker with a run counted in
// flight, or nil after starting one when allowed.
func (p *Pool) acquire(key Key) *worker {
	p.mu.Lock()
	s := p.slots[key]
	if s == nil {
		s = &slot{key: key}
		p.slots[key] = s
	}
	w := s.cur
	if w != nil {
		w.inflight.Add(1)
	}
	p.mu.Unlock()

	if w != nil {
		if !w.isDead() && !w.stale() {
			return w
		}
		w.inflight.Done()
		p.mu.Lock()
		if s.cur == w {
			s.cur = nil
			p.metrics.workers.Dec()
			if w.isDead() {
				p.failedLocked(s, w.started)
			} else {
				p.log.Info("python exporter file changed, restarting the python worker", "dir", key.ExportersDir)
				s.reason = ReasonChange
				p.retireLocked(w)
			}
		}
		p.mu.Unlock()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked(s)
	return nil
}

// startLocked starts the slot's worker in the background unless one runs,
// is starting, or the backoff forbids it.
func (p *Pool) startLocked(s *slot) {
	if p.closed || s.cur != nil || s.starting || time.Now().Before(s.notUntil) {
		return
	}
	s.starting = true
	if s.reason != "" {
		p.metrics.restarts.WithLabelValues(s.reason).Inc()
	}
	names := slices.Clone(p.names[s.key.ExportersDir])
	p.bg.Go(func() {
		w, err := startWorker(s.key, names, p.log.With("python_worker", s.key.ExportersDir))
		p.mu.Lock()
		defer p.mu.Unlock()
		s.starting = false
		if err != nil {
			p.log.Warn("python worker could not start; its exporters run cold", "dir", s.key.ExportersDir, "err", err)
			p.failedLocked(s, time.Now())
			return
		}
		if p.closed {
			p.retireLocked(w)
			return
		}
		s.cur = w
		p.metrics.workers.Inc()
		p.bg.Go(func() { p.watch(s, w) })
	})
}

// watch restarts the slot's worker, after a backoff, when w dies while
// current.
func (p *Pool) watch(s *slot, w *worker) {
	<-w.dead
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.cur != w {
		return
	}
	s.cur = nil
	p.metrics.workers.Dec()
	if !p.closed {
		p.log.Warn("python worker died; its exporters run cold until it is back", "dir", s.key.ExportersDir)
	}
	p.failedLocked(s, w.started)
	p.retireLocked(w)
}

// failedLocked schedules the next start after a death or failed start of a
// worker started at since.
func (p *Pool) failedLocked(s *slot, since time.Time) {
	if time.Since(since) >= healthyAfter {
		s.failures = 0
	}
	s.failures++
	delay := min(minBackoff<<min(s.failures-1, 20), maxBackoff)
	s.notUntil = time.Now().Add(delay)
	s.reason = ReasonExit
	if p.closed {
		return
	}
	p.bg.Go(func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-p.done:
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.startLocked(s)
	})
}

// retireLocked stops w once its runs in flight are done.
func (p *Pool) retireLocked(w *worker) {
	p.bg.Go(func() {
		w.inflight.Wait()
		w.stop()
	})
}

// Close stops every worker, after the runs in flight on them end; later
// runs are refused. It waits for the workers to exit.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		close(p.done)
	}
	p.closed = true
	for _, s := range p.slots {
		if s.cur != nil {
			p.retireLocked(s.cur)
			s.cur = nil
			p.metrics.workers.Dec()
		}
	}
	p.mu.Unlock()
	p.bg.Wait()
}

// eligible reports whether spec can run in a worker: a file-output run of
// the bundled runner whose environment does not change how the interpreter
// starts (PYTHON*, locale, HOME's user site), since the worker's
// interpreter started without it.
func eligible(spec runner.Spec) bool {
	if spec.Output != runner.OutputFile || len(spec.Args) == 0 {
		return false
	}
	startup := func(name string) bool {
		return strings.HasPrefix(name, "PYTHON") || strings.HasPrefix(name, "LC_") || name == "LANG" || name == "HOME"
	}
	for k := range spec.Env {
		if startup(k) {
			return false
		}
	}
	return !slices.ContainsFunc(spec.Passthrough, startup)
}

func absDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}
