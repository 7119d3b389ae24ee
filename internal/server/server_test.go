package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/run"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeExporter counts its runs and does whatever fn says.
type fakeExporter struct {
	name   string
	params exporter.Params
	runs   atomic.Int64
	fn     func(ctx context.Context, req *exporter.Request) (*exporter.Result, error)
}

func (f *fakeExporter) Name() string            { return f.name }
func (f *fakeExporter) Kind() string            { return exporter.KindCommand }
func (f *fakeExporter) Job() string             { return f.name }
func (f *fakeExporter) Params() exporter.Params { return f.params }
func (f *fakeExporter) Run(ctx context.Context, req *exporter.Request) (*exporter.Result, error) {
	f.runs.Add(1)
	if f.fn == nil {
		return okResult(1), nil
	}
	return f.fn(ctx, req)
}

func okResult(v float64) *exporter.Result {
	return &exporter.Result{
		Families: []*dto.MetricFamily{{
			Name:   strPtr("fake_value"),
			Help:   strPtr("A value."),
			Type:   dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}},
		}},
		Raw:      []byte(fmt.Sprintf("fake_value %g\n", v)),
		Stdout:   []byte("out"),
		Stderr:   []byte("err"),
		Duration: time.Millisecond,
	}
}

func newTestServer(t *testing.T, o Options, entries ...*exporter.Entry) (*Server, *httptest.Server) {
	t.Helper()
	set, err := exporter.NewSet(entries...)
	if err != nil {
		t.Fatal(err)
	}
	if o.Engine != nil {
		o.Engine.SetExporters(set, run.Limits{})
	}
	s := New(set, o)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// limitTo bounds s's runs to n from now on, as a reload of the same
// exporters with max_concurrency n would.
func limitTo(s *Server, n int) {
	s.Engine().SetExporters(s.Engine().Exporters(), run.Limits{MaxConcurrency: n})
}

// withOffset is Options whose engine subtracts d from scrape timeouts.
func withOffset(d time.Duration) Options {
	reg := prometheus.NewRegistry()
	return Options{Registry: reg, Engine: run.New(run.Options{Registerer: reg, TimeoutOffset: d})}
}

// inFlight reads metricwrap_exporter_runs_in_flight from s's registry.
func inFlight(t *testing.T, s *Server) float64 {
	t.Helper()
	return metricValue(t, s, "metricwrap_exporter_runs_in_flight")
}

// metricValue reads the counter or gauge name{labels} (name, value pairs)
// from s's registry; 0 when it has no such series yet.
func metricValue(t *testing.T, s *Server, name string, labels ...string) float64 {
	t.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func get(t *testing.T, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestRunStatusCodes(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"ok", nil, 200, "fake_value 1"},
		{"failed", fmt.Errorf("%w: exit status 3", exporter.ErrFailed), 500, "exporter failed with exit code"},
		{"invalid", fmt.Errorf("%w: line 2: bad", exporter.ErrInvalidOutput), 500, "invalid exposition: line 2: bad"},
		{"too-large", exporter.ErrOutputTooLarge, 500, "exporter output too large"},
		{"timeout", exporter.ErrTimeout, 504, "exporter timed out"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeExporter{name: "x", fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
				if c.err != nil {
					return okResult(0), c.err
				}
				return okResult(1), nil
			}}
			s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, Timeout: time.Second})
			status, body, _ := get(t, ts.URL+"/metrics/x")
			if status != c.status || !strings.Contains(body, c.body) {
				t.Fatalf("got %d %q, want %d containing %q", status, body, c.status, c.body)
			}
			if got := testutil.ToFloat64(s.metrics.exporterRequests.WithLabelValues("/metrics/x", fmt.Sprint(c.status))); got != 1 {
				t.Fatalf("server_exporter_requests_total = %v, want 1", got)
			}
		})
	}
}

// TestFailedRunHidesStderr: a failing exporter's stderr may hold secrets;
// only the debug-enabled server puts it in the 500's body.
func TestFailedRunHidesStderr(t *testing.T) {
	f := &fakeExporter{name: "x", fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
		return &exporter.Result{ExitCode: 2, Stderr: []byte("connect postgres://u:hunter2@db failed")},
			fmt.Errorf("%w: exited with code 2: connect postgres://u:hunter2@db failed", exporter.ErrFailed)
	}}
	for _, debug := range []bool{false, true} {
		_, ts := newTestServer(t, Options{EnableDebug: debug}, &exporter.Entry{Exporter: f})
		status, body, _ := get(t, ts.URL+"/metrics/x")
		// With debug output the stderr is shown, the URL's password
		// still hidden.
		if status != 500 || strings.Contains(body, "hunter2") || strings.Contains(body, "connect postgres://u:xxxxx@db") != debug {
			t.Errorf("debug %v: %d %q", debug, status, body)
		}
		if !debug && !strings.Contains(body, "exit code 2") {
			t.Errorf("body %q does not say how the exporter ended", body)
		}
	}
}

func TestUnknownExporterIs404(t *testing.T) {
	f := &fakeExporter{name: "x"}
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f})
	for _, p := range []string{"/metrics/nope", "/metrics/..%2f..%2fbin%2fsh", "/metrics/%00", "/metrics/x%2f..", "/metrics/..", "/metrics/x/../../etc/passwd"} {
		// The mux cleans dot segments and redirects (the client follows to
		// the status page); what matters is that nothing ran.
		if status, body, _ := get(t, ts.URL+p); status != 404 && !strings.Contains(body, "<html") {
			t.Errorf("%s: status %d, want 404 or the status page", p, status)
		}
	}
	if n := f.runs.Load(); n != 0 {
		t.Fatalf("exporter ran %d times", n)
	}
}

// TestHostileParameters proves nothing runs for hostile input: the canary
// exporter counts every run.
func TestHostileParameters(t *testing.T) {
	canary := &fakeExporter{name: "canary", params: exporter.Params{
		"target": {Name: "target", Pattern: regexp.MustCompile(`^(?:[A-Za-z0-9.-]+)$`), Required: true},
		"region": {Name: "region", Pattern: regexp.MustCompile(`^(?:eu|us)$`), Default: "eu", PassAs: exporter.PassAsEnv, Env: "REGION"},
	}}
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: canary, Timeout: time.Second})
	cases := []struct{ name, query string }{
		{"semicolon", "target=a;rm"},
		{"raw semicolon", "target=a;b=c"},
		{"pipe", "target=a%7Cb"},
		{"subshell", "target=%24(id)"},
		{"backticks", "target=%60id%60"},
		{"newline", "target=a%0Ab"},
		{"nul", "target=a%00b"},
		{"dotdot", "target=..%2F..%2Fetc"},
		{"long", "target=" + strings.Repeat("a", 5000)},
		{"repeated", "target=a&target=b"},
		{"repeated alias", "target=a&--target=b"},
		{"unknown", "target=a&evil=1"},
		{"env denylisted name", "target=a&LD_PRELOAD=x"},
		{"env name", "target=a&PATH=/tmp"},
		{"missing required", "region=eu"},
		{"bad region", "target=a&region=cn"},
		{"malformed escape", "target=%zz"},
		{"space", "target=a+b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := get(t, ts.URL+"/metrics/canary?"+c.query)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d (%q), want 400", status, body)
			}
		})
	}
	if n := canary.runs.Load(); n != 0 {
		t.Fatalf("canary ran %d times for hostile input", n)
	}
	// The same exporter runs for good input, through both query forms.
	for _, q := range []string{"target=core-sw01", "--target=core-sw01&region=us"} {
		if status, body, _ := get(t, ts.URL+"/metrics/canary?"+q); status != 200 {
			t.Fatalf("%s: status %d %q", q, status, body)
		}
	}
	if n := canary.runs.Load(); n != 2 {
		t.Fatalf("canary ran %d times, want 2", n)
	}
}

func TestParameterErrorNamesTheParameter(t *testing.T) {
	f := &fakeExporter{name: "x", params: exporter.Params{
		"target": {Name: "target", Pattern: regexp.MustCompile(`^(?:[a-z]+)$`), Required: true},
	}}
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f})
	for q, want := range map[string]string{
		"":             `parameter "target": required`,
		"target=A":     `parameter "target": value does not match`,
		"target=a&x=1": `parameter "x": unknown parameter`,
	} {
		status, body, _ := get(t, ts.URL+"/metrics/x?"+q)
		if status != 400 || !strings.Contains(body, want) {
			t.Errorf("?%s: %d %q, want 400 with %q", q, status, body, want)
		}
	}
}

func TestTimeoutFromScrapeHeader(t *testing.T) {
	var got atomic.Int64
	// The bound reaches the exporter only as its context's deadline.
	f := &fakeExporter{name: "x", fn: func(ctx context.Context, _ *exporter.Request) (*exporter.Result, error) {
		if d, ok := ctx.Deadline(); ok {
			got.Store(int64(time.Until(d)))
		}
		return okResult(1), nil
	}}
	_, ts := newTestServer(t, withOffset(500*time.Millisecond), &exporter.Entry{Exporter: f, Timeout: 20 * time.Second})
	cases := []struct {
		header string
		want   time.Duration
	}{
		{"", 20 * time.Second},
		{"10", 9500 * time.Millisecond},
		{"60", 20 * time.Second},
		{"0.3", 300 * time.Millisecond},
		{"garbage", 20 * time.Second},
	}
	for _, c := range cases {
		var h []string
		if c.header != "" {
			h = []string{"X-Prometheus-Scrape-Timeout-Seconds", c.header}
		}
		if status, _, _ := get(t, ts.URL+"/metrics/x", h...); status != 200 {
			t.Fatalf("status %d", status)
		}
		// What is left of the deadline when the run starts: a little
		// under the bound.
		if d := time.Duration(got.Load()); d > c.want || d < c.want-time.Second {
			t.Errorf("header %q: timeout %s, want %s", c.header, d, c.want)
		}
	}
}

// blockingExporter runs until released or cancelled.
func blockingExporter(name string, release <-chan struct{}, canceled *atomic.Int64) *fakeExporter {
	return &fakeExporter{name: name, fn: func(ctx context.Context, _ *exporter.Request) (*exporter.Result, error) {
		select {
		case <-release:
			return okResult(1), nil
		case <-ctx.Done():
			if canceled != nil {
				canceled.Add(1)
			}
			return nil, fmt.Errorf("%w: %w", exporter.ErrTimeout, ctx.Err())
		}
	}}
}

func TestCoalescing(t *testing.T) {
	release := make(chan struct{})
	f := blockingExporter("slow", release, nil)
	s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, Timeout: 10 * time.Second})
	limitTo(s, 2)
	const n = 100
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i], _, _ = get(t, ts.URL+"/metrics/slow")
		}(i)
	}
	// Release the run once every request has joined it.
	waitFor(t, func() bool {
		return metricValue(t, s, "metricwrap_exporter_coalesced_requests_total", "exporter", "slow") == n-1
	})
	close(release)
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Fatalf("request %d: status %d", i, st)
		}
	}
	if runs := f.runs.Load(); runs != 1 {
		t.Fatalf("%d runs for %d identical requests, want 1", runs, n)
	}
}

func TestDistinctParamsAreNotCoalesced(t *testing.T) {
	f := &fakeExporter{name: "x", params: exporter.Params{"target": {Name: "target"}}}
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f})
	get(t, ts.URL+"/metrics/x?target=a")
	get(t, ts.URL+"/metrics/x?target=b")
	if n := f.runs.Load(); n != 2 {
		t.Fatalf("runs = %d, want 2", n)
	}
}

func TestClientDisconnectCancelsRun(t *testing.T) {
	var canceled atomic.Int64
	f := blockingExporter("slow", make(chan struct{}), &canceled)
	s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/metrics/slow", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { return inFlight(t, s) == 1 })
	cancel()
	<-done
	waitFor(t, func() bool { return canceled.Load() == 1 })
	waitFor(t, func() bool { return inFlight(t, s) == 0 })
}

func TestDisconnectKeepsRunOthersWaitOn(t *testing.T) {
	release := make(chan struct{})
	var canceled atomic.Int64
	f := blockingExporter("slow", release, &canceled)
	s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/metrics/slow", nil)
	first := make(chan struct{})
	go func() {
		defer close(first)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { return inFlight(t, s) == 1 })
	second := make(chan int)
	go func() {
		st, _, _ := get(t, ts.URL+"/metrics/slow")
		second <- st
	}()
	waitFor(t, func() bool {
		return metricValue(t, s, "metricwrap_exporter_coalesced_requests_total", "exporter", "slow") == 1
	})
	cancel()
	<-first
	close(release)
	if st := <-second; st != 200 {
		t.Fatalf("second waiter got %d, want 200", st)
	}
	if canceled.Load() != 0 {
		t.Fatal("run was cancelled although a request still waited on it")
	}
}

func TestOverloadIs503(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := blockingExporter("slow", release, nil)
	f.params = exporter.Params{"target": {Name: "target"}}
	s, ts := newTestServer(t, withOffset(0), &exporter.Entry{Exporter: f, Timeout: time.Minute})
	limitTo(s, 1)
	go func() { get(t, ts.URL+"/metrics/slow?target=a") }()
	waitFor(t, func() bool { return inFlight(t, s) == 1 })
	status, body, _ := get(t, ts.URL+"/metrics/slow?target=b", "X-Prometheus-Scrape-Timeout-Seconds", "0.2")
	if status != 503 {
		t.Fatalf("status %d %q, want 503", status, body)
	}
	if got := metricValue(t, s, "metricwrap_exporter_overloaded_total", "exporter", "slow"); got != 1 {
		t.Fatalf("overloaded counter = %v", got)
	}
}

func TestCacheTTLAndStaleOnError(t *testing.T) {
	var fail atomic.Bool
	var value atomic.Int64
	f := &fakeExporter{name: "x", fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
		if fail.Load() {
			return nil, fmt.Errorf("%w: exit status 1", exporter.ErrFailed)
		}
		return okResult(float64(value.Add(1))), nil
	}}
	t.Run("ttl", func(t *testing.T) {
		s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, CacheTTL: time.Hour})
		_, b1, _ := get(t, ts.URL+"/metrics/x")
		_, b2, _ := get(t, ts.URL+"/metrics/x")
		if !strings.Contains(b1, "fake_value 1") || !strings.Contains(b2, "fake_value 1") {
			t.Fatalf("cached answer differs: %q vs %q", b1, b2)
		}
		if !strings.Contains(b1, "metricwrap_exporter_cached 0") || !strings.Contains(b2, "metricwrap_exporter_cached 1") {
			t.Fatalf("cache marker missing: %q / %q", b1, b2)
		}
		if got := metricValue(t, s, "metricwrap_exporter_cache_hits_total", "exporter", "x"); got != 1 {
			t.Fatalf("cache hits %v", got)
		}
	})
	t.Run("stale", func(t *testing.T) {
		value.Store(10)
		fail.Store(false)
		_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, StaleOnError: true})
		if status, body, _ := get(t, ts.URL+"/metrics/x"); status != 200 || !strings.Contains(body, "fake_value 11") {
			t.Fatalf("first: %d %q", status, body)
		}
		fail.Store(true)
		status, body, _ := get(t, ts.URL+"/metrics/x")
		if status != 200 || !strings.Contains(body, "fake_value 11") || !strings.Contains(body, "metricwrap_exporter_cached 1") {
			t.Fatalf("stale: %d %q", status, body)
		}
	})
	t.Run("no stale without option", func(t *testing.T) {
		fail.Store(true)
		_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f})
		if status, _, _ := get(t, ts.URL+"/metrics/x"); status != 500 {
			t.Fatalf("status %d, want 500", status)
		}
	})
}

func TestDebug(t *testing.T) {
	f := &fakeExporter{name: "x", fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
		r := okResult(1)
		r.ExitCode = 2
		r.MetricsFilename = "/tmp/x/metrics.prom"
		return r, fmt.Errorf("%w: exit status 2", exporter.ErrFailed)
	}}
	t.Run("disabled", func(t *testing.T) {
		_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f})
		if status, _, _ := get(t, ts.URL+"/metrics/x?debug=1"); status != 403 {
			t.Fatalf("status %d, want 403", status)
		}
	})
	t.Run("enabled", func(t *testing.T) {
		_, ts := newTestServer(t, Options{EnableDebug: true}, &exporter.Entry{Exporter: f})
		status, body, h := get(t, ts.URL+"/metrics/x?debug=1")
		if status != 500 || h.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"returncode", "stdout", "stderr", "metrics_filename", "metrics", "duration_seconds", "error"} {
			if _, ok := m[k]; !ok {
				t.Errorf("debug JSON lacks %q: %s", k, body)
			}
		}
		if m["returncode"] != 2.0 || m["stdout"] != "out" || m["stderr"] != "err" || m["metrics"] != "fake_value 1\n" {
			t.Fatalf("debug JSON values: %s", body)
		}
	})
}

func TestNegotiationAndGzip(t *testing.T) {
	f := &fakeExporter{name: "x"}
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f})
	_, body, h := get(t, ts.URL+"/metrics/x", "Accept", "application/openmetrics-text;version=1.0.0")
	if !strings.HasPrefix(h.Get("Content-Type"), "application/openmetrics-text") || !strings.HasSuffix(body, "# EOF\n") {
		t.Fatalf("openmetrics: %q %q", h.Get("Content-Type"), body)
	}
	_, body, h = get(t, ts.URL+"/metrics/x")
	if !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") || strings.Contains(body, "# EOF") {
		t.Fatalf("text: %q %q", h.Get("Content-Type"), body)
	}
	// A client that asks for gzip gets it (the transport's own gzip is off
	// because the header is set by hand).
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/metrics/x", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(plain))
	if err != nil || fams["fake_value"] == nil {
		t.Fatalf("gzip body did not parse: %v %q", err, plain)
	}
}

func TestSelfMetrics(t *testing.T) {
	f := &fakeExporter{name: "x"}
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f})
	get(t, ts.URL+"/metrics/x")
	get(t, ts.URL+"/metrics/nope")
	_, body, _ := get(t, ts.URL+"/metrics")
	for _, want := range []string{
		`server_requests_total{status="200"} 1`,
		`server_requests_total{status="404"} 1`,
		`server_exporter_requests_total{path="/metrics/x",status="200"} 1`,
		`server_exporter_seconds_total{path="/metrics/x"}`,
		`server_uptime_seconds_total`,
		`metricwrap_exporter_runs_total{exporter="x",outcome="success"} 1`,
		`metricwrap_exporter_run_duration_seconds_bucket{exporter="x"`,
		`metricwrap_exporter_runs_in_flight 0`,
		`metricwrap_cache_bytes 0`,
		`metricwrap_cache_entries 0`,
		`metricwrap_build_info{`,
		`go_goroutines`,
		`process_open_fds`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("own metrics lack %q", want)
		}
	}
	if strings.Contains(body, `path="/metrics/nope"`) {
		t.Error("a 404 was counted as an exporter request")
	}
}

func TestReload(t *testing.T) {
	a := &fakeExporter{name: "a"}
	b := &fakeExporter{name: "b"}
	var fail atomic.Bool
	var s *Server
	reload := func() error {
		if fail.Load() {
			return errors.New("metricwrap.yml:3: exporters.b: unknown key \"comand\"")
		}
		set, err := exporter.NewSet(&exporter.Entry{Exporter: b})
		if err == nil {
			s.Engine().SetExporters(set, run.Limits{})
		}
		return err
	}
	s, ts := newTestServer(t, Options{Reload: reload, EnableLifecycle: true}, &exporter.Entry{Exporter: a})
	if status, _, _ := get(t, ts.URL+"/metrics/b"); status != 404 {
		t.Fatalf("b before reload: %d", status)
	}
	resp, err := http.Post(ts.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload status %d", resp.StatusCode)
	}
	if status, _, _ := get(t, ts.URL+"/metrics/b"); status != 200 {
		t.Fatalf("b after reload: %d", status)
	}
	fail.Store(true)
	resp, err = http.Post(ts.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("bad reload status %d", resp.StatusCode)
	}
	if status, _, _ := get(t, ts.URL+"/metrics/b"); status != 200 {
		t.Fatalf("old config not kept after a bad reload: %d", status)
	}
	if status, _, _ := get(t, ts.URL+"/-/reload"); status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: %d, want 405", status)
	}
}

func TestStatusPageAndAPI(t *testing.T) {
	f := &fakeExporter{name: "cisco", params: exporter.Params{
		"target": {Name: "target", Pattern: regexp.MustCompile(`^(?:[a-z]+)$`), Required: true},
	}}
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, Timeout: 20 * time.Second})
	get(t, ts.URL+"/metrics/cisco?target=core")
	status, body, h := get(t, ts.URL+"/")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("status page: %d %q", status, h.Get("Content-Type"))
	}
	for _, want := range []string{"<code>cisco</code>", "command", "target", "success", `href="/metrics/cisco?target="`} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	_, body, _ = get(t, ts.URL+"/api/v1/exporters")
	var api struct {
		Exporters []exporterInfo `json:"exporters"`
	}
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		t.Fatal(err)
	}
	if len(api.Exporters) != 1 || api.Exporters[0].Name != "cisco" || api.Exporters[0].LastRun == nil ||
		api.Exporters[0].LastRun.Outcome != "success" || len(api.Exporters[0].Params) != 1 {
		t.Fatalf("api: %s", body)
	}
	if status, _, _ := get(t, ts.URL+"/nope"); status != 404 {
		t.Fatalf("unknown path: %d", status)
	}
}

// warmFake is a fakeExporter that runs warm too.
type warmFake struct{ *fakeExporter }

func (w warmFake) RunWarm(context.Context, *exporter.Request) (*exporter.Result, error) {
	return okResult(2), nil
}

// TestStatusShowsWarmRuns: a warm run is marked so on the status page and
// in the API; a cold one is not.
func TestStatusShowsWarmRuns(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := Options{Registry: reg, Engine: run.New(run.Options{Registerer: reg, Warm: true})}
	_, ts := newTestServer(t, o,
		&exporter.Entry{Exporter: warmFake{&fakeExporter{name: "hot"}}, Warm: true},
		&exporter.Entry{Exporter: warmFake{&fakeExporter{name: "cool"}}})
	get(t, ts.URL+"/metrics/hot")
	get(t, ts.URL+"/metrics/cool")
	if _, body, _ := get(t, ts.URL+"/"); strings.Count(body, "(warm)") != 1 {
		t.Errorf("status page: want one run marked (warm):\n%s", body)
	}
	_, body, _ := get(t, ts.URL+"/api/v1/exporters")
	var api struct {
		Exporters []exporterInfo `json:"exporters"`
	}
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		t.Fatal(err)
	}
	warm := map[string]bool{}
	for _, x := range api.Exporters {
		if x.LastRun == nil {
			t.Fatalf("api: %s has no run: %s", x.Name, body)
		}
		warm[x.Name] = x.LastRun.Warm
	}
	if !warm["hot"] || warm["cool"] {
		t.Errorf("api: warm %v, want hot only:\n%s", warm, body)
	}
}

func TestHealthAndReady(t *testing.T) {
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: &fakeExporter{name: "x"}})
	for _, p := range []string{"/-/healthy", "/-/ready"} {
		if status, _, _ := get(t, ts.URL+p); status != 200 {
			t.Fatalf("%s: %d", p, status)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ = prometheus.NewRegistry

func TestCloseCancelsRunsAndWaits(t *testing.T) {
	var canceled atomic.Int64
	f := blockingExporter("slow", make(chan struct{}), &canceled)
	s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, Timeout: time.Minute})
	done := make(chan int)
	go func() {
		st, _, _ := get(t, ts.URL+"/metrics/slow")
		done <- st
	}()
	waitFor(t, func() bool { return inFlight(t, s) == 1 })
	s.Engine().Close()
	if canceled.Load() != 1 {
		t.Fatal("Close returned while a run was still going")
	}
	<-done
	if inFlight(t, s) != 0 {
		t.Fatal("a run is still in flight after Close")
	}
}

func TestSetMaxConcurrency(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := blockingExporter("slow", release, nil)
	f.params = exporter.Params{"target": {Name: "target"}}
	s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: f, Timeout: time.Minute})
	limitTo(s, 1)
	go func() { get(t, ts.URL+"/metrics/slow?target=a") }()
	waitFor(t, func() bool { return inFlight(t, s) == 1 })
	limitTo(s, 2)
	go func() { get(t, ts.URL+"/metrics/slow?target=b") }()
	waitFor(t, func() bool { return inFlight(t, s) == 2 })
}

// TestRequestsAfterReloadDoNotJoinOldRuns: a run of the old definition that
// is still in flight is not shared with requests made after a reload.
func TestRequestsAfterReloadDoNotJoinOldRuns(t *testing.T) {
	release := make(chan struct{})
	old := blockingExporter("x", release, nil)
	s, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: old, Timeout: time.Minute})
	first := make(chan struct{})
	go func() {
		defer close(first)
		get(t, ts.URL+"/metrics/x")
	}()
	waitFor(t, func() bool { return inFlight(t, s) == 1 })
	fresh := &fakeExporter{name: "x"}
	set, _ := exporter.NewSet(&exporter.Entry{Exporter: fresh})
	s.Engine().SetExporters(set, run.Limits{})
	if status, body, _ := get(t, ts.URL+"/metrics/x"); status != 200 || !strings.Contains(body, "fake_value 1") {
		t.Fatalf("after reload: %d %q", status, body)
	}
	if fresh.runs.Load() != 1 {
		t.Fatal("the request after the reload joined the old definition's run")
	}
	close(release)
	<-first
}

// TestRunEntryIsLimitedAndRecorded: a scheduled run takes a run slot and
// shows on the status page like a request's run.
func TestRunEntryIsLimitedAndRecorded(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := blockingExporter("slow", release, nil)
	sched := &fakeExporter{name: "sched"}
	s, ts := newTestServer(t, Options{},
		&exporter.Entry{Exporter: slow, Timeout: time.Minute}, &exporter.Entry{Exporter: sched, Timeout: 200 * time.Millisecond})
	limitTo(s, 1)
	go func() { get(t, ts.URL+"/metrics/slow") }()
	waitFor(t, func() bool { return inFlight(t, s) == 1 })
	e, _ := s.Engine().Exporters().Get("sched")
	scheduled := func() error { return s.Engine().Do(context.Background(), &run.Request{Entry: e}).Err }
	if err := scheduled(); !errors.Is(err, run.ErrOverloaded) {
		t.Fatalf("error %v: a scheduled run must wait for a slot like any other", err)
	}
	if sched.runs.Load() != 0 {
		t.Fatal("ran past the limit")
	}
	limitTo(s, 2)
	if err := scheduled(); err != nil {
		t.Fatal(err)
	}
	if r, ok := s.Engine().Last("sched"); !ok || r.Outcome != run.Success {
		t.Fatalf("history %+v %v", r, ok)
	}
}
func strPtr(s string) *string { return &s }

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"gzip": true, "gzip, deflate": true, "deflate, gzip;q=0.5": true, "GZIP": true, "x-gzip": true,
		"gzip;q=0": false, "gzip; q=0.0": false, "*": true, "*;q=0": false, "gzip;q=0, *": false,
		"": false, "identity": false, "br": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

// TestGzipRefusedIsPlain: Accept-Encoding gzip;q=0 gets an uncompressed
// answer with its length.
func TestGzipRefusedIsPlain(t *testing.T) {
	_, ts := newTestServer(t, Options{}, &exporter.Entry{Exporter: &fakeExporter{name: "x"}})
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/metrics/x", nil)
	req.Header.Set("Accept-Encoding", "gzip;q=0")
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(body), "fake_value 1") {
		t.Fatalf("Content-Encoding %q, body %q", resp.Header.Get("Content-Encoding"), body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Fatalf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
	}
}

// TestOnFailureReport: a failed run of an `on_failure: report` exporter
// answers 200 with success 0 and its reason, and nothing of its stderr;
// the default answers 500 as before. Both carry nothing of the failure's
// text over a 200.
func TestOnFailureReport(t *testing.T) {
	fn := func(context.Context, *exporter.Request) (*exporter.Result, error) {
		return &exporter.Result{ExitCode: 2, Stderr: []byte("token=s3cr3t")}, fmt.Errorf("%w: exited with code 2: token=s3cr3t", exporter.ErrFailed)
	}
	_, ts := newTestServer(t, Options{},
		&exporter.Entry{Exporter: &fakeExporter{name: "report", fn: fn}, OnFailure: exporter.OnFailureReport},
		&exporter.Entry{Exporter: &fakeExporter{name: "error", fn: fn}})
	status, body, _ := get(t, ts.URL+"/metrics/report")
	if status != 200 || !strings.Contains(body, `metricwrap_run_success{reason="failure"} 0`) ||
		!strings.Contains(body, "metricwrap_run_exit_code 2") || strings.Contains(body, "s3cr3t") {
		t.Fatalf("report: %d %q", status, body)
	}
	if status, body, _ := get(t, ts.URL+"/metrics/error"); status != 500 || strings.Contains(body, "s3cr3t") {
		t.Fatalf("error: %d %q", status, body)
	}
	if status, body, _ := get(t, ts.URL+"/metrics/report?target=x"); status != 400 {
		t.Fatalf("bad parameters stay a 400 under report: %d %q", status, body)
	}
}
