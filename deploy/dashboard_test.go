package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// dashboardExprs returns every PromQL expression of the dashboard: panel
// targets and template variable queries.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("grafana", "metricwrap-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q has a target without expr", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type == "query" {
			exprs = append(exprs, v.Definition)
		}
	}
	return exprs
}

// metricNameRE finds the metric names in an expression: every name the
// server exposes has one of these prefixes, and no label or function does.
var metricNameRE = regexp.MustCompile(`\b(?:metricwrap|server|process|go)_[A-Za-z0-9_:]*`)

// exposedNames are the sample names of a /metrics answer (histograms as
// their _bucket, _sum and _count series).
func exposedNames(text string) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// fakeSink answers pushes with status (and Dynatrace's JSON for 202).
func fakeSink(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(status)
		if status == http.StatusAccepted {
			lines := strings.Count(strings.TrimSpace(string(body)), "\n") + 1
			fmt.Fprintf(w, `{"linesOk":%d,"linesInvalid":0,"error":null}`, lines)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// liveConfig has an exporter for each kind of event the dashboard shows:
// runs, cache hits, stale results, shared runs, overload, scheduled runs,
// pushes that succeed, fail into the spool and overflow it, and Dynatrace
// lines, accepted and dropped.
const liveConfig = `
global:
  max_concurrency: 1
exporters:
  dummy: {builtin: dummy}
  cached: {builtin: dummy, cache_ttl: 1h}
  flaky:
    command: [/bin/sh, -c, 'if [ -e "$0" ]; then exit 1; fi; : > "$0"; echo "flaky_up 1" > "$METRICS_FILE"', '{{flag}}']
    stale_on_error: true
  slow:
    command: [/bin/sh, -c, 'sleep 1; echo "slow_up 1" > "$METRICS_FILE"']
    timeout: 10s
  sched:
    command: [/bin/sh, -c, 'printf "# TYPE sched_value gauge\nsched_value 1\n# TYPE sched_nan gauge\nsched_nan NaN\n" > "$METRICS_FILE"']
    schedule: 1s
    sinks: [ok, bad, dt]
sinks:
  ok: {type: pushgateway, url: '{{ok}}', retry_for: 100ms}
  bad: {type: pushgateway, url: '{{bad}}', retry_for: 100ms}
  dt: {type: dynatrace, url: '{{dt}}/api/v2/metrics/ingest', retry_for: 100ms}
spool: {dir: '{{spool}}', max_bytes: 1KiB}
`

// TestDashboardQueriesExposedMetrics builds metricwrap, serves a config
// that makes every metric of the dashboard and of the alerting rules
// appear, and checks each name they query against the live /metrics.
func TestDashboardQueriesExposedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs metricwrap")
	}
	exprs := dashboardExprs(t)
	want := map[string]bool{}
	for _, e := range exprs {
		names := metricNameRE.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("expression queries no metricwrap metric: %s", e)
		}
		if !strings.Contains(e, "label_values") && !strings.Contains(e, `instance=~"$instance"`) {
			t.Errorf("expression ignores the instance variable: %s", e)
		}
		for _, n := range names {
			want[n] = true
		}
	}
	dashboardNames := len(want)
	for _, e := range ruleExprs(t) {
		names := metricNameRE.FindAllString(e, -1)
		if len(names) == 0 && e != `up{job="metricwrap"} == 0` {
			t.Errorf("rule queries no metricwrap metric: %s", e)
		}
		for _, n := range names {
			want[n] = true
		}
	}

	dir := t.TempDir()
	bin := metricwrapBinary(t)
	cfg := strings.NewReplacer(
		"{{flag}}", filepath.Join(dir, "flaky-ran"),
		"{{ok}}", fakeSink(t, http.StatusOK).URL,
		"{{bad}}", fakeSink(t, http.StatusInternalServerError).URL,
		"{{dt}}", fakeSink(t, http.StatusAccepted).URL,
		"{{spool}}", filepath.Join(dir, "spool"),
	).Replace(liveConfig)
	cfgFile := filepath.Join(dir, "metricwrap.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DT_API_TOKEN", "test-token")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	p := testenv.StartServer(t, bin, "/-/ready", "serve", "--config.file="+cfgFile,
		"--web.listen-address={addr}", "--exporters.dir="+filepath.Join(dir, "none"),
		"--cluster.shards=1", "--cluster.shard=0") // the metricwrap_cluster_* series of the rules

	get := func(path string, header ...string) int {
		req, err := http.NewRequest(http.MethodGet, p.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/metrics/dummy", "/metrics/cached", "/metrics/cached", "/metrics/flaky", "/metrics/flaky"} {
		get(path)
	}

	// Poll: the scheduled pushes come every second, and sharing a run or
	// running out of slots needs requests to overlap, which a burst makes
	// likely but not certain.
	var missing []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		exposed := exposedNames(string(body))
		missing = missing[:0]
		for n := range want {
			if !exposed[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { get("/metrics/slow") })
		}
		time.Sleep(200 * time.Millisecond) // let the slow run take the only slot
		get("/metrics/dummy", "X-Prometheus-Scrape-Timeout-Seconds", "0.7")
		wg.Wait()
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard or the rules query metrics the server does not expose: %v", missing)
	}
	if dashboardNames < 20 {
		t.Errorf("only %d metric names found in the dashboard; the extraction is broken", len(want))
	}
}
