package server

import (
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// TestNegotiateMatchesExpfmt checks the remembered answer is NegotiateAccept's
// for each header, also when headers alternate.
func TestNegotiateMatchesExpfmt(t *testing.T) {
	accepts := []string{
		"",
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		"text/plain",
		"application/openmetrics-text; version=1.0.0; escaping=underscores",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
	}
	for range 2 {
		for _, a := range accepts {
			h := http.Header{}
			if a != "" {
				h.Set("Accept", a)
			}
			want := expfmt.NegotiateAccept(h, expfmt.DefaultOpenMetricsAcceptedFormats()...)
			for range 2 {
				if got := negotiate(h); got != want {
					t.Fatalf("negotiate(Accept: %q) = %q, want %q", a, got, want)
				}
			}
		}
	}
}

func BenchmarkNegotiate(b *testing.B) {
	h := http.Header{"Accept": {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"}}
	b.Run("expfmt", func(b *testing.B) {
		for b.Loop() {
			expfmt.NegotiateAccept(h, expfmt.DefaultOpenMetricsAcceptedFormats()...)
		}
	})
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			negotiate(h)
		}
	})
}
