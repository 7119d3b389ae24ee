package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
)

// metrics are the server's own, served on /metrics from a registry of their
// own (exporter runs never touch it). The four server_* series keep the
// original tool's names, labels and help texts.
type metrics struct {
	requests         *prometheus.CounterVec
	exporterRequests *prometheus.CounterVec
	exporterSeconds  *prometheus.CounterVec

	runs          *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	cacheHits     *prometheus.CounterVec
	staleServed   *prometheus.CounterVec
	coalesced     *prometheus.CounterVec
	overloaded    *prometheus.CounterVec
	inFlight      prometheus.Gauge
	reloadOK      prometheus.Gauge
	reloadTime    prometheus.Gauge
	reloadsFailed prometheus.Counter
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
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_exporter_runs_total",
			Help: "Exporter runs, by exporter and outcome (success, failure, timeout, invalid_output, output_too_large, canceled).",
		}, []string{"exporter", "outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "metricwrap_exporter_run_duration_seconds",
			Help:    "How long exporter runs took, whatever their outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"exporter"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_exporter_cache_hits_total",
			Help: "Requests answered from the result cache (cache_ttl) without a run.",
		}, []string{"exporter"}),
		staleServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_exporter_stale_served_total",
			Help: "Failed runs answered with the last good result (stale_on_error).",
		}, []string{"exporter"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_exporter_coalesced_requests_total",
			Help: "Requests that shared a run already in flight for the same exporter and parameters.",
		}, []string{"exporter"}),
		overloaded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_exporter_overloaded_total",
			Help: "Runs refused with 503 because no run slot came free before the deadline.",
		}, []string{"exporter"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "metricwrap_exporter_runs_in_flight",
			Help: "Exporter runs in progress.",
		}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "metricwrap_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded (1) or failed (0).",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "metricwrap_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully, in unix seconds.",
		}),
		reloadsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "metricwrap_config_reload_failures_total",
			Help: "Configuration reloads that failed; the previous configuration stayed in use.",
		}),
	}
	uptime := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "server_uptime_seconds_total",
		Help: "Server uptime, in seconds",
	}, func() float64 { return time.Since(start).Seconds() })

	reg.MustRegister(m.requests, m.exporterRequests, m.exporterSeconds, uptime,
		m.runs, m.runDuration, m.cacheHits, m.staleServed, m.coalesced, m.overloaded, m.inFlight,
		m.reloadOK, m.reloadTime, m.reloadsFailed,
		versioncollector.NewCollector("metricwrap"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(start.UnixNano()) / 1e9)
	return m
}
