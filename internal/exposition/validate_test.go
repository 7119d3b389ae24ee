package exposition

import (
	"errors"
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

func pair(n, v string) *dto.LabelPair { return &dto.LabelPair{Name: &n, Value: &v} }

func gaugeFam(name string, ms ...*dto.Metric) *dto.MetricFamily {
	return &dto.MetricFamily{Name: &name, Type: dto.MetricType_GAUGE.Enum(), Metric: ms}
}

func gauge(v float64, ls ...*dto.LabelPair) *dto.Metric {
	return &dto.Metric{Label: ls, Gauge: &dto.Gauge{Value: &v}}
}

func histFam(name string, bs ...*dto.Bucket) *dto.MetricFamily {
	return &dto.MetricFamily{Name: &name, Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{
		{Histogram: &dto.Histogram{SampleCount: proto.Uint64(10), SampleSum: proto.Float64(1), Bucket: bs}},
	}}
}

func bucket(le float64, c uint64) *dto.Bucket {
	return &dto.Bucket{UpperBound: &le, CumulativeCount: &c}
}

// TestValidate covers the rules for families built in Go (a registry, a
// template), which have no lines: the error is the bare message.
func TestValidate(t *testing.T) {
	counter := func(name string, v float64) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{{Counter: &dto.Counter{Value: &v}}}}
	}
	withHelp := func(f *dto.MetricFamily, h string) *dto.MetricFamily { f.Help = &h; return f }
	withTs := func(m *dto.Metric, ts int64) *dto.Metric { m.TimestampMs = &ts; return m }
	tests := []struct {
		name string
		fams []*dto.MetricFamily
		want string
	}{
		{"valid", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("x", "1")), gauge(2, pair("x", "2")))}, ""},
		{"duplicate family", []*dto.MetricFamily{gaugeFam("a", gauge(1)), gaugeFam("a", gauge(2, pair("x", "1")))}, `family "a" appears twice`},
		{"conflicting type", []*dto.MetricFamily{gaugeFam("a", gauge(1)), counter("a", 1)}, `family "a" appears twice, with conflicting types gauge and counter`},
		{"conflicting help", []*dto.MetricFamily{withHelp(gaugeFam("a", gauge(1)), "x"), withHelp(gaugeFam("a", gauge(1)), "y")}, `family "a" appears twice, with conflicting HELP`},
		{"utf-8 family name", []*dto.MetricFamily{gaugeFam("a.b", gauge(1))}, ""},
		{"invalid utf-8 family name", []*dto.MetricFamily{gaugeFam("a\xff", gauge(1))}, `invalid metric name "a\xff": write [a-zA-Z_:][a-zA-Z0-9_:]*, or quote a UTF-8 name inside the braces: {"my.metric"}`},
		{"empty family name", []*dto.MetricFamily{gaugeFam("", gauge(1))}, `invalid metric name "": write [a-zA-Z_:][a-zA-Z0-9_:]*, or quote a UTF-8 name inside the braces: {"my.metric"}`},
		{"utf-8 label name", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("a-b", "1")))}, ""},
		{"empty label name", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("", "1")))}, `invalid label name "": write [a-zA-Z_][a-zA-Z0-9_]*, or quote a UTF-8 name: {"my.label"="value"} in series a{="1"}`},
		{"__name__ label", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("__name__", "b")))}, `label name __name__ in series a{__name__="b"} is reserved for the metric name`},
		{"NUL in label value", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("x", "a\x00b")))}, "value of label \"x\" in series a{x=\"a\\x00b\"} holds the control character U+0000: promtool and many receivers refuse control characters; only tab and newline (written \\n) may appear"},
		{"tab and newline in label value are fine", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("x", "a\tb\nc")))}, ""},
		{"same series, other timestamps", []*dto.MetricFamily{gaugeFam("a", withTs(gauge(1, pair("x", "1")), 1), withTs(gauge(2, pair("x", "1")), 2))}, ""},
		{"same series, same timestamp", []*dto.MetricFamily{gaugeFam("a", withTs(gauge(1, pair("x", "1")), 1), withTs(gauge(2, pair("x", "1")), 1))}, `duplicate series a{x="1"}`},
		{"duplicate label name", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("x", "1"), pair("x", "2")))}, `duplicate label name "x" in series a{x="1",x="2"}`},
		{"duplicate series unsorted", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("x", "1"), pair("y", "2")), gauge(1, pair("y", "2"), pair("x", "1")))}, `duplicate series a{y="2",x="1"}`},
		{"invalid utf8 value", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("x", "\xc3")))}, "value of label \"x\" in series a{x=\"\\xc3\"} is not valid UTF-8"},
		{"invalid utf8 help", []*dto.MetricFamily{withHelp(gaugeFam("a", gauge(1)), "\xc3")}, `HELP of "a" is not valid UTF-8`},
		{"no samples", []*dto.MetricFamily{gaugeFam("a")}, `family "a" has no samples`},
		{"wrong value kind", []*dto.MetricFamily{{Name: proto.String("a"), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{gauge(1)}}}, `series a has no counter value`},
		{"negative counter", []*dto.MetricFamily{counter("c_total", -2)}, `counter c_total has negative value -2`},
		{"le on histogram", []*dto.MetricFamily{{Name: proto.String("h"), Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{{Label: []*dto.LabelPair{pair("le", "1")}, Histogram: &dto.Histogram{}}}}}, `label "le" is reserved for the buckets of histogram h{le="1"}`},
		{"quantile on summary", []*dto.MetricFamily{{Name: proto.String("s"), Type: dto.MetricType_SUMMARY.Enum(), Metric: []*dto.Metric{{Label: []*dto.LabelPair{pair("quantile", "1")}, Summary: &dto.Summary{}}}}}, `label "quantile" is reserved for the quantiles of summary s{quantile="1"}`},
		{"le on gauge is fine", []*dto.MetricFamily{gaugeFam("a", gauge(1, pair("le", "1")))}, ""},
		{"implicit +Inf bucket is fine", []*dto.MetricFamily{histFam("h", bucket(1, 3), bucket(2, 5))}, ""},
		{"count below buckets", []*dto.MetricFamily{histFam("h", bucket(1, 3), bucket(2, 50))}, `count 10 of histogram h is less than its largest bucket (50)`},
		{"buckets out of order", []*dto.MetricFamily{histFam("h", bucket(2, 3), bucket(1, 3))}, `buckets of histogram h are not in increasing le order`},
		{"non-monotonic", []*dto.MetricFamily{histFam("h", bucket(1, 3), bucket(math.Inf(1), 2))}, `bucket le="+Inf" of histogram h counts 2, less than the bucket before it (3): buckets are cumulative`},
		{"series name clash", []*dto.MetricFamily{histFam("h", bucket(1, 1)), gaugeFam("h_count", gauge(1))}, `series name h_count of gauge "h_count" clashes with histogram "h"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.fams)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != 0 || err.Error() != tt.want {
				t.Errorf("Validate() = %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestValidateRegistry makes sure whatever client_golang gathers, the
// source of the built-in exporters' families, passes.
func TestValidateRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"a"})
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"}, []string{"a"})
	s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "s_seconds", Help: "s", Objectives: map[float64]float64{0.5: 0.05}})
	reg.MustRegister(c, h, s, collectors.NewGoCollector())
	c.WithLabelValues("x").Add(3)
	h.WithLabelValues("y").Observe(0.2)
	s.Observe(1)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(fams); err != nil {
		t.Fatalf("Validate(gathered) = %v", err)
	}
	// And the text they encode to parses back.
	if _, err := Parse(Text(fams), FormatText); err != nil {
		t.Fatalf("Parse(Text(gathered)) = %v", err)
	}
}
