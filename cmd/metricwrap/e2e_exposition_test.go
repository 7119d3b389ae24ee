package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// TestPrometheusSeesWhatTheExporterWrote: a real Prometheus 2 scrapes
// /metrics/NAME of an exporter that writes as the Python client does
// (le="1.0", values like 1.0) and a UTF-8 name. Prometheus 2 keys series on
// the label text, so the buckets must arrive as written, and it allows no
// UTF-8 names, so the name must arrive escaped.
func TestPrometheusSeesWhatTheExporterWrote(t *testing.T) {
	t.Parallel()
	promBin := testenv.Prometheus(t)
	dir := t.TempDir()
	doc := "# HELP lat_seconds Latency\n# TYPE lat_seconds histogram\n" +
		"lat_seconds_bucket{le=\"0.5\"} 0.0\nlat_seconds_bucket{le=\"1.0\"} 1.0\nlat_seconds_bucket{le=\"+Inf\"} 1.0\n" +
		"lat_seconds_sum 0.75\nlat_seconds_count 1.0\n" +
		"# TYPE \"my.metric\" gauge\n{\"my.metric\",\"dotted.label\"=\"x\"} 2.5\n"
	docPath := writeFile(t, dir, "doc.prom", doc, 0o644)
	cfg := writeFile(t, dir, "metricwrap.yml", `exporters:
  py:
    command: [/bin/sh, -c, 'cat "$0" > "$METRICS_FILE"', `+docPath+`]
`, 0o644)
	mw := startServe(t, os.Environ(), "--config.file", cfg)
	mwAddr := strings.TrimPrefix(mw.url, "http://")
	promCfg := writeFile(t, dir, "prometheus.yml", `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: py
    metrics_path: /metrics/py
    static_configs: [{targets: ['`+mwAddr+`']}]
`, 0o644)
	prom := testenv.StartServer(t, promBin, "/-/ready",
		"--config.file="+promCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address={addr}",
	)
	var les []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		les = les[:0]
		for _, s := range promQuery(t, prom.URL, "lat_seconds_bucket") {
			les = append(les, s.Metric["le"])
		}
		sort.Strings(les)
		if len(les) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Join(les, " ") != "+Inf 0.5 1.0" {
		t.Fatalf("bucket series le = %v, want the exporter's +Inf 0.5 1.0\nmetricwrap output:\n%s", les, mw.out.String())
	}
	got := promQuery(t, prom.URL, "my_metric")
	if len(got) != 1 || got[0].Metric["dotted_label"] != "x" {
		t.Errorf("escaped UTF-8 series = %v, want my_metric{dotted_label=\"x\"}", got)
	}
}

// TestControlCharacterRefused: a label value with a NUL byte, which
// promtool and many receivers refuse, fails the run with the line to fix
// instead of being served or pushed.
func TestControlCharacterRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "metricwrap.yml", `exporters:
  nul:
    command: [/bin/sh, -c, 'printf "ok 1\nbad{v=\"a\\000b\"} 1\n" > "$METRICS_FILE"']
`, 0o644)
	r := runMW(t, baseEnv(), "run", "nul", "--config.file", cfg)
	if r.code == 0 {
		t.Fatalf("run succeeded:\n%s", r.stdout)
	}
	want := `line 2: value of label "v" in series bad{v="a\x00b"} holds the control character U+0000`
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
}
