package server

import (
	"context"
	"strings"
	"testing"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exposition"
)

// documentExporter answers the families parsed from doc, as a command
// exporter that wrote doc to $METRICS_FILE would.
func documentExporter(t *testing.T, name, doc string) *fakeExporter {
	t.Helper()
	return &fakeExporter{name: name, fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
		fams, err := exposition.Parse([]byte(doc), exposition.Detect([]byte(doc)))
		if err != nil {
			t.Error(err)
			return nil, err
		}
		return &exporter.Result{Families: fams, Raw: []byte(doc)}, nil
	}}
}

// TestForwardsWhatWasRead: /metrics/NAME sends numbers as the exporter
// spelled them (Prometheus 2 keys series on le's text), converts only what
// the negotiated format asks for, and writes UTF-8 names quoted to a
// scraper that allows them and escaped to one that does not.
func TestForwardsWhatWasRead(t *testing.T) {
	python := "# HELP lat_seconds Latency\n# TYPE lat_seconds histogram\n" +
		"lat_seconds_bucket{le=\"0.5\"} 0.0\nlat_seconds_bucket{le=\"1.0\"} 1.0\nlat_seconds_bucket{le=\"+Inf\"} 1.0\n" +
		"lat_seconds_sum 0.75\nlat_seconds_count 1.0\n# HELP up_ratio Ratio\n# TYPE up_ratio gauge\nup_ratio 1e3 1700000000000\n"
	utf8 := "# TYPE \"my.metric\" gauge\n{\"my.metric\",\"dotted.label\"=\"x\"} 1.50\n"
	_, ts := newTestServer(t, Options{},
		&exporter.Entry{Exporter: documentExporter(t, "py", python)},
		&exporter.Entry{Exporter: documentExporter(t, "utf", utf8)})
	tests := []struct {
		name, path, accept string
		want, not          []string
	}{
		{"text as written", "/metrics/py", "", []string{
			`lat_seconds_bucket{le="1.0"} 1.0`, `lat_seconds_count 1.0`, `up_ratio 1e3 1700000000000`,
		}, []string{`le="1"`}},
		{"text to OpenMetrics converts only the timestamp", "/metrics/py", "application/openmetrics-text;version=1.0.0", []string{
			`lat_seconds_bucket{le="1.0"} 1.0`, `up_ratio 1e3 1.7e+09`, "# EOF\n",
		}, nil},
		{"utf-8 allowed", "/metrics/utf", "text/plain;version=0.0.4;escaping=allow-utf-8", []string{
			`# TYPE "my.metric" gauge`, `{"my.metric","dotted.label"="x"} 1.50`,
		}, nil},
		{"utf-8 escaped with underscores by default", "/metrics/utf", "", []string{
			`# TYPE my_metric gauge`, `my_metric{dotted_label="x"} 1.50`,
		}, []string{`"my.metric"`}},
		{"utf-8 escaped with values", "/metrics/utf", "text/plain;version=0.0.4;escaping=values", []string{
			`U__my_2e_metric{U__dotted_2e_label="x"} 1.50`,
		}, nil},
		{"utf-8 in OpenMetrics", "/metrics/utf", "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8", []string{
			`{"my.metric","dotted.label"="x"} 1.50`, "# EOF\n",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.accept != "" {
				hdr = []string{"Accept", tt.accept}
			}
			code, body, _ := get(t, ts.URL+tt.path, hdr...)
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(body, n) {
					t.Errorf("body has %q:\n%s", n, body)
				}
			}
		})
	}
}
