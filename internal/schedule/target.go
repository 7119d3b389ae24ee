package schedule

import (
	"net"
	"net/url"
	"os"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
)

// envRemoteWrite is the env-only remote write sink's name (delivery's
// EnvRemoteWrite; delivery depends on more than a scheduler should).
const envRemoteWrite = "remote-write"

// Targets returns Options.Target for cfg: a scheduled run
// goes to a remote write sink as a Prometheus scrape would, with the
// labels a Prometheus user would guess. job is the sink's job, else the
// exporter's (its push job name, the exporter's name by default).
// instance is the exporter's instance, else schedule_params.target (the
// multi-target pattern's relabelling), else a scrape exporter's
// host:port, else this host's name and serve's port (listen, as
// Prometheus would scrape /metrics/NAME). honor_labels is the exporter's
// or the sink's.
func Targets(cfg *config.Config, listen string) func(*exporter.Entry, map[string]string, string) (remotewrite.Target, bool) {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		port = "9761" // serve's default port
	}
	hostInstance := net.JoinHostPort(host, port)
	return func(e *exporter.Entry, params map[string]string, sinkName string) (remotewrite.Target, bool) {
		sc, configured := cfg.Sinks[sinkName]
		switch {
		case configured && sc.Type != config.SinkRemoteWrite:
			return remotewrite.Target{}, false
		case !configured && sinkName != envRemoteWrite:
			return remotewrite.Target{}, false
		}
		t := remotewrite.Target{Job: e.Job(), Instance: hostInstance}
		ec := cfg.Exporters[e.Name()]
		switch {
		case ec != nil && ec.Instance != "":
			t.Instance = ec.Instance
		case params["target"] != "":
			t.Instance = params["target"]
		case ec != nil && ec.Scrape != "":
			if u, err := url.Parse(ec.Scrape); err == nil && u.Host != "" {
				t.Instance = u.Host
			}
		}
		if ec != nil {
			t.HonorLabels = ec.HonorLabels
		}
		if configured {
			if sc.Job != "" {
				t.Job = sc.Job
			}
			t.HonorLabels = t.HonorLabels || sc.HonorLabels
		}
		return t, true
	}
}
