package otlp_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/sink/otlp"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// everyType is an OpenMetrics document with one family of every type, as
// an exporter prints it; %g are the values that grow between two runs.
const everyType = `# TYPE jobs counter
# HELP jobs Jobs done.
jobs_total{queue="a"} %[1]g
# TYPE temp gauge
temp{room="x"} 21.5
# TYPE lat histogram
lat_bucket{le="0.1"} %[2]g
lat_bucket{le="1"} %[3]g
lat_bucket{le="+Inf"} %[4]g
lat_sum %[5]g
lat_count %[4]g
# TYPE rpc summary
rpc{quantile="0.5"} 0.2
rpc{quantile="0.9"} 0.7
rpc_sum %[5]g
rpc_count %[4]g
# TYPE build info
build_info{version="1.2"} 1
# TYPE state stateset
state{state="on"} 1
state{state="off"} 0
# TYPE other unknown
other 3
# EOF
`

// run parses everyType with the given values and adds the constant label
// env="prod", as a run does.
func run(t *testing.T, id string, at time.Time, total, b1, b2, count, sum float64) *batch.Batch {
	t.Helper()
	doc := fmt.Appendf(nil, everyType, total, b1, b2, count, sum)
	fams, err := exposition.Parse(doc, exposition.FormatOpenMetrics)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"env": "prod"}
	exposition.AddLabels(fams, labels)
	return &batch.Batch{ID: id, Exporter: "exp", Job: "nightly", Start: at, Duration: time.Second, Labels: labels, Families: fams}
}

// received waits until the Collector has written n requests and returns
// them decoded: the file exporter writes each as OTLP JSON.
func received(t *testing.T, c *testenv.Collector, n int) []*collectorpb.ExportMetricsServiceRequest {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		lines := c.Received(t)
		if len(lines) >= n {
			var out []*collectorpb.ExportMetricsServiceRequest
			for _, l := range lines {
				r := &collectorpb.ExportMetricsServiceRequest{}
				if err := protojson.Unmarshal(l, r); err != nil {
					t.Fatalf("collector wrote %s: %v", l, err)
				}
				out = append(out, r)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector wrote %d requests within 20s, want %d; its output:\n%s", len(lines), n, c.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func attrs(kvs []*commonpb.KeyValue) string {
	var out []string
	for _, kv := range kvs {
		out = append(out, kv.GetKey()+"="+kv.GetValue().GetStringValue())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func gaugeValues(t *testing.T, m *metricspb.Metric) map[string]float64 {
	t.Helper()
	if m.GetGauge() == nil {
		t.Fatalf("%s is not a gauge: %v", m.GetName(), m)
	}
	out := map[string]float64{}
	for _, p := range m.GetGauge().GetDataPoints() {
		out[attrs(p.GetAttributes())] = p.GetAsDouble()
	}
	return out
}

func checkResource(t *testing.T, r *collectorpb.ExportMetricsServiceRequest) {
	t.Helper()
	rm := r.GetResourceMetrics()
	if len(rm) != 1 {
		t.Fatalf("%d resources, want 1", len(rm))
	}
	if got := attrs(rm[0].GetResource().GetAttributes()); got != "env=prod,service.name=nightly" {
		t.Errorf("resource attributes %s, want env=prod,service.name=nightly", got)
	}
	if got := rm[0].GetScopeMetrics()[0].GetScope().GetName(); got != "github.com/metricwrap/metricwrap" {
		t.Errorf("scope %q", got)
	}
}

// checkGauges asserts what is a gauge in both temporalities: gauge, info,
// stateset and unknown.
func checkGauges(t *testing.T, ms map[string][]*metricspb.Metric) {
	t.Helper()
	for name, want := range map[string]map[string]float64{
		"temp":       {"room=x": 21.5},
		"build_info": {"version=1.2": 1},
		"state":      {"state=on": 1, "state=off": 0},
		"other":      {"": 3},
	} {
		if len(ms[name]) != 1 {
			t.Errorf("%s arrived %d times, want once", name, len(ms[name]))
			continue
		}
		got := gaugeValues(t, ms[name][0])
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s{%s} = %v, want %v", name, k, got[k], v)
			}
		}
	}
}

func TestCollectorCumulative(t *testing.T) {
	c := testenv.StartCollector(t)
	s, err := otlp.New(otlp.Options{Name: "otelcol", URL: c.MetricsURL})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	if err := s.Push(context.Background(), run(t, "b1", at, 7, 1, 3, 4, 2.5)); err != nil {
		t.Fatal(err)
	}
	reqs := received(t, c, 1)
	checkResource(t, reqs[0])
	ms := metrics(reqs)
	checkGauges(t, ms)
	end := uint64(at.Add(time.Second).UnixNano())

	sum := ms["jobs_total"][0].GetSum()
	if sum == nil || !sum.GetIsMonotonic() || sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Fatalf("jobs_total: %v, want a cumulative monotonic sum", ms["jobs_total"][0])
	}
	dp := sum.GetDataPoints()[0]
	// Without a created timestamp the series' run starts at its first
	// sighting (TestCumulative covers one with it).
	if dp.GetAsDouble() != 7 || attrs(dp.GetAttributes()) != "queue=a" || dp.GetStartTimeUnixNano() != end || dp.GetTimeUnixNano() != end {
		t.Errorf("jobs_total point %v: want 7 {queue=a} at the run's end, started then", dp)
	}
	if ms["jobs_total"][0].GetDescription() != "Jobs done." {
		t.Errorf("description %q", ms["jobs_total"][0].GetDescription())
	}

	h := ms["lat"][0].GetHistogram()
	if h == nil || h.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Fatalf("lat: %v, want a cumulative histogram", ms["lat"][0])
	}
	hp := h.GetDataPoints()[0]
	if hp.GetCount() != 4 || hp.GetSum() != 2.5 || !equal(hp.GetExplicitBounds(), []float64{0.1, 1}) ||
		!equal(hp.GetBucketCounts(), []uint64{1, 2, 1}) || hp.GetStartTimeUnixNano() != end || hp.GetTimeUnixNano() != end {
		t.Errorf("lat point %v: want count 4, sum 2.5, bounds [0.1 1], buckets [1 2 1], started at its first sighting", hp)
	}

	sm := ms["rpc"][0].GetSummary()
	if sm == nil {
		t.Fatalf("rpc: %v, want a summary", ms["rpc"][0])
	}
	sp := sm.GetDataPoints()[0]
	q := sp.GetQuantileValues()
	if sp.GetCount() != 4 || sp.GetSum() != 2.5 || len(q) != 2 || q[0].GetQuantile() != 0.5 || q[0].GetValue() != 0.2 ||
		q[1].GetQuantile() != 0.9 || q[1].GetValue() != 0.7 {
		t.Errorf("rpc point %v", sp)
	}
}

func TestCollectorDelta(t *testing.T) {
	c := testenv.StartCollector(t)
	s, err := otlp.New(otlp.Options{Name: "otelcol", URL: c.MetricsURL, Temporality: otlp.Delta, StateFile: t.TempDir() + "/state.json"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	ctx := context.Background()
	if err := s.Push(ctx, run(t, "b1", at, 7, 1, 3, 4, 2.5)); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx, run(t, "b2", at.Add(30*time.Second), 10, 2, 5, 7, 4)); err != nil {
		t.Fatal(err)
	}
	reqs := received(t, c, 2)
	checkResource(t, reqs[1])
	// The first run carries the gauges only: nothing to compare with yet.
	if first := metrics(reqs[:1]); first["jobs_total"] != nil || first["lat"] != nil || first["rpc_count"] != nil {
		t.Errorf("first run sent deltas without a baseline: %v", first)
	}
	ms := metrics(reqs[1:])
	checkGauges(t, ms)
	start, end := uint64(at.Add(time.Second).UnixNano()), uint64(at.Add(31*time.Second).UnixNano())
	delta := metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA

	sum := ms["jobs_total"][0].GetSum()
	if sum == nil || !sum.GetIsMonotonic() || sum.GetAggregationTemporality() != delta {
		t.Fatalf("jobs_total: %v, want a delta monotonic sum", ms["jobs_total"][0])
	}
	if dp := sum.GetDataPoints()[0]; dp.GetAsDouble() != 3 || dp.GetStartTimeUnixNano() != start || dp.GetTimeUnixNano() != end ||
		attrs(dp.GetAttributes()) != "queue=a" {
		t.Errorf("jobs_total point %v: want 3 over [%d, %d]", dp, start, end)
	}
	h := ms["lat"][0].GetHistogram()
	if h == nil || h.GetAggregationTemporality() != delta {
		t.Fatalf("lat: %v, want a delta histogram", ms["lat"][0])
	}
	if hp := h.GetDataPoints()[0]; hp.GetCount() != 3 || hp.GetSum() != 1.5 || !equal(hp.GetBucketCounts(), []uint64{1, 1, 1}) ||
		!equal(hp.GetExplicitBounds(), []float64{0.1, 1}) || hp.GetStartTimeUnixNano() != start || hp.GetTimeUnixNano() != end {
		t.Errorf("lat point %v: want count 3, sum 1.5, buckets [1 1 1] over [%d, %d]", hp, start, end)
	}
	// A summary becomes what delta receivers take: quantile gauges and
	// delta sums of its count and sum.
	if got := gaugeValues(t, ms["rpc"][0]); got["quantile=0.5"] != 0.2 || got["quantile=0.9"] != 0.7 {
		t.Errorf("rpc quantiles %v", got)
	}
	for name, want := range map[string]float64{"rpc_count": 3, "rpc_sum": 1.5} {
		s := ms[name][0].GetSum()
		if s == nil || s.GetAggregationTemporality() != delta || s.GetDataPoints()[0].GetAsDouble() != want {
			t.Errorf("%s: %v, want a delta sum of %v", name, ms[name][0], want)
		}
	}
	if !ms["rpc_count"][0].GetSum().GetIsMonotonic() || ms["rpc_sum"][0].GetSum().GetIsMonotonic() {
		t.Error("rpc_count must be monotonic, rpc_sum not (observations may be negative)")
	}
}
