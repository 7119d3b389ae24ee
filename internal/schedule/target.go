package schedule

import (
	"net"
	"net/url"
	"os"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
)

// Targets returns Options.Target for cfg: a scheduled run
// goes to a remote write sink as a Prometheus scrape would, with the
// labels a Prometheus user would guess. job is the sink's job, else the
// exporter's configured job, else its name (the scrape config's name, to
// a Prometheus user; not a built-in's own push job name such as dummy's
// DummyExporter).
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
		// A schedule's sinks are sinks of the config (config validation).
		sc, ok := cfg.Sinks[sinkName]
		if !ok || sc.Type != config.SinkRemoteWrite {
			return remotewrite.Target{}, false
		}
		t := remotewrite.Target{Job: e.Name(), Instance: hostInstance}
		ec := cfg.Exporters[e.Name()]
		if ec != nil && ec.Job != "" {
			t.Job = ec.Job // as configured; a built-in's own push job name is not used
		}
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
		if sc.Job != "" {
			t.Job = sc.Job
		}
		t.HonorLabels = t.HonorLabels || sc.HonorLabels
		return t, true
	}
}
