package exposition

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// benchDocument builds a text document of about n series: counters,
// gauges, histograms and summaries with one to three labels, some with
// escapes, the mix an exporter with many targets produces.
func benchDocument(n int) []byte {
	var b bytes.Buffer
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	series := 0
	for f := 0; series < n; f++ {
		switch f % 4 {
		case 0:
			fmt.Fprintf(&b, "# HELP app_requests_%d_total Requests handled, by method and code.\n# TYPE app_requests_%d_total counter\n", f, f)
			for i := 0; i < 500; i++ {
				fmt.Fprintf(&b, "app_requests_%d_total{code=\"%d\",handler=\"/api/v1/item/%d\",method=\"%s\"} %d\n", f, 200+i%5, i, methods[i%4], i*1000+7)
			}
			series += 500
		case 1:
			fmt.Fprintf(&b, "# HELP app_temperature_%d_celsius Temperature with a \\\\ and a \\n.\n# TYPE app_temperature_%d_celsius gauge\n", f, f)
			for i := 0; i < 500; i++ {
				fmt.Fprintf(&b, "app_temperature_%d_celsius{sensor=\"s%d\",room=\"a \\\"b\\\"\"} %g\n", f, i, float64(i)*0.37-20)
			}
			series += 500
		case 2:
			fmt.Fprintf(&b, "# HELP app_latency_%d_seconds Latency.\n# TYPE app_latency_%d_seconds histogram\n", f, f)
			for i := 0; i < 50; i++ {
				c := 0
				for _, le := range []string{"0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"} {
					c += i
					fmt.Fprintf(&b, "app_latency_%d_seconds_bucket{route=\"r%d\",le=\"%s\"} %d\n", f, i, le, c)
				}
				fmt.Fprintf(&b, "app_latency_%d_seconds_sum{route=\"r%d\"} %g\napp_latency_%d_seconds_count{route=\"r%d\"} %d\n", f, i, float64(c)*0.25, f, i, c)
			}
			series += 500
		case 3:
			fmt.Fprintf(&b, "# TYPE app_rpc_%d_seconds summary\n", f)
			for i := 0; i < 100; i++ {
				for _, q := range []string{"0.5", "0.9", "0.99"} {
					fmt.Fprintf(&b, "app_rpc_%d_seconds{service=\"svc%d\",quantile=\"%s\"} %g\n", f, i, q, float64(i)/7)
				}
				fmt.Fprintf(&b, "app_rpc_%d_seconds_sum{service=\"svc%d\"} %g\napp_rpc_%d_seconds_count{service=\"svc%d\"} %d\n", f, i, float64(i)*3.5, f, i, i*10)
			}
			fmt.Fprintf(&b, "app_up_%d 1\n", f)
			series += 501
		}
	}
	return b.Bytes()
}

// BenchmarkParse100k compares Parse (with its Validate) plus Encode with
// expfmt's text decoder on the same 100,000 series. "ratio" runs both in
// each iteration and reports throughput-x (ours over expfmt's, want >= 2.5)
// and alloc-x (bytes we allocate per input byte, want < 4).
func BenchmarkParse100k(b *testing.B) {
	doc := benchDocument(100_000)
	ours := func(b *testing.B) {
		fams, err := Parse(doc, FormatText)
		if err != nil {
			b.Fatal(err)
		}
		if err := Encode(io.Discard, fams, expfmt.FmtText); err != nil {
			b.Fatal(err)
		}
	}
	theirs := func(b *testing.B) {
		p := expfmt.NewTextParser(model.LegacyValidation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(doc)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("exposition", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			ours(b)
		}
	})
	b.Run("expfmt", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			theirs(b)
		}
	})
	b.Run("ratio", func(b *testing.B) {
		var oursT, theirsT time.Duration
		var alloc uint64
		var ms runtime.MemStats
		for b.Loop() {
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			start := time.Now()
			ours(b)
			oursT += time.Since(start)
			runtime.ReadMemStats(&ms)
			alloc += ms.TotalAlloc - before
			start = time.Now()
			theirs(b)
			theirsT += time.Since(start)
		}
		b.ReportMetric(float64(theirsT)/float64(oursT), "throughput-x")
		b.ReportMetric(float64(alloc)/float64(b.N)/float64(len(doc)), "alloc-x")
		b.ReportMetric(float64(len(doc)), "input-bytes")
	})
	// The worst case for the spellings kept for forwarding: every integer
	// written as the Python client writes it ("3.0", le="1.0"), so that
	// every value and bound is recorded.
	py := regexp.MustCompile(`(?m) (\d+)$`).ReplaceAll(doc, []byte(" $1.0"))
	py = regexp.MustCompile(`le="(\d+)"`).ReplaceAll(py, []byte(`le="$1.0"`))
	b.Run("python-ratio", func(b *testing.B) {
		var oursT, theirsT time.Duration
		for b.Loop() {
			start := time.Now()
			fams, err := Parse(py, FormatText)
			if err != nil {
				b.Fatal(err)
			}
			if err := Encode(io.Discard, fams, expfmt.FmtText); err != nil {
				b.Fatal(err)
			}
			oursT += time.Since(start)
			start = time.Now()
			p := expfmt.NewTextParser(model.LegacyValidation)
			if _, err := p.TextToMetricFamilies(bytes.NewReader(py)); err != nil {
				b.Fatal(err)
			}
			theirsT += time.Since(start)
		}
		b.ReportMetric(float64(theirsT)/float64(oursT), "throughput-x")
	})
}
