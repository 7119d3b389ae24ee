package main

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// promSeries is one element of a Prometheus instant-query vector.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// promQuery runs an instant query against Prometheus' HTTP API.
func promQuery(t *testing.T, base, q string) []promSeries {
	t.Helper()
	code, body := get(t, base+"/api/v1/query?query="+url.QueryEscape(q))
	var doc struct {
		Status string `json:"status"`
		Data   struct {
			Result []promSeries `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || code != 200 || doc.Status != "success" {
		t.Fatalf("query %q: status %d, %v: %s", q, code, err, body)
	}
	return doc.Data.Result
}

// TestRealPrometheus has Debian's Prometheus scrape metricwrap: its own
// /metrics, and two exporters (a command and a Python class) for two
// targets each in the multi-target style, with relabelling as users write
// it for blackbox_exporter.
func TestRealPrometheus(t *testing.T) {
	t.Parallel()
	promBin := testenv.Prometheus(t)
	dir := t.TempDir()
	mwCfg := writeFile(t, dir, "metricwrap.yml", `exporters:
  echo:
    command:
      - /bin/sh
      - -c
      - >-
        printf 'echo_param{target="%s",region="%s"} 1\n' "$1" "$REGION" > "$METRICS_FILE"
      - sh
    params:
      target: {pattern: '[A-Za-z0-9.-]+', required: true, arg: '{value}'}
      region: {pattern: 'eu|us', default: eu, pass_as: env}
  switch:
    python: `+testdataPath(t, "exporters", "cisco", "cisco.py")+`
    params:
      target: {pattern: '[A-Za-z0-9.-]+', required: true}
`, 0o644)
	// The scrape timeout is 1s; a smaller offset than the default leaves a
	// Python exporter more of it on a loaded machine.
	mw := startServe(t, pythonEnv(t), "--config.file", mwCfg, "--web.timeout-offset=0.1s")
	mwAddr := strings.TrimPrefix(mw.url, "http://")

	multiTarget := func(job, path string, targets ...string) string {
		return `  - job_name: ` + job + `
    metrics_path: ` + path + `
    static_configs: [{targets: ['` + strings.Join(targets, `', '`) + `']}]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: '` + mwAddr + `'}
`
	}
	promCfg := writeFile(t, dir, "prometheus.yml", `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: metricwrap
    static_configs: [{targets: ['`+mwAddr+`']}]
`+multiTarget("echo", "/metrics/echo", "alpha.example", "beta.example")+
		multiTarget("switch", "/metrics/switch", "core-sw01", "core-sw02"), 0o644)
	prom := testenv.StartServer(t, promBin, "/-/ready",
		"--config.file="+promCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address={addr}",
	)

	// Every target up at the same time.
	want := []string{
		"echo/alpha.example", "echo/beta.example", "metricwrap/" + mwAddr,
		"switch/core-sw01", "switch/core-sw02",
	}
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for {
		got = got[:0]
		for _, s := range promQuery(t, prom.URL, "up == 1") {
			got = append(got, s.Metric["job"]+"/"+s.Metric["instance"])
		}
		sort.Strings(got)
		if strings.Join(got, " ") == strings.Join(want, " ") {
			break
		}
		if time.Now().After(deadline) {
			all := promQuery(t, prom.URL, "up")
			t.Fatalf("targets up: %v, want %v; all: %v\nmetricwrap output:\n%s", got, want, all, mw.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The exporters' series, one per target, labelled by Prometheus
	// (job, instance) and by the exporter (target, region, port).
	checks := []struct {
		query string
		want  []map[string]string
	}{
		{query: "echo_param", want: []map[string]string{
			{"__name__": "echo_param", "job": "echo", "instance": "alpha.example", "target": "alpha.example", "region": "eu"},
			{"__name__": "echo_param", "job": "echo", "instance": "beta.example", "target": "beta.example", "region": "eu"},
		}},
		{query: "cisco_up", want: []map[string]string{
			{"__name__": "cisco_up", "job": "switch", "instance": "core-sw01", "target": "core-sw01", "port": "22"},
			{"__name__": "cisco_up", "job": "switch", "instance": "core-sw02", "target": "core-sw02", "port": "22"},
		}},
		{query: "cisco_interfaces", want: []map[string]string{
			{"__name__": "cisco_interfaces", "job": "switch", "instance": "core-sw01", "target": "core-sw01"},
			{"__name__": "cisco_interfaces", "job": "switch", "instance": "core-sw02", "target": "core-sw02"},
		}},
	}
	for _, c := range checks {
		t.Run(c.query, func(t *testing.T) {
			res := promQuery(t, prom.URL, c.query)
			sort.Slice(res, func(i, j int) bool { return res[i].Metric["instance"] < res[j].Metric["instance"] })
			if len(res) != len(c.want) {
				t.Fatalf("%d series, want %d: %v", len(res), len(c.want), res)
			}
			for i, w := range c.want {
				if !sameLabelSet(res[i].Metric, w) {
					t.Errorf("series %v, want %v", res[i].Metric, w)
				}
			}
			if c.query == "cisco_interfaces" {
				if res[0].Value[1] != "9" {
					t.Errorf("cisco_interfaces{instance=core-sw01} = %v, want 9", res[0].Value[1])
				}
			}
		})
	}

	// metricwrap's own scrape may have come before the first runs: poll.
	t.Run("metricwrap's own metrics", func(t *testing.T) {
		for _, q := range []string{
			`metricwrap_exporter_runs_total{job="metricwrap",exporter="switch",outcome="success"} > 0`,
			`metricwrap_exporter_runs_total{job="metricwrap",exporter="echo",outcome="success"} > 0`,
			`server_exporter_requests_total{job="metricwrap",path="/metrics/echo",status="200"} > 0`,
		} {
			deadline := time.Now().Add(10 * time.Second)
			for len(promQuery(t, prom.URL, q)) != 1 {
				if time.Now().After(deadline) {
					t.Errorf("%s: %v", q, promQuery(t, prom.URL, q))
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	})
}

func sameLabelSet(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
