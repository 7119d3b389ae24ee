package schedule_test

import (
	"net"
	"os"
	"testing"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	_ "github.com/metricwrap/metricwrap/internal/exporter/builtin/dummy"
	"github.com/metricwrap/metricwrap/internal/schedule"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
)

// TestTargetsDefaults: the job and instance labels a Prometheus user would
// guess, and the keys that change them.
func TestTargetsDefaults(t *testing.T) {
	cfg, err := config.LoadBytes("t.yml", []byte(`
exporters:
  plain: {builtin: dummy, schedule: 1m, sinks: [rw, gw]}
  named: {builtin: dummy, schedule: 1m, sinks: [rw], instance: db-1, honor_labels: true, job: nightly}
  probe: {command: [/bin/true], schedule: 1m, sinks: [rw2], params: {target: {}}, schedule_params: {target: core-sw01}}
  fwd: {scrape: 'http://10.0.0.5:9100/metrics', schedule: 1m, sinks: [rw]}
sinks:
  rw: {type: remote_write, url: 'http://p:9090/api/v1/write'}
  rw2: {type: remote_write, url: 'http://p:9090/api/v1/write', job: probes, honor_labels: true}
  gw: {type: pushgateway, url: 'http://g:9091'}
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	targets := schedule.Targets(cfg, "127.0.0.1:9999")
	for _, tc := range []struct {
		exporter, sink string
		params         map[string]string
		want           remotewrite.Target
		ok             bool
	}{
		{"plain", "rw", nil, remotewrite.Target{Job: "plain", Instance: net.JoinHostPort(host, "9999")}, true},
		{"plain", "gw", nil, remotewrite.Target{}, false},
		{"named", "rw", nil, remotewrite.Target{Job: "nightly", Instance: "db-1", HonorLabels: true}, true},
		{"probe", "rw2", map[string]string{"target": "core-sw01"}, remotewrite.Target{Job: "probes", Instance: "core-sw01", HonorLabels: true}, true},
		{"fwd", "rw", nil, remotewrite.Target{Job: "fwd", Instance: "10.0.0.5:9100"}, true},
	} {
		e, _ := set.Get(tc.exporter)
		got, ok := targets(e, tc.params, tc.sink)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s to %s: %+v %v, want %+v %v", tc.exporter, tc.sink, got, ok, tc.want, tc.ok)
		}
	}
}
