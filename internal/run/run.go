// Package run owns a run's life, from the request to the answer, for every
// caller (the HTTP server, the scheduler, the run command): the timeout
// policy, the run limit and its fair share per exporter, coalescing of
// identical requests, the result cache and stale-on-error, whether a run
// is warm or cold (warmRun), the history of last runs, the mapping of
// every failure to one Class, the run metrics and logs, and the outcome
// series every answer of /metrics/NAME carries.
// It runs exporters through exporter.Entry and knows nothing of HTTP or of
// processes.
package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/redact"
)

// Options configure an Engine. Zero values are usable defaults.
type Options struct {
	Logger *slog.Logger
	// Registerer takes the run metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// TimeoutOffset is subtracted from a scraper's timeout (Prometheus'
	// X-Prometheus-Scrape-Timeout-Seconds) to give the run's.
	TimeoutOffset time.Duration
	// Warm runs exporters warm where they can (exporter.WarmRunner) and
	// their entry allows it (serve); otherwise every run is cold (run,
	// exec: a fresh process each time).
	Warm bool
}

// Limits are what the runs of one exporter set share.
type Limits struct {
	// MaxConcurrency bounds runs in progress; 0 means 2 x CPUs. Each
	// exporter may hold at most its max_concurrency of them, by default a
	// fair share (all of them when the set has one exporter, else half).
	MaxConcurrency int
	// CacheMaxBytes bounds the result cache; 0 means DefaultCacheMaxBytes.
	CacheMaxBytes int64
}

// Engine runs exporters. It is safe for concurrent use; SetExporters swaps
// what it runs while runs are in flight.
type Engine struct {
	o       Options
	log     *slog.Logger
	metrics *metrics
	cur     atomic.Pointer[generation]
	gens    atomic.Uint64
	flights flightGroup
	history history
	// life bounds every run: Close cancels it and waits for runs to end.
	life     context.Context
	stopLife context.CancelFunc
	lifeMu   sync.Mutex
	closed   bool
	runs     sync.WaitGroup
}

// generation is one exporter set with its limiter and cache. Its number is
// part of every run's key, so a request after a reload never joins or
// reads a run of the old definitions.
type generation struct {
	set   *exporter.Set
	n     uint64
	limit *limiter
	cache *resultCache
}

// New makes an engine with no exporters; SetExporters gives it some.
func New(o Options) *Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{o: o, log: o.Logger}
	e.life, e.stopLife = context.WithCancel(context.Background())
	e.metrics = newMetrics(e)
	if o.Registerer != nil {
		e.metrics.register(o.Registerer)
	}
	e.SetExporters(nil, Limits{})
	return e
}

// SetExporters makes set what runs from now on, under lim: a new
// generation, with an empty cache. Runs of the previous one finish under
// its limits.
func (e *Engine) SetExporters(set *exporter.Set, lim Limits) {
	n := lim.MaxConcurrency
	if n <= 0 {
		n = 2 * runtime.NumCPU()
	}
	entries := set.Entries()
	limits := map[string]int{}
	for _, x := range entries {
		if x.MaxConcurrency > 0 {
			limits[x.Name()] = x.MaxConcurrency
		}
	}
	e.cur.Store(&generation{
		set:   set,
		n:     e.gens.Add(1),
		limit: newLimiter(n, fairShare(n, len(entries)), limits),
		cache: newResultCache(lim.CacheMaxBytes),
	})
}

// Exporters returns the exporters in use now (nil before SetExporters).
func (e *Engine) Exporters() *exporter.Set { return e.cur.Load().set }

// Last returns the last run of exporter name.
func (e *Engine) Last(name string) (Record, bool) { return e.history.get(name) }

// Recent returns the last runs of an exporter, newest first.
func (e *Engine) Recent(name string) []Record { return e.history.recent(name) }

func (e *Engine) cacheStats() (int64, int) { return e.cur.Load().cache.stats() }

// Close cancels every run in progress (their processes get SIGTERM, then
// SIGKILL after their grace) and waits for them to end; later runs fail
// at once. Call it after the HTTP server has shut down.
func (e *Engine) Close() {
	e.lifeMu.Lock()
	e.closed = true
	e.lifeMu.Unlock()
	e.stopLife()
	e.runs.Wait()
}

// enter counts a run that is starting, unless the engine is closed.
func (e *Engine) enter() bool {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	if e.closed {
		return false
	}
	e.runs.Add(1)
	return true
}

// Request is one run asked for.
type Request struct {
	Entry *exporter.Entry
	// Params are checked by Entry.Params().Check.
	Params map[string]string
	// Args are extra arguments, unchecked (the run command's, typed by
	// the operator).
	Args []string
	// ScrapeTimeout is what the scraper allows (ParseScrapeTimeout of
	// Prometheus' header); 0 when it says nothing.
	ScrapeTimeout time.Duration
	// Timeout replaces the exporter's own (the run command's --timeout).
	Timeout time.Duration
	// NoTimeout lifts every bound but ctx's when Timeout is not given:
	// the compatibility form, as the original tool, runs an exporter as
	// long as it takes.
	NoTimeout bool
	// Debug asks for the debug view: the run is then neither shared nor
	// cached, so it shows this run. The exporter is only asked to keep its
	// raw exposition (Request.ShowRaw): as the original tool's, the debug
	// view runs what a scrape runs.
	Debug bool
	// DebugExporter is passed to the exporter as its debug flag (the run
	// command's --debug, given to Python exporters' constructor).
	DebugExporter bool
	// Stdout and Stderr, when set, get a process's own output as it comes
	// (the command line passes it through).
	Stdout, Stderr io.Writer
	// Format asks for the answer encoded (an HTTP request): identical
	// requests in flight then share one run, and the cache applies. Empty
	// for callers that want the families (the scheduler, the run command).
	Format expfmt.Format
}

// Answer is what a request produced.
type Answer struct {
	// Result is the run's, with or without an error; nil when no run was
	// made (a cache hit, no slot).
	Result *exporter.Result
	Err    error
	Class  Class
	// Body is the encoded answer in the requested Format, with the outcome
	// series and the terminator, when there is one to serve: a success, a
	// cache hit, a stale result in place of a failure, or a failure under
	// `on_failure: report`. Nil otherwise (and without Format).
	Body []byte
	// Repeated says Body repeats an earlier run's families.
	Repeated bool
}

// Do answers r: from the cache, by joining an identical run in flight, or
// by a new run under the limits. ctx is the caller's: when it ends (the
// client went away) a run no other request waits on is cancelled.
func (e *Engine) Do(ctx context.Context, r *Request) *Answer {
	g := e.cur.Load()
	x := r.Entry
	name := x.Name()
	bound := timeout(r.Timeout, x.Timeout, r.ScrapeTimeout, e.o.TimeoutOffset)
	if r.NoTimeout && r.Timeout <= 0 {
		bound = 0
	}
	shared := r.Format != "" && !r.Debug
	var key string
	if shared {
		key = requestKey(g.n, name, r.Params)
		if x.CacheTTL > 0 {
			if c, fresh := g.cache.get(key, time.Now()); fresh {
				e.metrics.cacheHits.WithLabelValues(name).Inc()
				return &Answer{Class: Success, Repeated: true, Body: repeat(x, c, r.Format, nil, 0, nil)}
			}
		}
	}
	start := time.Now()
	run := func(ctx context.Context) (*exporter.Result, error) {
		if err := g.limit.acquire(ctx, name); err != nil {
			e.metrics.overloaded.WithLabelValues(name).Inc()
			e.log.Warn("exporter run refused: no run slot came free", "exporter", name, "params", r.Params, "reason", Overloaded)
			return nil, err
		}
		defer g.limit.release(name)
		return e.runOnce(ctx, r)
	}
	var res *exporter.Result
	var err error
	if shared {
		res, err = e.flights.do(ctx, e.life, key, bound, run, func() {
			e.metrics.coalesced.WithLabelValues(name).Inc()
		})
	} else {
		runCtx, cancel := context.WithCancel(ctx)
		if bound > 0 {
			runCtx, cancel = context.WithTimeout(ctx, bound)
		}
		stop := context.AfterFunc(e.life, cancel)
		res, err = run(runCtx)
		stop()
		cancel()
	}
	a := &Answer{Result: res, Err: err, Class: Classify(err)}
	if r.Format == "" || r.Debug {
		return a
	}
	took := time.Since(start)
	if err == nil {
		body, encErr := encodeFamilies(res.Families, r.Format)
		if encErr != nil {
			a.Err, a.Class = fmt.Errorf("%w: %w", exporter.ErrInvalidOutput, encErr), InvalidOutput
			return e.failed(a, x, r, res, took)
		}
		if x.CacheTTL > 0 || x.StaleOnError {
			// A copy of its own size: the encoder's buffer may have up to
			// twice the room, which the cache would hold for nothing.
			c := &cached{key: key, format: r.Format, body: bytes.Clone(body), stale: x.StaleOnError, dur: res.Duration, exit: res.ExitCode}
			if x.CacheTTL > 0 {
				c.expires = time.Now().Add(x.CacheTTL)
			}
			g.cache.put(c, time.Now())
		}
		a.Body = assemble(body, r.Format, outcome(x, Success, res.Duration, res, marker(x, false)))
		return a
	}
	if x.StaleOnError && a.Class != Canceled {
		if c, _ := g.cache.get(key, time.Now()); c != nil {
			e.metrics.staleServed.WithLabelValues(name).Inc()
			e.log.Warn("serving the last good result in place of a failed run", "exporter", name, "params", r.Params, "reason", a.Class)
			a.Repeated = true
			a.Body = repeat(x, c, r.Format, res, took, &a.Class)
			return a
		}
	}
	return e.failed(a, x, r, res, took)
}

// failed gives a failed answer its body when the exporter reports
// failures (on_failure: report) rather than erring.
func (e *Engine) failed(a *Answer, x *exporter.Entry, r *Request, res *exporter.Result, took time.Duration) *Answer {
	if x.OnFailure == exporter.OnFailureReport && a.Class != Canceled {
		a.Body = assemble(nil, r.Format, outcome(x, a.Class, took, res, nil))
	}
	return a
}

// runOnce runs the exporter and records the run's metrics, history and log.
func (e *Engine) runOnce(ctx context.Context, r *Request) (*exporter.Result, error) {
	x := r.Entry
	name := x.Name()
	if !e.enter() {
		return nil, fmt.Errorf("server shutting down: %w", context.Canceled)
	}
	defer e.runs.Done()
	e.metrics.inFlight.Inc()
	defer e.metrics.inFlight.Dec()
	start := time.Now()
	res, warm, err := e.warmRun(ctx, x, &exporter.Request{Params: r.Params, Args: r.Args, ShowRaw: r.Debug, Debug: r.DebugExporter, Stdout: r.Stdout, Stderr: r.Stderr})
	d := time.Since(start)
	c := Classify(err)
	e.metrics.runs.WithLabelValues(name, string(c)).Inc()
	e.metrics.runDuration.WithLabelValues(name).Observe(d.Seconds())
	e.history.record(name, Record{At: start, Duration: d, Outcome: c, Reason: Reason(err, res), Error: ShortError(err), Warm: warm})
	switch {
	case err == nil:
		e.log.Debug("exporter run", "exporter", name, "params", r.Params, "duration", d)
	case c == Canceled:
		e.log.Debug("exporter run cancelled", "exporter", name, "params", r.Params, "duration", d)
	default:
		e.log.Warn("exporter run failed", "exporter", name, "params", r.Params, "reason", c, "duration", d, "err", err)
	}
	return res, err
}

// warmRun runs x warm when the engine runs warm, the entry allows it and
// the exporter is a WarmRunner, else cold; a warm run the exporter refuses
// (exporter.ErrNotWarm: nothing ran) runs cold. It is the one place a run
// becomes warm or cold, and it reports which.
func (e *Engine) warmRun(ctx context.Context, x *exporter.Entry, req *exporter.Request) (*exporter.Result, bool, error) {
	if w, ok := x.Exporter.(exporter.WarmRunner); ok && e.o.Warm && x.Warm {
		res, err := w.RunWarm(ctx, req)
		if !errors.Is(err, exporter.ErrNotWarm) {
			return res, true, err
		}
		e.log.Debug("exporter runs cold: no warm runner took the run", "exporter", x.Name(), "params", req.Params, "reason", err)
	}
	res, err := x.Run(ctx, req)
	return res, false, err
}

// ShortError is an error's first line, secrets hidden (internal/redact),
// bounded, so a chatty exporter cannot fill a response or a page; "" for
// nil.
func ShortError(err error) string {
	if err == nil {
		return ""
	}
	msg := redact.Error(err)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	return msg
}

// requestKey identifies identical requests: same generation, exporter and
// parameters.
func requestKey(gen uint64, name string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(strconv.FormatUint(gen, 10))
	b.WriteByte(0)
	b.WriteString(name)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return b.String()
}
