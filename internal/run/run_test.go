package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is an exporter that does what fn says.
type fake struct {
	name, kind string
	runs       atomic.Int64
	fn         func(ctx context.Context, req *exporter.Request) (*exporter.Result, error)
}

func (f *fake) Name() string { return f.name }
func (f *fake) Kind() string {
	if f.kind == "" {
		return exporter.KindCommand
	}
	return f.kind
}
func (f *fake) Job() string             { return f.name }
func (f *fake) Params() exporter.Params { return exporter.Params{"target": {Name: "target"}} }
func (f *fake) Run(ctx context.Context, req *exporter.Request) (*exporter.Result, error) {
	f.runs.Add(1)
	if f.fn != nil {
		return f.fn(ctx, req)
	}
	return gaugeResult(1), nil
}

func gaugeResult(v float64) *exporter.Result {
	return &exporter.Result{Families: []*dto.MetricFamily{gauge("fake_value", "A value.", v, nil)}, Duration: time.Millisecond}
}

func newEngine(t *testing.T, lim Limits, entries ...*exporter.Entry) *Engine {
	t.Helper()
	set, err := exporter.NewSet(entries...)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Options{})
	e.SetExporters(set, lim)
	t.Cleanup(e.Close)
	return e
}

func TestTimeoutPolicy(t *testing.T) {
	const s = time.Second
	cases := []struct {
		explicit, exporter, scrape, offset, want time.Duration
	}{
		{0, 20 * s, 0, s / 2, 20 * s},                       // no header: the exporter's
		{0, 20 * s, 10 * s, s / 2, 9500 * time.Millisecond}, // header less offset
		{0, 20 * s, 60 * s, s / 2, 20 * s},                  // header above the exporter's
		{0, 20 * s, s / 4, s / 2, s / 4},                    // offset larger than the header: header as is
		{0, 0, 0, 0, DefaultTimeout},                        // nothing says
		{5 * s, 20 * s, 0, 0, 5 * s},                        // --timeout wins over the exporter's
		{0, time.Millisecond, 0, 0, minTimeout},             // never below the floor
	}
	for _, c := range cases {
		if got := timeout(c.explicit, c.exporter, c.scrape, c.offset); got != c.want {
			t.Errorf("timeout(%s, %s, %s, %s) = %s, want %s", c.explicit, c.exporter, c.scrape, c.offset, got, c.want)
		}
	}
	for h, want := range map[string]time.Duration{"": 0, "10": 10 * s, "0.3": 300 * time.Millisecond, "x": 0, "-1": 0, "1e9": 0, "NaN": 0} {
		if got := ParseScrapeTimeout(h); got != want {
			t.Errorf("ParseScrapeTimeout(%q) = %s, want %s", h, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]Class{
		nil:                                      Success,
		fmt.Errorf("x: %w", exporter.ErrTimeout): Timeout,
		context.DeadlineExceeded:                 Timeout,
		context.Canceled:                         Canceled,
		fmt.Errorf("x: %w", exporter.ErrInvalidOutput):  InvalidOutput,
		fmt.Errorf("x: %w", exporter.ErrOutputTooLarge): OutputTooLarge,
		fmt.Errorf("x: %w", exporter.ErrNoMetrics):      NoMetrics,
		ErrOverloaded:               Overloaded,
		errors.New("anything else"): Failure,
	} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %s, want %s", err, got, want)
		}
	}
	for c, want := range map[Class]int{Success: 200, Overloaded: 503, Timeout: 504, Failure: 500, InvalidOutput: 500} {
		if got := c.Status(); got != want {
			t.Errorf("%s.Status() = %d, want %d", c, got, want)
		}
	}
}

// TestOutcomeSeries: every encoded answer ends with success, duration and
// (for a process) the exit code; on_failure: report answers a failure
// with success 0 and its class as the reason.
func TestOutcomeSeries(t *testing.T) {
	fails := &fake{name: "fails", fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
		return &exporter.Result{ExitCode: 3, Stderr: []byte("password=hunter2")}, fmt.Errorf("%w: exited with code 3: password=hunter2", exporter.ErrFailed)
	}}
	ok := &fake{name: "ok"}
	bi := &fake{name: "bi", kind: exporter.KindBuiltin}
	e := newEngine(t, Limits{},
		&exporter.Entry{Exporter: fails, OnFailure: exporter.OnFailureReport},
		&exporter.Entry{Exporter: ok}, &exporter.Entry{Exporter: bi})
	do := func(x string, f expfmt.Format) *Answer {
		entry, _ := e.Exporters().Get(x)
		return e.Do(context.Background(), &Request{Entry: entry, Format: f})
	}
	text := expfmt.NewFormat(expfmt.TypeTextPlain)
	om := expfmt.NewFormat(expfmt.TypeOpenMetrics)

	a := do("ok", text)
	body := string(a.Body)
	for _, want := range []string{"fake_value 1\n", "metricwrap_run_success 1\n", "metricwrap_run_duration_seconds ", "metricwrap_run_exit_code 0\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("answer lacks %q:\n%s", want, body)
		}
	}
	if b := string(do("bi", text).Body); strings.Contains(b, "exit_code") || !strings.Contains(b, "metricwrap_run_success 1") {
		t.Errorf("built-in answer:\n%s", b)
	}
	if b := string(do("ok", om).Body); !strings.HasSuffix(b, "\n# EOF\n") || strings.Count(b, "# EOF") != 1 || !strings.Contains(b, "metricwrap_run_exit_code 0") {
		t.Errorf("OpenMetrics answer must end with the outcome series and one # EOF:\n%s", b)
	}

	a = do("fails", text)
	body = string(a.Body)
	if a.Err == nil || a.Class != Failure {
		t.Fatalf("report answer: err %v, class %s", a.Err, a.Class)
	}
	for _, want := range []string{`metricwrap_run_success{reason="failure"} 0`, "metricwrap_run_exit_code 3"} {
		if !strings.Contains(body, want) {
			t.Errorf("report answer lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "hunter2") {
		t.Errorf("report answer quotes the exporter's stderr:\n%s", body)
	}

	// on_failure: error (the default) has no body to serve.
	fails2 := &fake{name: "err", fn: fails.fn}
	e2 := newEngine(t, Limits{}, &exporter.Entry{Exporter: fails2})
	entry, _ := e2.Exporters().Get("err")
	if a := e2.Do(context.Background(), &Request{Entry: entry, Format: text}); a.Body != nil || a.Class.Status() != 500 {
		t.Fatalf("on_failure error: body %q, status %d", a.Body, a.Class.Status())
	}
}

// TestCacheBoundedInBytes: the cache holds encoded answers up to its byte
// bound, least recently used out first, and drops expired entries.
func TestCacheBoundedInBytes(t *testing.T) {
	c := newResultCache(10 << 10)
	now := time.Now()
	body := make([]byte, 3<<10)
	for i := range 5 {
		c.put(&cached{key: fmt.Sprint(i), body: body, expires: now.Add(time.Hour)}, now)
	}
	bytes, n := c.stats()
	if bytes > 10<<10 || n != 3 {
		t.Fatalf("cache holds %d bytes in %d entries; bound 10 KiB, want the last 3", bytes, n)
	}
	if e, _ := c.get("0", now); e != nil {
		t.Fatal("the oldest entry survived")
	}
	if _, fresh := c.get("4", now); !fresh {
		t.Fatal("the newest entry is gone")
	}
	c.put(&cached{key: "huge", body: make([]byte, 20<<10), expires: now.Add(time.Hour)}, now)
	if e, _ := c.get("huge", now); e != nil {
		t.Fatal("an answer larger than the whole cache was kept")
	}
	later := now.Add(2 * time.Hour)
	c.put(&cached{key: "stale", body: []byte("x"), stale: true}, later)
	if bytes, n := c.stats(); n != 1 || bytes != (&cached{key: "stale", body: []byte("x")}).size() {
		t.Fatalf("after expiry: %d entries, %d bytes; want only the stale_on_error entry", n, bytes)
	}
	if e, fresh := c.get("stale", later.Add(time.Hour)); e == nil || fresh {
		t.Fatal("a stale_on_error entry must stay (as a fallback, never as a hit)")
	}
}

// TestCacheKeepsEncodedAnswers: a hit repeats the first run's answer in
// the format asked for, re-encoded when another format is asked.
func TestCacheKeepsEncodedAnswers(t *testing.T) {
	var v atomic.Int64
	f := &fake{name: "x", fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
		return gaugeResult(float64(v.Add(1))), nil
	}}
	e := newEngine(t, Limits{}, &exporter.Entry{Exporter: f, CacheTTL: time.Hour})
	entry, _ := e.Exporters().Get("x")
	om := expfmt.NewFormat(expfmt.TypeOpenMetrics)
	text := expfmt.NewFormat(expfmt.TypeTextPlain)
	first := e.Do(context.Background(), &Request{Entry: entry, Format: om})
	hit := e.Do(context.Background(), &Request{Entry: entry, Format: om})
	other := e.Do(context.Background(), &Request{Entry: entry, Format: text})
	if f.runs.Load() != 1 || !hit.Repeated || !other.Repeated {
		t.Fatalf("%d runs for three requests within cache_ttl", f.runs.Load())
	}
	if !strings.Contains(string(first.Body), "metricwrap_exporter_cached 0") || !strings.Contains(string(hit.Body), "metricwrap_exporter_cached 1") {
		t.Fatalf("marker:\n%s\n%s", first.Body, hit.Body)
	}
	if !strings.Contains(string(other.Body), "fake_value 1") || strings.Contains(string(other.Body), "# EOF") {
		t.Fatalf("text answer from an OpenMetrics entry:\n%s", other.Body)
	}
	if b, n := e.cacheStats(); n != 1 || b <= 0 {
		t.Fatalf("cache stats %d bytes %d entries", b, n)
	}
}

// TestOneExporterCannotHoldEverySlot: a slow exporter hammered with
// distinct requests gets its share of the slots, and a fast exporter's
// request is served in the slots left, without waiting for the slow runs.
func TestOneExporterCannotHoldEverySlot(t *testing.T) {
	release := make(chan struct{})
	var slowRunning atomic.Int64
	slow := &fake{name: "slow", fn: func(ctx context.Context, _ *exporter.Request) (*exporter.Result, error) {
		slowRunning.Add(1)
		defer slowRunning.Add(-1)
		select {
		case <-release:
			return gaugeResult(1), nil
		case <-ctx.Done():
			return nil, fmt.Errorf("%w", exporter.ErrTimeout)
		}
	}}
	fast := &fake{name: "fast"}
	e := newEngine(t, Limits{MaxConcurrency: 4},
		&exporter.Entry{Exporter: slow, Timeout: time.Minute}, &exporter.Entry{Exporter: fast, Timeout: time.Minute})
	slowEntry, _ := e.Exporters().Get("slow")
	fastEntry, _ := e.Exporters().Get("fast")
	text := expfmt.NewFormat(expfmt.TypeTextPlain)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			e.Do(context.Background(), &Request{Entry: slowEntry, Params: map[string]string{"target": fmt.Sprint(i)}, Format: text})
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for slowRunning.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	a := e.Do(context.Background(), &Request{Entry: fastEntry, Format: text})
	if a.Err != nil {
		t.Fatalf("fast exporter starved: %v", a.Err)
	}
	if n := slowRunning.Load(); n != 2 {
		t.Fatalf("%d slow runs at once; the fair share of 4 slots between 2 exporters is 2", n)
	}
	close(release)
	wg.Wait()
}

// TestWaitingIsFairAcrossExporters: when slots free, exporters with
// waiters take turns, whatever order their requests came in.
func TestWaitingIsFairAcrossExporters(t *testing.T) {
	l := newLimiter(1, 1, nil)
	ctx := context.Background()
	if err := l.acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	var order []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	queued := 0
	start := func(name string) {
		wg.Go(func() {
			if err := l.acquire(ctx, name); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			l.release(name)
		})
		// Wait until it queues, so the arrival order is known.
		queued++
		for {
			l.mu.Lock()
			n := waiting(l)
			l.mu.Unlock()
			if n == queued {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	for range 3 {
		start("a")
	}
	start("b")
	l.release("a")
	wg.Wait()
	if len(order) != 4 || order[0] != "a" || order[1] != "b" {
		t.Fatalf("order %v: b, which came after three of a, must have the second slot", order)
	}
}

// waiting counts l's waiters; call it with l.mu held.
func waiting(l *limiter) int {
	n := 0
	for _, x := range l.byName {
		n += len(x.waiters)
	}
	return n
}

// TestWaiterGivesUpAtItsDeadline: a request that finds no slot before its
// context ends gets ErrOverloaded and leaves nothing behind.
func TestWaiterGivesUpAtItsDeadline(t *testing.T) {
	l := newLimiter(1, 1, nil)
	if err := l.acquire(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(ctx, "b"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("err %v, want ErrOverloaded", err)
	}
	l.release("a")
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inUse != 0 || len(l.byName) != 0 || len(l.ring) != 0 {
		t.Fatalf("limiter not empty: inUse %d, lanes %d, ring %d", l.inUse, len(l.byName), len(l.ring))
	}
}
