package run

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's, on the server's own registry (SPEC 3.3). The
// names are those the server exposed before the engine had a package.
type metrics struct {
	runs         *prometheus.CounterVec
	runDuration  *prometheus.HistogramVec
	cacheHits    *prometheus.CounterVec
	staleServed  *prometheus.CounterVec
	coalesced    *prometheus.CounterVec
	overloaded   *prometheus.CounterVec
	inFlight     prometheus.Gauge
	cacheBytes   prometheus.GaugeFunc
	cacheEntries prometheus.GaugeFunc
}

func newMetrics(e *Engine) *metrics {
	return &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_exporter_runs_total",
			Help: "Exporter runs, by exporter and outcome (success, failure, timeout, invalid_output, output_too_large, no_metrics, canceled).",
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
			Help: "Runs refused because no run slot (global max_concurrency, or the exporter's share of it) came free before the deadline.",
		}, []string{"exporter"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "metricwrap_exporter_runs_in_flight",
			Help: "Exporter runs in progress.",
		}),
		cacheBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "metricwrap_cache_bytes",
			Help: "Bytes held by the result cache (encoded answers of cache_ttl and stale_on_error exporters), bounded by global.cache_max_bytes.",
		}, func() float64 { b, _ := e.cacheStats(); return float64(b) }),
		cacheEntries: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "metricwrap_cache_entries",
			Help: "Answers held by the result cache.",
		}, func() float64 { _, n := e.cacheStats(); return float64(n) }),
	}
}

func (m *metrics) register(r prometheus.Registerer) {
	r.MustRegister(m.runs, m.runDuration, m.cacheHits, m.staleServed, m.coalesced, m.overloaded,
		m.inFlight, m.cacheBytes, m.cacheEntries)
}
