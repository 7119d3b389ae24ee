package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exporter/builtin/dummy"
)

// dummyEntry is the built-in dummy exporter as the server runs it.
func dummyEntry(b *testing.B) *exporter.Entry {
	b.Helper()
	bi, err := dummy.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	return &exporter.Entry{Exporter: exporter.NewBuiltin("dummy", bi)}
}

// BenchmarkDummy compares /metrics/dummy, served in process without the
// network, with a bare promhttp handler serving a registry that holds the
// same families (collected once): the server's cost per request over the
// cheapest possible exposition.
func BenchmarkDummy(b *testing.B) {
	e := dummyEntry(b)
	set, _ := exporter.NewSet(e)
	s := New(set, Options{})
	h := s.Handler()

	reg := prometheus.NewRegistry()
	bi, _ := dummy.New(nil)
	if err := bi.Collect(context.Background(), nil, reg); err != nil {
		b.Fatal(err)
	}
	bare := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	for _, c := range []struct {
		name string
		h    http.Handler
		path string
	}{{"metricwrap", h, "/metrics/dummy"}, {"promhttp", bare, "/metrics"}} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, c.path, nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
