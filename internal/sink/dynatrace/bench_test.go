package dynatrace_test

import (
	"bytes"
	"fmt"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
)

// mixedFamilies builds n series spread over gauges, counters, histograms
// (5 buckets) and summaries (2 quantiles), 100 series per family, each with
// three labels, one of them needing escapes.
func mixedFamilies(n int) []*dto.MetricFamily {
	var fams []*dto.MetricFamily
	for i := 0; i < n; i += 100 {
		typ := (i / 100) % 4
		f := &dto.MetricFamily{Name: proto.String(fmt.Sprintf("bench_family_%d_seconds", i/100)), Help: proto.String("A benchmark family.")}
		for j := 0; j < 100 && i+j < n; j++ {
			v := float64(i+j) * 1.5
			m := &dto.Metric{Label: []*dto.LabelPair{
				{Name: proto.String("instance"), Value: proto.String(fmt.Sprintf("host-%d.example.com:9100", j))},
				{Name: proto.String("job"), Value: proto.String("node")},
				{Name: proto.String("path"), Value: proto.String(fmt.Sprintf("/api/v1/item %d", j))},
			}}
			switch typ {
			case 0:
				f.Type = dto.MetricType_GAUGE.Enum()
				m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
			case 1:
				f.Type = dto.MetricType_COUNTER.Enum()
				m.Counter = &dto.Counter{Value: proto.Float64(v)}
			case 2:
				f.Type = dto.MetricType_HISTOGRAM.Enum()
				m.Histogram = &dto.Histogram{SampleCount: proto.Uint64(10), SampleSum: proto.Float64(v)}
				for k, ub := range []float64{0.1, 0.5, 1, 5, 10} {
					m.Histogram.Bucket = append(m.Histogram.Bucket, &dto.Bucket{UpperBound: proto.Float64(ub), CumulativeCount: proto.Uint64(uint64(2 * k))})
				}
			case 3:
				f.Type = dto.MetricType_SUMMARY.Enum()
				m.Summary = &dto.Summary{SampleCount: proto.Uint64(10), SampleSum: proto.Float64(v), Quantile: []*dto.Quantile{
					{Quantile: proto.Float64(0.5), Value: proto.Float64(v / 10)},
					{Quantile: proto.Float64(0.99), Value: proto.Float64(v / 5)},
				}}
			}
			f.Metric = append(f.Metric, m)
		}
		fams = append(fams, f)
	}
	return fams
}

// BenchmarkSerialize100k compares the serializer with the text exposition
// encoder on the same 100,000 series and logs the ratio (target <= 2).
// Counters are warm (their second sighting), as in steady operation.
func BenchmarkSerialize100k(b *testing.B) {
	fams := mixedFamilies(100000)
	cfg := dynatrace.Config{DefaultDimensions: map[string]string{"env": "prod"}}
	counters := dynatrace.NewTestCounters()
	dynatrace.Serialize(fams, cfg, counters)

	var dt, text testing.BenchmarkResult
	b.Run("dynatrace", func(b *testing.B) {
		b.ReportAllocs()
		var l *dynatrace.Lines
		for b.Loop() {
			l = dynatrace.Serialize(fams, cfg, counters)
		}
		b.SetBytes(int64(len(l.Bytes())))
		dt = testing.BenchmarkResult{N: b.N, T: b.Elapsed()}
	})
	b.Run("expfmt", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, f := range fams {
				if err := enc.Encode(f); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.SetBytes(int64(buf.Len()))
		text = testing.BenchmarkResult{N: b.N, T: b.Elapsed()}
	})
	if dt.N > 0 && text.N > 0 {
		b.Logf("dynatrace/expfmt time ratio: %.2f (%d vs %d ns/op)", float64(dt.NsPerOp())/float64(text.NsPerOp()), dt.NsPerOp(), text.NsPerOp())
	}
}
