package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Otelcol returns the path of the OpenTelemetry Collector that
// scripts/install-test-deps builds with the collector builder (OTLP
// receiver, file exporter).
func Otelcol(t testing.TB) string {
	t.Helper()
	p := findBinary(t, "otelcol-metricwrap")
	if p == "" {
		missing(t, "OpenTelemetry Collector (otelcol-metricwrap)", "run scripts/install-test-deps")
	}
	return p
}

// Collector is a running OpenTelemetry Collector whose OTLP/HTTP receiver
// hands every metrics request to the file exporter, which writes it as one
// line of OTLP JSON.
type Collector struct {
	*Process
	// MetricsURL is the receiver's OTLP/HTTP metrics endpoint.
	MetricsURL string
	file       string
}

// StartCollector runs a Collector on a free 127.0.0.1 port, with its own
// telemetry off (it would bind :8888), and stops it when the test ends.
func StartCollector(t testing.TB) *Collector {
	t.Helper()
	bin := Otelcol(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	out := filepath.Join(dir, "metrics.jsonl")
	cfg := filepath.Join(dir, "otelcol.yaml")
	conf := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http:
        endpoint: %q
exporters:
  file:
    path: %q
    flush_interval: 10ms
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
`, addr, out)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// GET on the metrics path answers 405 once the receiver listens.
	p := StartServerAt(t, addr, bin, "/v1/metrics", "--config=file:"+cfg)
	return &Collector{Process: p, MetricsURL: p.URL + "/v1/metrics", file: out}
}

// Received returns the requests the Collector has written so far, each as
// the OTLP JSON of one ExportMetricsServiceRequest.
func (c *Collector) Received(t testing.TB) [][]byte {
	t.Helper()
	data, err := os.ReadFile(c.file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// Only whole lines: the exporter may be halfway through the last one.
	var out [][]byte
	lines := bytes.Split(data, []byte("\n"))
	for _, line := range lines[:len(lines)-1] {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, line)
		}
	}
	return out
}
