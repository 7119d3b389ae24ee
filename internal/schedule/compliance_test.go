package schedule_test

// The remote-write sender cases of prometheus/compliance
// (remote_write_sender/cases, 19 of them), rewritten against metricwrap:
// each case serves an exporter's page, a scrape exporter named "test" is
// scheduled to read it and deliver to a remote write sink, and a receiver
// decodes what arrives and checks what the case checks. The harness is
// ours; the assertions are the cases'.

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/delivery"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/schedule"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
)

// rwSample is one received sample: its labels (name=value, in the order
// sent), timestamp and value.
type rwSample struct {
	labels []string
	t      int64
	v      float64
}

func (s rwSample) label(name string) (string, bool) {
	for _, l := range s.labels {
		if n, v, _ := strings.Cut(l, "="); n == name {
			return v, true
		}
	}
	return "", false
}

// has reports whether s carries every name=value of want.
func (s rwSample) has(want ...string) bool {
	for _, w := range want {
		if !slices.Contains(s.labels, w) {
			return false
		}
	}
	return true
}

// receiver decodes remote write 1.0 requests; each accepted request is a
// batch, in the order accepted.
type receiver struct {
	mu      sync.Mutex
	batches [][]rwSample
}

func decodeWrite(body []byte) ([]rwSample, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, err
	}
	var out []rwSample
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 || typ != protowire.BytesType || num != 1 {
			return nil, fmt.Errorf("bad WriteRequest field %d", num)
		}
		raw = raw[n:]
		ts, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			return nil, fmt.Errorf("bad TimeSeries")
		}
		raw = raw[n:]
		var labels []string
		var samples []rwSample
		for len(ts) > 0 {
			num, _, n := protowire.ConsumeTag(ts)
			ts = ts[n:]
			msg, n := protowire.ConsumeBytes(ts)
			if n < 0 {
				return nil, fmt.Errorf("bad TimeSeries field")
			}
			ts = ts[n:]
			switch num {
			case 1:
				var name, value string
				for len(msg) > 0 {
					f, _, n := protowire.ConsumeTag(msg)
					msg = msg[n:]
					s, n := protowire.ConsumeBytes(msg)
					msg = msg[n:]
					if f == 1 {
						name = string(s)
					} else {
						value = string(s)
					}
				}
				labels = append(labels, name+"="+value)
			case 2:
				var s rwSample
				for len(msg) > 0 {
					f, typ, n := protowire.ConsumeTag(msg)
					msg = msg[n:]
					if f == 1 && typ == protowire.Fixed64Type {
						v, n := protowire.ConsumeFixed64(msg)
						msg = msg[n:]
						s.v = math.Float64frombits(v)
					} else {
						v, n := protowire.ConsumeVarint(msg)
						msg = msg[n:]
						s.t = int64(v)
					}
				}
				samples = append(samples, s)
			}
		}
		for _, s := range samples {
			s.labels = labels
			out = append(out, s)
		}
	}
	return out, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	samples, err := decodeWrite(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.batches = append(r.batches, samples)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) samples() []rwSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []rwSample
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

// complianceCase is one case: the exporter's page, an optional
// middleware before the receiver, and the check of what arrived.
type complianceCase struct {
	name    string
	metrics http.Handler
	writes  func(next http.Handler) http.Handler
	check   func(t *testing.T, s []rwSample, start, end int64)
}

func collectorPage(cs ...prometheus.Collector) http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func staticPage(text string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, text) })
}

// matching returns the samples that carry every label of want.
func matching(s []rwSample, want ...string) []rwSample {
	var out []rwSample
	for _, x := range s {
		if x.has(want...) {
			out = append(out, x)
		}
	}
	return out
}

// withValue counts the samples with labels want, and fails on one of them
// whose value is not v (the cases' countMetricWithValue).
func withValue(t *testing.T, s []rwSample, v float64, want ...string) int {
	t.Helper()
	n := 0
	for _, x := range matching(s, want...) {
		if x.v != v {
			t.Errorf("%v = %v, want %v", x.labels, x.v, v)
		}
		n++
	}
	return n
}

func complianceCases() []complianceCase {
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "counter"})
	counterPage := collectorPage(counter)
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "histogram", Buckets: []float64{1, 2}})
	hist.Observe(1)
	hist.Observe(2)
	summary := prometheus.NewSummary(prometheus.SummaryOpts{Name: "summary", Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}})
	for _, v := range []float64{1, 2, 3} {
		summary.Observe(v)
	}
	now := func() prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "now"}, func() float64 { return float64(time.Now().UnixMilli()) })
	}
	constGauge := func() prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gauge"}, func() float64 { return 42 })
	}
	stale := prometheus.NewGauge(prometheus.GaugeOpts{Name: "stale"})
	staleReg := prometheus.NewPedanticRegistry()
	staleReg.MustRegister(stale)
	staleHandler := promhttp.HandlerFor(staleReg, promhttp.HandlerOpts{})
	var staleOnce sync.Once
	ordering := prometheus.NewPedanticRegistry()
	for i := range 1000 {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test", ConstLabels: prometheus.Labels{"i": strconv.Itoa(i)}})
		g.Set(1)
		ordering.MustRegister(g)
	}
	// firstRejected answers the first write with code and notes the
	// timestamp of its "now" sample.
	firstRejected := func(code int, ts *int64, mu *sync.Mutex) func(http.Handler) http.Handler {
		done := false
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if done {
					next.ServeHTTP(w, r)
					return
				}
				body, _ := io.ReadAll(r.Body)
				samples, _ := decodeWrite(body)
				*ts = -1
				for _, s := range matching(samples, "__name__=now") {
					*ts = s.t
				}
				done = true
				http.Error(w, http.StatusText(code), code)
			})
		}
	}
	var ts500, ts400 int64
	var mu500, mu400 sync.Mutex
	headerErrs := make(chan string, 100)

	return []complianceCase{
		{"Counter", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			counterPage.ServeHTTP(w, r)
			counter.Inc()
		}), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			want := 0.0
			got := matching(s, "__name__=counter")
			for _, x := range got {
				if x.v != want {
					t.Errorf("counter sample %v, want %v", x.v, want)
				}
				want++
			}
			if len(got) == 0 {
				t.Error(`found zero samples for {__name__="counter"}`)
			}
		}},
		{"Gauge", collectorPage(now()), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			got := matching(s, "__name__=now")
			for _, x := range got {
				if math.Abs(float64(x.t)-x.v) > 0.01*x.v {
					t.Errorf("now = %v at %d", x.v, x.t)
				}
			}
			if len(got) == 0 {
				t.Error(`found zero samples for {__name__="now"}`)
			}
		}},
		{"Histogram", collectorPage(hist), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			le1 := withValue(t, s, 1, "__name__=histogram_bucket", "le=1")
			le2 := withValue(t, s, 2, "__name__=histogram_bucket", "le=2")
			inf := withValue(t, s, 2, "__name__=histogram_bucket", "le=+Inf")
			sum := withValue(t, s, 3, "__name__=histogram_sum")
			count := withValue(t, s, 2, "__name__=histogram_count")
			if count == 0 || le1 != count || le2 != count || inf != count || sum != count {
				t.Errorf("count %d, le1 %d, le2 %d, inf %d, sum %d", count, le1, le2, inf, sum)
			}
		}},
		{"Summary", collectorPage(summary), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			p50 := withValue(t, s, 2, "__name__=summary", "quantile=0.5")
			p90 := withValue(t, s, 3, "__name__=summary", "quantile=0.9")
			p99 := withValue(t, s, 3, "__name__=summary", "quantile=0.99")
			sum := withValue(t, s, 6, "__name__=summary_sum")
			count := withValue(t, s, 3, "__name__=summary_count")
			if count == 0 || p50 != count || p90 != count || p99 != count || sum != count {
				t.Errorf("count %d, p50 %d, p90 %d, p99 %d, sum %d", count, p50, p90, p99, sum)
			}
		}},
		{"Up", collectorPage(constGauge()), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			if withValue(t, s, 1, "__name__=up", "job=test") == 0 {
				t.Error(`found zero samples for up{job="test"}`)
			}
		}},
		{"Invalid", staticPage("\n# this is not valid prometheus\n1234notvali}{ 444\n"), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			if withValue(t, s, 0, "__name__=up", "job=test") == 0 {
				t.Error(`found zero samples for up{job="test"} 0`)
			}
		}},
		{"JobLabel", collectorPage(constGauge()), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			if withValue(t, s, 42, "__name__=gauge", "job=test") == 0 {
				t.Error(`found zero samples for gauge{job="test"}`)
			}
		}},
		{"InstanceLabel", collectorPage(constGauge()), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			if withValue(t, s, 42, "__name__=gauge") == 0 {
				t.Error(`found zero samples for gauge`)
			}
			for _, x := range s {
				v, ok := x.label("instance")
				if !ok || !strings.HasPrefix(v, "127.0.0.1:") {
					t.Errorf("%v: instance %q, want 127.0.0.1:PORT", x.labels, v)
				}
			}
		}},
		{"SortedLabels", staticPage("# HELP test A gauge\n# TYPE test gauge\ntest{b=\"2\",a=\"1\"} 1.0\n"), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			for _, x := range s {
				if !sort.StringsAreSorted(x.labels) {
					t.Errorf("%v is not sorted", x.labels)
				}
			}
			if withValue(t, s, 1, "__name__=test", "a=1", "b=2") == 0 {
				t.Error(`found zero samples for test{a="1",b="2"}`)
			}
		}},
		{"RepeatedLabels", staticPage("# HELP test A gauge\n# TYPE test gauge\ntest{a=\"1\",a=\"1\"} 1.0\n"), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			for _, x := range s {
				seen := map[string]bool{}
				for _, l := range x.labels {
					n, _, _ := strings.Cut(l, "=")
					if seen[n] {
						t.Errorf("label %s repeated in %v", n, x.labels)
					}
					seen[n] = true
				}
			}
			if n := len(matching(s, "__name__=test", "a=1")); n != 0 {
				t.Errorf("found %d samples for test{a=\"1\"}, none expected", n)
			}
		}},
		{"EmptyLabels", staticPage("# HELP test A gauge\n# TYPE test gauge\ntest{a=\"\"} 1.0\n"), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			for _, x := range s {
				for _, l := range x.labels {
					if strings.HasSuffix(l, "=") {
						t.Errorf("%v holds an empty label", x.labels)
					}
				}
			}
			if withValue(t, s, 1, "__name__=test") == 0 {
				t.Error(`found zero samples for {__name__="test"}`)
			}
		}},
		{"NameLabel", staticPage("# HELP test A gauge\n# TYPE test gauge\n{label=\"value\"} 1.0\n"), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			for _, x := range s {
				if _, ok := x.label("__name__"); !ok {
					t.Errorf("%v has no name", x.labels)
				}
			}
			if n := len(matching(s, "label=value")); n != 0 {
				t.Errorf("found %d samples for {label=\"value\"}", n)
			}
		}},
		{"HonorLabels", staticPage("# HELP test A gauge\n# TYPE test gauge\ntest{job=\"original\", instance=\"foo\"} 1.0\n"), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			if withValue(t, s, 1, "__name__=test", "exported_job=original", "exported_instance=foo") == 0 {
				t.Error(`found zero samples for test{exported_job="original",exported_instance="foo"}`)
			}
		}},
		{"Staleness", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			staleHandler.ServeHTTP(w, r)
			staleOnce.Do(func() { staleReg.Unregister(stale) })
		}), nil, func(t *testing.T, s []rwSample, _, _ int64) {
			n := 0
			for _, x := range matching(s, "__name__=stale") {
				if remotewrite.IsStaleNaN(x.v) {
					n++
				}
			}
			if n == 0 {
				t.Error(`found no staleness markers for stale{job="test"}`)
			}
		}},
		{"Timestamp", collectorPage(constGauge()), nil, func(t *testing.T, s []rwSample, start, end int64) {
			var last int64
			for _, x := range s {
				if x.t <= start || x.t >= end {
					t.Errorf("%v at %d, outside the test's %d..%d", x.labels, x.t, start, end)
				}
				if x.t < last {
					t.Errorf("%v at %d, before the previous sample's %d", x.labels, x.t, last)
				}
				last = x.t
			}
			if withValue(t, s, 42, "__name__=gauge") == 0 {
				t.Error("found zero samples for gauge")
			}
		}},
		{"Headers", collectorPage(now()), func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for h, want := range map[string]string{
					"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
					"X-Prometheus-Remote-Write-Version": "0.1.0",
				} {
					if got := r.Header.Get(h); got != want {
						headerErrs <- fmt.Sprintf("header %s = %q, want %q", h, got, want)
					}
				}
				next.ServeHTTP(w, r)
			})
		}, func(t *testing.T, s []rwSample, _, _ int64) {
			if len(matching(s, "__name__=now")) == 0 {
				t.Error(`found zero samples for {__name__="now"}`)
			}
			close(headerErrs)
			for e := range headerErrs {
				t.Error(e)
			}
		}},
		{"Ordering", promhttp.HandlerFor(ordering, promhttp.HandlerOpts{}), func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The case's random delay, shortened from 5s to 500ms.
				time.Sleep(rand.N(500 * time.Millisecond))
				next.ServeHTTP(w, r)
			})
		}, func(t *testing.T, s []rwSample, _, _ int64) {
			last := map[string]int64{}
			for _, x := range s {
				k := strings.Join(x.labels, ",")
				if x.t <= last[k] {
					t.Errorf("%s at %d, not after %d", k, x.t, last[k])
				}
				last[k] = x.t
			}
			if withValue(t, s, 1, "__name__=test") == 0 {
				t.Error("found zero samples for test")
			}
		}},
		{"Retries500", collectorPage(now()), firstRejected(http.StatusInternalServerError, &ts500, &mu500), func(t *testing.T, s []rwSample, _, _ int64) {
			mu500.Lock()
			defer mu500.Unlock()
			if ts500 <= 0 || !slices.ContainsFunc(matching(s, "__name__=now"), func(x rwSample) bool { return x.t == ts500 }) {
				t.Errorf("the sample at %d refused with a 500 was not sent again", ts500)
			}
		}},
		{"Retries400", collectorPage(now()), firstRejected(http.StatusBadRequest, &ts400, &mu400), func(t *testing.T, s []rwSample, _, _ int64) {
			mu400.Lock()
			defer mu400.Unlock()
			if ts400 <= 0 || slices.ContainsFunc(matching(s, "__name__=now"), func(x rwSample) bool { return x.t == ts400 }) {
				t.Errorf("the sample at %d refused with a 400 was sent again (or none was refused)", ts400)
			}
		}},
	}
}

// TestRemoteWriteSenderCompliance runs every case: the scheduled scrape
// exporter "test" runs every 100ms for a handful of runs, delivering to a
// remote write sink with retries and no spool, then the case checks what
// the receiver got.
func TestRemoteWriteSenderCompliance(t *testing.T) {
	cases := complianceCases()
	if len(cases) != 19 {
		t.Fatalf("%d cases, want the 19 of remote_write_sender", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			page := httptest.NewServer(tc.metrics)
			defer page.Close()
			recv := &receiver{}
			var h http.Handler = recv
			if tc.writes != nil {
				h = tc.writes(recv)
			}
			rw := httptest.NewServer(h)
			defer rw.Close()
			cfg, err := config.LoadBytes("test.yml", []byte(fmt.Sprintf(`
exporters:
  test: {scrape: %q, schedule: 100ms, sinks: [rw]}
sinks:
  rw: {type: remote_write, url: %q, retry_for: 10s}
`, page.URL+"/metrics", rw.URL+"/api/v1/write")))
			if err != nil {
				t.Fatal(err)
			}
			set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			d, err := delivery.Open(nil, delivery.Options{Config: cfg, NoSpool: true})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			start := time.Now().UnixMilli() - 1 // samples are stamped in ms, maybe this one
			s, err := schedule.Start(set, d, schedule.Options{Target: schedule.Targets(cfg, ":9761")})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for recv.count() < 4 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			s.Stop()
			end := time.Now().UnixMilli() + 1
			if recv.count() < 4 {
				t.Fatalf("%d writes arrived within 20s, want 4", recv.count())
			}
			tc.check(t, recv.samples(), start, end)
		})
	}
}
