package otlp_test

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/sink/otlp"
)

// receiver records the export requests it takes, decoded with the
// collector service's own request type, and answers with next (nil: 200).
type receiver struct {
	mu      sync.Mutex
	reqs    []*collectorpb.ExportMetricsServiceRequest
	headers []http.Header
	next    []func(w http.ResponseWriter)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.headers = append(rc.headers, r.Header.Clone())
	if len(rc.next) > 0 {
		answer := rc.next[0]
		rc.next = rc.next[1:]
		if answer != nil {
			answer(w)
			return
		}
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	data, _ := io.ReadAll(body)
	req := &collectorpb.ExportMetricsServiceRequest{}
	if err := proto.Unmarshal(data, req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	rc.reqs = append(rc.reqs, req)
	w.Header().Set("Content-Type", "application/x-protobuf")
}

func (rc *receiver) requests() []*collectorpb.ExportMetricsServiceRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*collectorpb.ExportMetricsServiceRequest(nil), rc.reqs...)
}

func (rc *receiver) then(answers ...func(w http.ResponseWriter)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.next = append(rc.next, answers...)
}

func status(code int, retryAfter string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
	}
}

func newSink(t *testing.T, o otlp.Options) (*otlp.Sink, *receiver) {
	t.Helper()
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	if o.Name == "" {
		o.Name = "test"
	}
	o.URL = srv.URL + "/v1/metrics"
	s, err := otlp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, rc
}

func ptr[T any](v T) *T { return &v }

func label(k, v string) *dto.LabelPair { return &dto.LabelPair{Name: ptr(k), Value: ptr(v)} }

func counter(name string, v float64, labels ...*dto.LabelPair) *dto.MetricFamily {
	return &dto.MetricFamily{Name: ptr(name), Help: ptr("help of " + name), Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Label: labels, Counter: &dto.Counter{Value: ptr(v)}}}}
}

func gauge(name string, v float64, labels ...*dto.LabelPair) *dto.MetricFamily {
	return &dto.MetricFamily{Name: ptr(name), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Label: labels, Gauge: &dto.Gauge{Value: ptr(v)}}}}
}

// histogram has bounds 1 and 5; cum are the cumulative counts of those.
func histogram(name string, count uint64, sum float64, cum ...uint64) *dto.MetricFamily {
	return &dto.MetricFamily{Name: ptr(name), Type: dto.MetricType_HISTOGRAM.Enum(),
		Metric: []*dto.Metric{{Histogram: &dto.Histogram{SampleCount: ptr(count), SampleSum: ptr(sum), Bucket: []*dto.Bucket{
			{UpperBound: ptr(1.0), CumulativeCount: ptr(cum[0])},
			{UpperBound: ptr(5.0), CumulativeCount: ptr(cum[1])},
		}}}}}
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func mkBatch(id string, at time.Time, fams ...*dto.MetricFamily) *batch.Batch {
	return &batch.Batch{ID: id, Exporter: "exp", Job: "nightly", Start: at, Duration: time.Second,
		Labels: map[string]string{"env": "prod"}, Families: fams}
}

// metrics indexes the metrics of all requests by name.
func metrics(reqs []*collectorpb.ExportMetricsServiceRequest) map[string][]*metricspb.Metric {
	out := map[string][]*metricspb.Metric{}
	for _, r := range reqs {
		for _, rm := range r.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					out[m.GetName()] = append(out[m.GetName()], m)
				}
			}
		}
	}
	return out
}

func TestCumulative(t *testing.T) {
	// The sink's own resource attributes yield to the batch's.
	s, rc := newSink(t, otlp.Options{Resource: map[string]string{"env": "other", "service.name": "other"}})
	created := t0.Add(-time.Hour)
	c := counter("jobs_total", 7, label("env", "prod"), label("queue", "a"))
	c.Metric[0].Counter.CreatedTimestamp = timestamp(created)
	b := mkBatch("b1", t0, c, gauge("temp", 21.5, label("env", "prod")), histogram("lat", 4, 9, 1, 3))
	if err := s.Push(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if h := rc.headers[0]; h.Get("Content-Type") != "application/x-protobuf" || h.Get("Content-Encoding") != "gzip" {
		t.Errorf("headers %v", h)
	}
	if res := attrs(reqs[0].GetResourceMetrics()[0].GetResource().GetAttributes()); res != "env=prod,service.name=nightly" {
		t.Errorf("resource attributes %s", res)
	}
	ms := metrics(reqs)
	sum := ms["jobs_total"][0].GetSum()
	if !sum.GetIsMonotonic() || sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Errorf("counter sum %v", sum)
	}
	dp := sum.GetDataPoints()[0]
	end := uint64(t0.Add(time.Second).UnixNano())
	if dp.GetAsDouble() != 7 || dp.GetStartTimeUnixNano() != uint64(created.UnixNano()) || dp.GetTimeUnixNano() != end {
		t.Errorf("counter point %v", dp)
	}
	if a := dp.GetAttributes(); len(a) != 1 || a[0].GetKey() != "queue" {
		t.Errorf("counter attributes %v: want only queue (env is the resource's)", a)
	}
	if ms["jobs_total"][0].GetDescription() != "help of jobs_total" {
		t.Errorf("description %q", ms["jobs_total"][0].GetDescription())
	}
	if g := ms["temp"][0].GetGauge().GetDataPoints()[0]; g.GetAsDouble() != 21.5 || g.GetTimeUnixNano() != end {
		t.Errorf("gauge %v", g)
	}
	h := ms["lat"][0].GetHistogram()
	hp := h.GetDataPoints()[0]
	if h.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE ||
		hp.GetCount() != 4 || hp.GetSum() != 9 || !equal(hp.GetExplicitBounds(), []float64{1, 5}) ||
		!equal(hp.GetBucketCounts(), []uint64{1, 2, 1}) {
		t.Errorf("histogram %v", h)
	}
	// Without a created timestamp the series' run starts at its first
	// sighting and keeps that start.
	if hp.GetStartTimeUnixNano() != end {
		t.Errorf("histogram start %d, want the first sighting %d", hp.GetStartTimeUnixNano(), end)
	}
	if err := s.Push(context.Background(), mkBatch("b2", t0.Add(time.Minute), histogram("lat", 6, 12, 2, 4))); err != nil {
		t.Fatal(err)
	}
	if hp := metrics(rc.requests())["lat"][1].GetHistogram().GetDataPoints()[0]; hp.GetStartTimeUnixNano() != end || hp.GetCount() != 6 {
		t.Errorf("second histogram point %v: want start %d kept", hp, end)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDelta(t *testing.T) {
	state := filepath.Join(t.TempDir(), "otlp.json")
	s, rc := newSink(t, otlp.Options{Temporality: otlp.Delta, StateFile: state})
	ctx := context.Background()
	// First sighting: nothing to compare with, so only the gauge goes.
	if err := s.Push(ctx, mkBatch("b1", t0, counter("c_total", 10), histogram("lat", 4, 9, 1, 3), gauge("g", 1))); err != nil {
		t.Fatal(err)
	}
	if ms := metrics(rc.requests()); len(ms) != 1 || ms["g"] == nil {
		t.Fatalf("first push sent %v, want the gauge only", ms)
	}
	// The second batch fails once with a retryable answer, then goes out
	// with the deltas computed the first time.
	rc.then(status(503, "1"))
	b2 := mkBatch("b2", t0.Add(time.Minute), counter("c_total", 15), histogram("lat", 7, 15, 2, 5))
	err := s.Push(ctx, b2)
	if err == nil || sink.IsPermanent(err) || sink.RetryAfter(err) != time.Second {
		t.Fatalf("503: %v (permanent %t, retry after %s)", err, sink.IsPermanent(err), sink.RetryAfter(err))
	}
	// A restart in between: the pinned deltas come from the state file.
	s2, err := otlp.New(otlp.Options{Name: "test", URL: s.Destination()[len("otlp "):], Temporality: otlp.Delta, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Push(ctx, b2); err != nil {
		t.Fatal(err)
	}
	ms := metrics(rc.requests())
	sum := ms["c_total"][0].GetSum()
	dp := sum.GetDataPoints()[0]
	if sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA || !sum.GetIsMonotonic() ||
		dp.GetAsDouble() != 5 || dp.GetStartTimeUnixNano() != uint64(t0.Add(time.Second).UnixNano()) ||
		dp.GetTimeUnixNano() != uint64(t0.Add(time.Minute+time.Second).UnixNano()) {
		t.Errorf("delta counter %v", sum)
	}
	hp := ms["lat"][0].GetHistogram().GetDataPoints()[0]
	if hp.GetCount() != 3 || hp.GetSum() != 6 || !equal(hp.GetBucketCounts(), []uint64{1, 1, 1}) {
		t.Errorf("delta histogram %v: want count 3, sum 6, buckets [1 1 1]", hp)
	}
	// Delivered: a redelivery sends nothing.
	n := len(rc.requests())
	if err := s2.Push(ctx, b2); err != nil || len(rc.requests()) != n {
		t.Errorf("redelivery: err %v, %d requests, want none", err, len(rc.requests())-n)
	}
	// A reset counts the whole new value.
	if err := s2.Push(ctx, mkBatch("b3", t0.Add(2*time.Minute), counter("c_total", 2))); err != nil {
		t.Fatal(err)
	}
	if dp := metrics(rc.requests())["c_total"][1].GetSum().GetDataPoints()[0]; dp.GetAsDouble() != 2 {
		t.Errorf("after a reset: %v, want 2", dp)
	}
}

func TestDeltaIncrementsNeedNoState(t *testing.T) {
	s, rc := newSink(t, otlp.Options{Temporality: otlp.Delta})
	b := mkBatch("b1", t0, counter("job_runs_total", 1))
	b.Increments = []string{"job_runs_total"}
	if err := s.Push(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	ms := metrics(rc.requests())["job_runs_total"]
	if len(ms) != 1 {
		t.Fatalf("increments not sent on the first run: %v", metrics(rc.requests()))
	}
	dp := ms[0].GetSum().GetDataPoints()[0]
	if dp.GetAsDouble() != 1 || dp.GetStartTimeUnixNano() != uint64(t0.UnixNano()) || dp.GetTimeUnixNano() != uint64(t0.Add(time.Second).UnixNano()) {
		t.Errorf("increment point %v: want 1 over the run", dp)
	}
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		status    int
		permanent bool
	}{{400, true}, {401, true}, {404, true}, {413, true}, {500, true}, {429, false}, {502, false}, {503, false}, {504, false}} {
		s, rc := newSink(t, otlp.Options{})
		rc.then(status(tc.status, "2"))
		err := s.Push(context.Background(), mkBatch("b", t0, gauge("g", 1)))
		if err == nil || sink.IsPermanent(err) != tc.permanent {
			t.Errorf("%d: %v, permanent %t, want %t", tc.status, err, sink.IsPermanent(err), tc.permanent)
		}
		if got := sink.RetryAfter(err); got != 2*time.Second {
			t.Errorf("%d: Retry-After %s, want 2s", tc.status, got)
		}
	}
}

func TestPartialSuccess(t *testing.T) {
	s, rc := newSink(t, otlp.Options{MaxPointsPerRequest: 1})
	resp, _ := proto.Marshal(&collectorpb.ExportMetricsServiceResponse{PartialSuccess: &collectorpb.ExportMetricsPartialSuccess{
		RejectedDataPoints: 1, ErrorMessage: "metric a is bad",
	}})
	rc.then(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	})
	err := s.Push(context.Background(), mkBatch("b", t0, gauge("a", 1), gauge("b", 2)))
	var rej *otlp.RejectedError
	if !errors.As(err, &rej) || !sink.IsPermanent(err) || rej.Rejected != 1 || !strings.Contains(err.Error(), "metric a is bad") {
		t.Fatalf("partial success: %v", err)
	}
	// The request after the partial success still went out.
	if ms := metrics(rc.requests()); ms["b"] == nil {
		t.Errorf("the second request was not sent: %v", ms)
	}
	if got := testutil.ToFloat64(s.Collectors()[2]); got != 1 {
		t.Errorf("rejected points metric %v, want 1", got)
	}
}

func TestSplitResumes(t *testing.T) {
	s, rc := newSink(t, otlp.Options{MaxPointsPerRequest: 2, Temporality: otlp.Delta})
	fams := []*dto.MetricFamily{gauge("a", 1), gauge("b", 2), gauge("c", 3), gauge("d", 4), gauge("e", 5)}
	rc.then(nil, status(502, ""))
	b := mkBatch("b", t0, fams...)
	if err := s.Push(context.Background(), b); err == nil || sink.IsPermanent(err) {
		t.Fatalf("502 on the second request: %v", err)
	}
	if err := s.Push(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	ms := metrics(rc.requests())
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if len(ms[n]) != 1 {
			t.Errorf("metric %s arrived %d times, want once", n, len(ms[n]))
		}
	}
	if got := len(rc.requests()); got != 3 {
		t.Errorf("%d requests accepted, want 3 (2+2+1 points)", got)
	}
}

func TestSecretsStayOut(t *testing.T) {
	s, rc := newSink(t, otlp.Options{Headers: map[string]string{"Authorization": "Api-Token SECRET"}})
	rc.then(status(401, ""))
	err := s.Push(context.Background(), mkBatch("b", t0, gauge("g", 1)))
	if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(s.Destination(), "SECRET") {
		t.Errorf("error %v / destination %s", err, s.Destination())
	}
	if rc.headers[0].Get("Authorization") != "Api-Token SECRET" {
		t.Errorf("header not sent: %v", rc.headers[0])
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// TestDestinationByTenant: a tenant header is part of the destination (a
// batch spooled for tenant a never goes to tenant b), a credential is not
// (a rotated token keeps the queue) and never appears in it.
func TestDestinationByTenant(t *testing.T) {
	dest := func(h map[string]string) string {
		s, err := otlp.New(otlp.Options{Name: "m", URL: "http://mimir:8080/otlp/v1/metrics", Headers: h})
		if err != nil {
			t.Fatal(err)
		}
		return s.Destination()
	}
	a := dest(map[string]string{"X-Scope-OrgID": "a", "Authorization": "Bearer SECRET1"})
	if a == dest(map[string]string{"X-Scope-OrgID": "b", "Authorization": "Bearer SECRET1"}) {
		t.Error("tenants a and b share a destination")
	}
	if a != dest(map[string]string{"x-scope-orgid": "a", "Authorization": "Bearer SECRET2", "X-Api-Key": "k"}) {
		t.Error("a rotated credential changed the destination")
	}
	if strings.Contains(a, "SECRET") || dest(nil) != "otlp http://mimir:8080/otlp/v1/metrics" {
		t.Errorf("destinations %q, %q", a, dest(nil))
	}
}

func TestGaugeHistogramAndNonFinite(t *testing.T) {
	s, rc := newSink(t, otlp.Options{Temporality: otlp.Delta})
	gh := histogram("queue_size", 5, 12, 2, 4)
	gh.Type = dto.MetricType_GAUGE_HISTOGRAM.Enum()
	nan := counter("broken_total", math.NaN())
	if err := s.Push(context.Background(), mkBatch("b", t0, gh, nan, gauge("g", math.Inf(1)))); err != nil {
		t.Fatal(err)
	}
	ms := metrics(rc.requests())
	buckets := map[string]float64{}
	for _, p := range ms["queue_size_bucket"][0].GetGauge().GetDataPoints() {
		buckets[p.GetAttributes()[0].GetValue().GetStringValue()] = p.GetAsDouble()
	}
	if len(buckets) != 3 || buckets["1"] != 2 || buckets["5"] != 4 || buckets["+Inf"] != 5 {
		t.Errorf("gauge histogram buckets %v, want le 1: 2, 5: 4, +Inf: 5", buckets)
	}
	if c := ms["queue_size_gcount"][0].GetGauge().GetDataPoints()[0].GetAsDouble(); c != 5 {
		t.Errorf("gcount %v", c)
	}
	if ms["broken_total"] != nil {
		t.Errorf("a NaN counter was sent: %v", ms["broken_total"])
	}
	// A gauge carries what the exporter said, infinite or not.
	if g := ms["g"][0].GetGauge().GetDataPoints()[0].GetAsDouble(); !math.IsInf(g, 1) {
		t.Errorf("gauge %v", g)
	}
	if err := s.Push(context.Background(), &batch.Batch{ID: "empty"}); !sink.IsPermanent(err) {
		t.Errorf("empty batch: %v, want refused", err)
	}
}

// TestCumulativeIncrementsKeepTotals: exec's increments (+1 per run) become
// a running total in cumulative mode, one series from the first run on;
// a retried batch, even after a restart, adds nothing.
func TestCumulativeIncrementsKeepTotals(t *testing.T) {
	state := filepath.Join(t.TempDir(), "otlp.json")
	s, rc := newSink(t, otlp.Options{StateFile: state})
	inc := func(id string, at time.Time) *batch.Batch {
		b := mkBatch(id, at, counter("job_runs_total", 1, label("status", "Succeeded")))
		b.Increments = []string{"job_runs_total"}
		return b
	}
	ctx := context.Background()
	if err := s.Push(ctx, inc("r1", t0)); err != nil {
		t.Fatal(err)
	}
	rc.then(status(503, ""))
	r2 := inc("r2", t0.Add(time.Hour))
	if err := s.Push(ctx, r2); err == nil {
		t.Fatal("503 taken as success")
	}
	s2, err := otlp.New(otlp.Options{Name: "test", URL: s.Destination()[len("otlp "):], StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*batch.Batch{r2, inc("r3", t0.Add(2*time.Hour))} {
		if err := s2.Push(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var got []float64
	for _, m := range metrics(rc.requests())["job_runs_total"] {
		sum := m.GetSum()
		dp := sum.GetDataPoints()[0]
		if sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE ||
			dp.GetStartTimeUnixNano() != uint64(t0.UnixNano()) {
			t.Errorf("point %v: want cumulative, started with the first run", dp)
		}
		got = append(got, dp.GetAsDouble())
	}
	if !equal(got, []float64{1, 2, 3}) {
		t.Errorf("totals %v, want [1 2 3]", got)
	}
}
