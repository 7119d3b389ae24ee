package exporter

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func newScrape(t *testing.T, h http.HandlerFunc, maxBytes int64) (*scrapeExporter, *httptest.Server) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL + "/metrics?module=x")
	return &scrapeExporter{
		name: "node", job: "node", url: u, maxBytes: maxBytes,
		params: Params{"target": {Name: "target"}}, client: ts.Client(),
	}, ts
}

func TestScrapeForwardsValidatedMetrics(t *testing.T) {
	var gotQuery url.Values
	e, _ := newScrape(t, func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.Query()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("# TYPE node_load1 gauge\nnode_load1 0.5\n"))
	}, 1<<20)
	res, err := e.Run(context.Background(), &Request{Params: map[string]string{"target": "host1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Families) != 1 || res.Families[0].GetName() != "node_load1" || res.Families[0].Metric[0].GetGauge().GetValue() != 0.5 {
		t.Fatalf("families %v", res.Families)
	}
	if gotQuery.Get("target") != "host1" || gotQuery.Get("module") != "x" {
		t.Fatalf("query %v: params must be added to the URL's own", gotQuery)
	}
}

func TestScrapeFailures(t *testing.T) {
	cases := []struct {
		name    string
		h       http.HandlerFunc
		max     int64
		timeout time.Duration
		want    error
	}{
		{"status", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }, 1 << 20, time.Second, ErrFailed},
		{"garbage", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("this is not { exposition\n")) }, 1 << 20, time.Second, ErrInvalidOutput},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("# padding comment line\n", 1000)))
		}, 100, time.Second, ErrOutputTooLarge},
		{"slow", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, 1 << 20, 50 * time.Millisecond, ErrTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newScrape(t, c.h, c.max)
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			defer cancel()
			_, err := e.Run(ctx, &Request{})
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestScrapeUnreachable(t *testing.T) {
	e, ts := newScrape(t, func(http.ResponseWriter, *http.Request) {}, 1<<20)
	ts.Close()
	if _, err := e.Run(context.Background(), &Request{}); !errors.Is(err, ErrFailed) {
		t.Fatalf("error %v", err)
	}
}
