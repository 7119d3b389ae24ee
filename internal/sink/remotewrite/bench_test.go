package remotewrite

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/golang/snappy"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// benchFamilies builds families that make exactly n series: counters,
// gauges, untyped, histograms (10 buckets) and summaries (3 quantiles),
// each metric with three labels.
func benchFamilies(n int) []*dto.MetricFamily {
	labels := func(i int) []*dto.LabelPair {
		return []*dto.LabelPair{
			{Name: ptr("instance"), Value: ptr("host-" + strconv.Itoa(i%50) + ".example.org:9100")},
			{Name: ptr("path"), Value: ptr("/api/v1/items/" + strconv.Itoa(i))},
			{Name: ptr("zone"), Value: ptr("eu-west-" + strconv.Itoa(i%3))},
		}
	}
	fam := func(name string, typ dto.MetricType) *dto.MetricFamily {
		return &dto.MetricFamily{Name: ptr(name), Help: ptr("Benchmark family " + name + "."), Type: typ.Enum()}
	}
	var (
		out    []*dto.MetricFamily
		series int
		i      int
	)
	for series < n {
		var mf *dto.MetricFamily
		switch k := i % 5; {
		case k == 3 && n-series >= 13:
			mf = fam("bench_latency_seconds_"+strconv.Itoa(i), dto.MetricType_HISTOGRAM)
			for j := range 20 {
				if n-series < 13 {
					break
				}
				h := &dto.Histogram{SampleCount: ptr(uint64(100 + j)), SampleSum: ptr(float64(j) * 1.5)}
				for b := range 10 {
					h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: ptr(0.005 * float64(int(1)<<b)), CumulativeCount: ptr(uint64(b * 10))})
				}
				mf.Metric = append(mf.Metric, &dto.Metric{Label: labels(series), Histogram: h})
				series += 13 // 10 buckets, +Inf, _sum, _count
			}
		case k == 4 && n-series >= 5:
			mf = fam("bench_size_bytes_"+strconv.Itoa(i), dto.MetricType_SUMMARY)
			for j := range 20 {
				if n-series < 5 {
					break
				}
				s := &dto.Summary{SampleCount: ptr(uint64(j)), SampleSum: ptr(float64(j) * 2.5)}
				for _, q := range []float64{0.5, 0.9, 0.99} {
					s.Quantile = append(s.Quantile, &dto.Quantile{Quantile: ptr(q), Value: ptr(q * 1000)})
				}
				mf.Metric = append(mf.Metric, &dto.Metric{Label: labels(series), Summary: s})
				series += 5
			}
		default:
			typ := []dto.MetricType{dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED}[i%3]
			mf = fam("bench_value_"+strconv.Itoa(i), typ)
			for j := 0; j < 100 && series < n; j++ {
				m := &dto.Metric{Label: labels(series)}
				v := float64(series) * 1.25
				switch typ {
				case dto.MetricType_COUNTER:
					m.Counter = &dto.Counter{Value: &v}
				case dto.MetricType_GAUGE:
					m.Gauge = &dto.Gauge{Value: &v}
				default:
					m.Untyped = &dto.Untyped{Value: &v}
				}
				mf.Metric = append(mf.Metric, m)
				series++
			}
		}
		if len(mf.Metric) > 0 {
			out = append(out, mf)
		}
		i++
	}
	return out
}

// BenchmarkEncode100k measures what Push does before the network for
// 100,000 series (remote write protobuf, snappy, DefaultBatchSize per
// request) and, in the same run, the expfmt text encoding of the same
// families: text-ns/op, text-allocs/op and rw/text (time ratio).
func BenchmarkEncode100k(b *testing.B) {
	const n = 100_000
	fams := benchFamilies(n)
	var series, wire int
	encodeRW := func() {
		var compressed []byte
		series, wire = 0, 0
		e := &encoder{max: DefaultBatchSize, ts: 1700000000000, flush: func(req []byte, k int) error {
			compressed = snappy.Encode(compressed[:cap(compressed)], req)
			series += k
			wire += len(compressed)
			return nil
		}}
		if err := e.encode(fams); err != nil {
			b.Fatal(err)
		}
	}
	encodeRW()
	if series != n {
		b.Fatalf("encoded %d series, want %d", series, n)
	}

	var buf bytes.Buffer
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	encodeText := func() {
		buf.Reset()
		enc := expfmt.NewEncoder(&buf, format)
		for _, mf := range fams {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
	textAllocs := testing.AllocsPerRun(1, encodeText)

	// The two alternate, so that load from other processes weighs on both.
	var text time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		encodeRW()
		b.StopTimer()
		start := time.Now()
		encodeText()
		text += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	rwNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	textNs := float64(text.Nanoseconds()) / float64(b.N)

	b.ReportMetric(float64(wire), "wire-B")
	b.ReportMetric(float64(buf.Len()), "text-B")
	b.ReportMetric(textNs, "text-ns/op")
	b.ReportMetric(textAllocs, "text-allocs/op")
	b.ReportMetric(rwNs/textNs, "rw/text")
}
