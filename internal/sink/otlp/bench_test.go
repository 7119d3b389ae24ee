package otlp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink/otlp"
)

// BenchmarkPush is one run of 1,000 counter series and 100 histograms (5
// buckets) through the sink to a receiver that discards, per temporality;
// delta includes the state file written per batch.
func BenchmarkPush(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	mk := func(id string, i int) *batch.Batch {
		c := &dto.MetricFamily{Name: ptr("reqs_total"), Type: dto.MetricType_COUNTER.Enum()}
		for s := range 1000 {
			c.Metric = append(c.Metric, &dto.Metric{Label: []*dto.LabelPair{label("path", fmt.Sprint("/p", s))},
				Counter: &dto.Counter{Value: ptr(float64(i * s))}})
		}
		h := &dto.MetricFamily{Name: ptr("lat_seconds"), Type: dto.MetricType_HISTOGRAM.Enum()}
		for s := range 100 {
			hist := &dto.Histogram{SampleCount: ptr(uint64(10 * i)), SampleSum: ptr(float64(i))}
			for k, ub := range []float64{0.01, 0.1, 1, 10, 100} {
				hist.Bucket = append(hist.Bucket, &dto.Bucket{UpperBound: ptr(ub), CumulativeCount: ptr(uint64(2 * k * i))})
			}
			h.Metric = append(h.Metric, &dto.Metric{Label: []*dto.LabelPair{label("op", fmt.Sprint("o", s))}, Histogram: hist})
		}
		return mkBatch(id, t0.Add(time.Duration(i)*time.Minute), c, h)
	}
	for _, temp := range []otlp.Temporality{otlp.Cumulative, otlp.Delta} {
		b.Run(string(temp), func(b *testing.B) {
			s, err := otlp.New(otlp.Options{Name: "bench", URL: srv.URL + "/v1/metrics", Temporality: temp,
				StateFile: filepath.Join(b.TempDir(), "state.json")})
			if err != nil {
				b.Fatal(err)
			}
			batches := make([]*batch.Batch, b.N+1)
			for i := range batches {
				batches[i] = mk(fmt.Sprint("b", i), i)
			}
			_ = s.Push(context.Background(), batches[0])
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				if err := s.Push(context.Background(), batches[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
