package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// TestScheduledRunsAreScrapesToPrometheus: scheduled runs delivered to a
// real Prometheus remote-write receiver look like Prometheus's own
// scrapes: job and instance labels, up and scrape_duration_seconds per
// run, and staleness markers (so an instant query stops returning a
// series at once, not after the 5m lookback) when a series vanishes, a
// run fails, or a reload removes the exporter.
func TestScheduledRunsAreScrapesToPrometheus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prom := testenv.StartServer(t, testenv.Prometheus(t), "/-/ready",
		"--config.file="+writeFile(t, dir, "prometheus.yml", "global:\n  scrape_interval: 1m\n", 0o644),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address={addr}",
		"--web.enable-remote-write-receiver",
	)
	withB := filepath.Join(dir, "with-b")
	failing := filepath.Join(dir, "failing")
	writeFile(t, dir, "with-b", "", 0o644)
	flap := writeFile(t, dir, "flap.sh", fmt.Sprintf(`#!/bin/sh
[ -e %q ] && exit 1
printf 'flap_a{job="mine"} 1\n' > "$METRICS_FILE"
[ -e %q ] && printf 'flap_b 2\n' >> "$METRICS_FILE"
exit 0
`, failing, withB), 0o755)
	gone := writeFile(t, dir, "gone.sh", "#!/bin/sh\nprintf 'gone_metric 5\\n' > \"$METRICS_FILE\"\n", 0o755)
	config := func(withGone bool) string {
		c := fmt.Sprintf(`
exporters:
  flap: {command: [%q], schedule: 200ms, sinks: [rw]}
sinks:
  rw: {type: remote_write, url: %q, retry_for: 5s}
spool: {dir: %q}
`, flap, prom.URL+"/api/v1/write", filepath.Join(dir, "spool"))
		if withGone {
			c = strings.Replace(c, "sinks:\n", fmt.Sprintf("  gone: {command: [%q], schedule: 200ms, sinks: [rw], instance: db-1}\nsinks:\n", gone), 1)
		}
		return c
	}
	cfg := writeFile(t, dir, "metricwrap.yml", config(true), 0o644)
	s := startServe(t, baseEnv(), "--config.file", cfg, "--web.enable-lifecycle")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.url, "http://"))
	host, _ := os.Hostname()
	instance := net.JoinHostPort(host, port)

	// eventually polls an instant query until it answers want ("" for
	// nothing at all): name{labels} value, sorted, one per line.
	eventually := func(t *testing.T, q, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var got string
		for time.Now().Before(deadline) {
			got = promText(t, prom.URL, q)
			if got == want {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("query %s: %q, want %q", q, got, want)
	}
	target := fmt.Sprintf(`instance=%q,job="flap"`, instance)
	eventually(t, "flap_a", fmt.Sprintf(`flap_a{exported_job="mine",%s} 1`, target))
	eventually(t, "flap_b", fmt.Sprintf(`flap_b{%s} 2`, target))
	eventually(t, `up{job="flap"}`, fmt.Sprintf(`up{%s} 1`, target))
	eventually(t, `count(scrape_duration_seconds{job="flap"} >= 0)`, `{} 1`)
	eventually(t, `gone_metric`, `gone_metric{instance="db-1",job="gone"} 5`)

	t.Run("a series that vanishes is stale at once", func(t *testing.T) {
		if err := os.Remove(withB); err != nil {
			t.Fatal(err)
		}
		eventually(t, "flap_b", "")
		eventually(t, "flap_a", fmt.Sprintf(`flap_a{exported_job="mine",%s} 1`, target))
	})
	t.Run("a reload that removes an exporter ends its series", func(t *testing.T) {
		if err := os.WriteFile(cfg, []byte(config(false)), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, body := request3(t, http.MethodPost, s.url+"/-/reload"); code != 200 {
			t.Fatalf("POST /-/reload: %d %s", code, body)
		}
		eventually(t, "gone_metric", "")
		eventually(t, `up{job="gone"}`, "")
	})
	t.Run("a failed run is up 0 and ends the series", func(t *testing.T) {
		writeFile(t, dir, "failing", "", 0o644)
		eventually(t, `up{job="flap"}`, fmt.Sprintf(`up{%s} 0`, target))
		eventually(t, "flap_a", "")
	})
}

// promText runs an instant query and renders the vector as sorted lines
// name{labels} value.
func promText(t *testing.T, base, q string) string {
	t.Helper()
	var lines []string
	for _, r := range promQuery(t, base, q) {
		name := r.Metric["__name__"]
		delete(r.Metric, "__name__")
		lines = append(lines, fmt.Sprintf("%s %v", seriesKey(name, r.Metric), r.Value[1]))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
