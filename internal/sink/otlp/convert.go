package otlp

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/metricwrap/metricwrap/internal/batch"
)

// scopeName is the instrumentation scope of every metric sent: the
// program that produced the OTLP, as the OpenTelemetry data model asks.
const scopeName = "github.com/metricwrap/metricwrap"

// converter turns one batch into one OTLP ResourceMetrics. The mapping is
// the OpenTelemetry specification's for Prometheus data where it has one
// (docs/otlp.md lists every type):
//   - counter: monotonic Sum, cumulative or delta;
//   - gauge, untyped (unknown), info and stateset (which reach metricwrap
//     as gauges): Gauge;
//   - histogram: explicit-bucket Histogram, cumulative or delta;
//   - summary: Summary when cumulative; in delta mode (receivers that take
//     no Summary, such as Dynatrace) a Gauge of the quantiles plus delta
//     Sums NAME_count and NAME_sum;
//   - gauge histogram: Gauges NAME_bucket (with le), NAME_gcount and
//     NAME_gsum, as Prometheus names them.
type converter struct {
	b           *batch.Batch
	now         time.Time
	temporality Temporality
	track       tracker
	// extra are the sink's own resource attributes; the batch's win.
	extra map[string]string
}

// convert returns the batch as one resource with one scope.
func (c *converter) convert() *metricspb.ResourceMetrics {
	sm := &metricspb.ScopeMetrics{Scope: &commonpb.InstrumentationScope{Name: scopeName}}
	for _, mf := range c.b.Families {
		sm.Metrics = append(sm.Metrics, c.family(mf)...)
	}
	return &metricspb.ResourceMetrics{Resource: c.resource(), ScopeMetrics: []*metricspb.ScopeMetrics{sm}}
}

// resource holds the batch's constant labels and service.name, the job
// (the exporter's name when the batch has no job), unless a constant label
// already names the service; then the sink's own attributes that neither
// sets.
func (c *converter) resource() *resourcepb.Resource {
	own := map[string]string{}
	for k, v := range c.extra {
		own[k] = v
	}
	service := c.b.Job
	if service == "" {
		service = c.b.Exporter
	}
	own["service.name"] = service
	for k, v := range c.b.Labels {
		own[k] = v
	}
	names := make([]string, 0, len(own))
	for k := range own {
		names = append(names, k)
	}
	sort.Strings(names)
	r := &resourcepb.Resource{}
	for _, k := range names {
		r.Attributes = append(r.Attributes, attr(k, own[k]))
	}
	return r
}

func attr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// batchTime is when the run's metrics were read: the end of the run.
func (c *converter) batchTime() int64 {
	if c.b.Start.IsZero() {
		return c.now.UnixNano()
	}
	return c.b.Start.Add(c.b.Duration).UnixNano()
}

// runStart is when the run started: the start of exec's increments.
func (c *converter) runStart() int64 {
	if c.b.Start.IsZero() {
		return c.now.UnixNano()
	}
	return c.b.Start.UnixNano()
}

// sample is one dto.Metric's identity and times.
type sample struct {
	key     string
	attrs   []*commonpb.KeyValue
	t       int64
	created int64
}

// sample keys the series by name and all its labels (constant ones too;
// NUL and SOH separate them, which exposition refuses in names and values,
// and which survive the state's JSON) and keeps as data point attributes the labels that are not the
// resource's.
func (c *converter) sample(name string, m *dto.Metric, created *timestamppb.Timestamp) sample {
	labels := m.GetLabel()
	pairs := make([]string, 0, len(labels))
	s := sample{t: c.batchTime()}
	for _, l := range labels {
		pairs = append(pairs, l.GetName()+"\x01"+l.GetValue())
		if v, ok := c.b.Labels[l.GetName()]; ok && v == l.GetValue() {
			continue
		}
		s.attrs = append(s.attrs, attr(l.GetName(), l.GetValue()))
	}
	sort.Strings(pairs)
	s.key = name + "\x00" + strings.Join(pairs, "\x00")
	if ts := m.TimestampMs; ts != nil {
		s.t = *ts * int64(time.Millisecond)
	}
	if created.IsValid() && created.AsTime().Unix() > 0 {
		s.created = created.AsTime().UnixNano()
	}
	return s
}

func (c *converter) family(mf *dto.MetricFamily) []*metricspb.Metric {
	name := mf.GetName()
	meta := func(n string) *metricspb.Metric {
		return &metricspb.Metric{Name: n, Description: mf.GetHelp(), Unit: mf.GetUnit()}
	}
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		return nonEmpty(c.counter(meta(name), mf))
	case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
		g := &metricspb.Gauge{}
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue()
			if m.Untyped != nil {
				v = m.GetUntyped().GetValue()
			}
			s := c.sample(name, m, nil)
			g.DataPoints = append(g.DataPoints, number(s.attrs, 0, s.t, v))
		}
		out := meta(name)
		out.Data = &metricspb.Metric_Gauge{Gauge: g}
		return nonEmpty(out)
	case dto.MetricType_HISTOGRAM:
		return nonEmpty(c.histogram(meta(name), mf))
	case dto.MetricType_SUMMARY:
		if c.temporality == Delta {
			return c.deltaSummary(mf, meta)
		}
		return nonEmpty(c.summary(meta(name), mf))
	case dto.MetricType_GAUGE_HISTOGRAM:
		return c.gaugeHistogram(mf, meta)
	}
	return nil
}

// nonEmpty drops metrics without data points (a delta on its first
// sighting).
func nonEmpty(ms ...*metricspb.Metric) []*metricspb.Metric {
	return slices.DeleteFunc(ms, func(m *metricspb.Metric) bool { return points(m) == 0 })
}

func number(attrs []*commonpb.KeyValue, start, t int64, v float64) *metricspb.NumberDataPoint {
	return &metricspb.NumberDataPoint{
		Attributes: attrs, StartTimeUnixNano: uint64(max(start, 0)), TimeUnixNano: uint64(max(t, 0)),
		Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v},
	}
}

func (c *converter) aggregation() metricspb.AggregationTemporality {
	if c.temporality == Delta {
		return metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	}
	return metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
}

// counter maps a counter family. exec's increments are the run's increase
// by construction: in delta mode a delta over the run as they are, with no
// state; in cumulative mode they are added to a running total the sink
// keeps (pinned to the batch, so a resend adds nothing), since without a
// Pushgateway to read the previous total from, exec has none.
func (c *converter) counter(out *metricspb.Metric, mf *dto.MetricFamily) *metricspb.Metric {
	sum := &metricspb.Sum{IsMonotonic: true, AggregationTemporality: c.aggregation()}
	increment := c.b.IsIncrement(mf.GetName())
	for _, m := range mf.GetMetric() {
		v := m.GetCounter().GetValue()
		s := c.sample(mf.GetName(), m, m.GetCounter().GetCreatedTimestamp())
		switch {
		case increment && c.temporality == Delta:
			sum.DataPoints = append(sum.DataPoints, number(s.attrs, c.runStart(), s.t, v))
		case increment:
			if p := c.track.total(s.key, v, s.t, c.runStart()); p != nil {
				sum.DataPoints = append(sum.DataPoints, number(s.attrs, p.Start, s.t, p.Vals[0]))
			}
		case math.IsNaN(v) || math.IsInf(v, 0):
			continue // no total to count from
		case c.temporality == Delta:
			if p, ok := c.track.delta(s.key, []float64{v}, nil, false, s.t, s.created); ok {
				sum.DataPoints = append(sum.DataPoints, number(s.attrs, p.Start, s.t, p.Vals[0]))
			}
		default:
			start := c.track.start(s.key, []float64{v}, nil, s.t, s.created)
			sum.DataPoints = append(sum.DataPoints, number(s.attrs, start, s.t, v))
		}
	}
	out.Data = &metricspb.Metric_Sum{Sum: sum}
	return out
}

// histogramVals is [count, sum, cumulative bucket counts...] and the
// finite bounds of a Prometheus histogram (its +Inf bucket is the count).
func histogramVals(h *dto.Histogram) (vals, bounds []float64) {
	count := float64(h.GetSampleCount())
	if h.SampleCountFloat != nil {
		count = h.GetSampleCountFloat()
	}
	vals = []float64{count, h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		n := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			n = b.GetCumulativeCountFloat()
		}
		bounds = append(bounds, b.GetUpperBound())
		vals = append(vals, n)
	}
	return vals, bounds
}

func (c *converter) histogram(out *metricspb.Metric, mf *dto.MetricFamily) *metricspb.Metric {
	hist := &metricspb.Histogram{AggregationTemporality: c.aggregation()}
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		s := c.sample(mf.GetName(), m, h.GetCreatedTimestamp())
		vals, bounds := histogramVals(h)
		var start int64
		if c.temporality == Delta {
			p, ok := c.track.delta(s.key, vals, bounds, true, s.t, s.created)
			if !ok {
				continue
			}
			start, vals = p.Start, p.Vals
		} else {
			start = c.track.start(s.key, vals, bounds, s.t, s.created)
			vals = perBucket(vals)
		}
		sum := vals[1]
		dp := &metricspb.HistogramDataPoint{
			Attributes: s.attrs, StartTimeUnixNano: uint64(max(start, 0)), TimeUnixNano: uint64(max(s.t, 0)),
			Count: count(vals[0]), Sum: &sum, ExplicitBounds: bounds,
		}
		for _, n := range vals[2:] {
			dp.BucketCounts = append(dp.BucketCounts, count(n))
		}
		hist.DataPoints = append(hist.DataPoints, dp)
	}
	out.Data = &metricspb.Metric_Histogram{Histogram: hist}
	return out
}

// count turns a (float) count into OTLP's integer; rounding absorbs the
// float error of subtracting totals.
func count(v float64) uint64 {
	if v <= 0 || math.IsNaN(v) {
		return 0
	}
	return uint64(math.Round(v))
}

func (c *converter) summary(out *metricspb.Metric, mf *dto.MetricFamily) *metricspb.Metric {
	sum := &metricspb.Summary{}
	for _, m := range mf.GetMetric() {
		sm := m.GetSummary()
		s := c.sample(mf.GetName(), m, sm.GetCreatedTimestamp())
		vals := []float64{float64(sm.GetSampleCount()), sm.GetSampleSum()}
		dp := &metricspb.SummaryDataPoint{
			Attributes:        s.attrs,
			StartTimeUnixNano: uint64(max(c.track.start(s.key, vals, nil, s.t, s.created), 0)),
			TimeUnixNano:      uint64(max(s.t, 0)), Count: count(vals[0]), Sum: vals[1],
		}
		for _, q := range sm.GetQuantile() {
			dp.QuantileValues = append(dp.QuantileValues, &metricspb.SummaryDataPoint_ValueAtQuantile{
				Quantile: q.GetQuantile(), Value: q.GetValue(),
			})
		}
		sum.DataPoints = append(sum.DataPoints, dp)
	}
	out.Data = &metricspb.Metric_Summary{Summary: sum}
	return out
}

// deltaSummary sends a summary to a receiver without Summary support: the
// quantiles as a Gauge with a quantile attribute, the count and sum as
// delta Sums (the count monotonic).
func (c *converter) deltaSummary(mf *dto.MetricFamily, meta func(string) *metricspb.Metric) []*metricspb.Metric {
	name := mf.GetName()
	quantiles := &metricspb.Gauge{}
	counts := &metricspb.Sum{IsMonotonic: true, AggregationTemporality: c.aggregation()}
	sums := &metricspb.Sum{AggregationTemporality: c.aggregation()}
	for _, m := range mf.GetMetric() {
		sm := m.GetSummary()
		s := c.sample(name, m, sm.GetCreatedTimestamp())
		for _, q := range sm.GetQuantile() {
			a := append(slices.Clip(s.attrs), attr("quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)))
			quantiles.DataPoints = append(quantiles.DataPoints, number(a, 0, s.t, q.GetValue()))
		}
		vals := []float64{float64(sm.GetSampleCount()), sm.GetSampleSum()}
		if p, ok := c.track.delta(s.key, vals, nil, false, s.t, s.created); ok {
			counts.DataPoints = append(counts.DataPoints, number(s.attrs, p.Start, s.t, p.Vals[0]))
			sums.DataPoints = append(sums.DataPoints, number(s.attrs, p.Start, s.t, p.Vals[1]))
		}
	}
	q, n, sm := meta(name), meta(name+"_count"), meta(name+"_sum")
	q.Data = &metricspb.Metric_Gauge{Gauge: quantiles}
	n.Data = &metricspb.Metric_Sum{Sum: counts}
	sm.Data = &metricspb.Metric_Sum{Sum: sums}
	return nonEmpty(q, n, sm)
}

// gaugeHistogram sends a gauge histogram as the gauges Prometheus itself
// exposes for one: its buckets go up and down, so neither temporality of
// an OTLP Histogram fits.
func (c *converter) gaugeHistogram(mf *dto.MetricFamily, meta func(string) *metricspb.Metric) []*metricspb.Metric {
	name := mf.GetName()
	buckets, counts, sums := &metricspb.Gauge{}, &metricspb.Gauge{}, &metricspb.Gauge{}
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		s := c.sample(name, m, nil)
		vals, bounds := histogramVals(h)
		for i, b := range append(bounds, math.Inf(1)) {
			n := vals[0]
			if i < len(bounds) {
				n = vals[2+i]
			}
			a := append(slices.Clip(s.attrs), attr("le", formatBound(b)))
			buckets.DataPoints = append(buckets.DataPoints, number(a, 0, s.t, n))
		}
		counts.DataPoints = append(counts.DataPoints, number(s.attrs, 0, s.t, vals[0]))
		sums.DataPoints = append(sums.DataPoints, number(s.attrs, 0, s.t, vals[1]))
	}
	b, n, sm := meta(name+"_bucket"), meta(name+"_gcount"), meta(name+"_gsum")
	b.Data = &metricspb.Metric_Gauge{Gauge: buckets}
	n.Data = &metricspb.Metric_Gauge{Gauge: counts}
	sm.Data = &metricspb.Metric_Gauge{Gauge: sums}
	return nonEmpty(b, n, sm)
}

func formatBound(b float64) string {
	if math.IsInf(b, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(b, 'g', -1, 64)
}

// points counts a metric's data points.
func points(m *metricspb.Metric) int {
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		return len(d.Gauge.GetDataPoints())
	case *metricspb.Metric_Sum:
		return len(d.Sum.GetDataPoints())
	case *metricspb.Metric_Histogram:
		return len(d.Histogram.GetDataPoints())
	case *metricspb.Metric_Summary:
		return len(d.Summary.GetDataPoints())
	}
	return 0
}

// slice returns a copy of m holding only its data points [i, j).
func slice(m *metricspb.Metric, i, j int) *metricspb.Metric {
	out := &metricspb.Metric{Name: m.Name, Description: m.Description, Unit: m.Unit}
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		out.Data = &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: d.Gauge.DataPoints[i:j]}}
	case *metricspb.Metric_Sum:
		out.Data = &metricspb.Metric_Sum{Sum: &metricspb.Sum{
			DataPoints: d.Sum.DataPoints[i:j], AggregationTemporality: d.Sum.AggregationTemporality, IsMonotonic: d.Sum.IsMonotonic,
		}}
	case *metricspb.Metric_Histogram:
		out.Data = &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			DataPoints: d.Histogram.DataPoints[i:j], AggregationTemporality: d.Histogram.AggregationTemporality,
		}}
	case *metricspb.Metric_Summary:
		out.Data = &metricspb.Metric_Summary{Summary: &metricspb.Summary{DataPoints: d.Summary.DataPoints[i:j]}}
	}
	return out
}

// request is one export request's content and its number of data points.
type request struct {
	data   *metricspb.MetricsData
	points int
}

// split cuts rm into requests of at most maxPoints data points and about
// maxBytes encoded bytes, in order (a metric with more is cut into
// several; a single point larger than maxBytes goes alone). The cut is
// deterministic, so a resent batch is cut as before and the requests
// already accepted can be skipped. No request is made without points.
func split(rm *metricspb.ResourceMetrics, maxPoints, maxBytes int) []*request {
	var scope *commonpb.InstrumentationScope
	if len(rm.GetScopeMetrics()) > 0 {
		scope = rm.GetScopeMetrics()[0].GetScope()
	}
	// What every request carries besides its metrics, with room for the
	// tags and lengths of the nesting.
	base := proto.Size(rm.GetResource()) + proto.Size(scope) + 32
	var (
		out  []*request
		cur  []*metricspb.Metric
		n    int
		size = base
	)
	flush := func() {
		if n > 0 {
			out = append(out, &request{points: n, data: &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{
				Resource:     rm.GetResource(),
				ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: scope, Metrics: cur}},
			}}}})
		}
		cur, n, size = nil, 0, base
	}
	for _, sm := range rm.GetScopeMetrics() {
		for _, m := range sm.GetMetrics() {
			total := points(m)
			head := proto.Size(&metricspb.Metric{Name: m.Name, Description: m.Description, Unit: m.Unit}) + 16
			for i := 0; i < total; {
				j, add := i, head
				for j < total && n+j-i < maxPoints {
					ps := pointSize(m, j) + 8
					if size+add+ps > maxBytes && (n > 0 || j > i) {
						break
					}
					add += ps
					j++
				}
				if j == i { // nothing more fits: start the next request
					flush()
					continue
				}
				if i == 0 && j == total {
					cur = append(cur, m)
				} else {
					cur = append(cur, slice(m, i, j))
				}
				n, size, i = n+j-i, size+add, j
				if i < total {
					flush()
				}
			}
		}
	}
	flush()
	return out
}

// pointSize is the encoded size of a metric's data point i.
func pointSize(m *metricspb.Metric, i int) int {
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		return proto.Size(d.Gauge.DataPoints[i])
	case *metricspb.Metric_Sum:
		return proto.Size(d.Sum.DataPoints[i])
	case *metricspb.Metric_Histogram:
		return proto.Size(d.Histogram.DataPoints[i])
	case *metricspb.Metric_Summary:
		return proto.Size(d.Summary.DataPoints[i])
	}
	return 0
}
