package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
)

// metrics are the HTTP server's own, served on /metrics from a registry of
// their own (exporter runs never touch it; the engine's run metrics and
// the daemon's reload metrics are on the same registry). The four server_*
// series keep the original tool's names, labels and help texts.
type metrics struct {
	requests         *prometheus.CounterVec
	exporterRequests *prometheus.CounterVec
	exporterSeconds  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, start time.Time) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "server_requests_total",
			Help: "Total requests made to the server",
		}, []string{"status"}),
		exporterRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "server_exporter_requests_total",
			Help: "Total requests made to exporters",
		}, []string{"path", "status"}),
		exporterSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "server_exporter_seconds_total",
			Help: "Total time spent handling exporters",
		}, []string{"path"}),
	}
	uptime := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "server_uptime_seconds_total",
		Help: "Server uptime, in seconds",
	}, func() float64 { return time.Since(start).Seconds() })

	reg.MustRegister(m.requests, m.exporterRequests, m.exporterSeconds, uptime,
		versioncollector.NewCollector("metricwrap"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}
