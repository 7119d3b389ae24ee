package python

import "github.com/prometheus/client_golang/prometheus"

// Reasons a worker is restarted, the values of the reason label.
const (
	ReasonExit   = "exit"   // it died, or a start failed
	ReasonChange = "change" // a module file it imported changed
)

// Metrics are the pools' self-metrics. They outlive a pool: serve builds a
// new pool on every config reload and registers Metrics once.
type Metrics struct {
	restarts *prometheus.CounterVec
	cold     prometheus.Counter
	warm     prometheus.Counter
	workers  prometheus.Gauge
}

// NewMetrics makes the metrics; register them with Register.
func NewMetrics() *Metrics {
	m := &Metrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_python_worker_restarts_total",
			Help: "Warm Python workers restarted, by reason (exit: it died or could not start; change: an exporter file changed).",
		}, []string{"reason"}),
		cold: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "metricwrap_python_worker_cold_runs_total",
			Help: "Python exporter runs that could run warm but ran cold, because no worker was ready.",
		}),
		warm: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "metricwrap_python_worker_runs_total",
			Help: "Python exporter runs forked from a warm worker.",
		}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "metricwrap_python_workers",
			Help: "Warm Python workers running and ready.",
		}),
	}
	m.restarts.WithLabelValues(ReasonExit)
	m.restarts.WithLabelValues(ReasonChange)
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.restarts.Describe(ch)
	m.cold.Describe(ch)
	m.warm.Describe(ch)
	m.workers.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.restarts.Collect(ch)
	m.cold.Collect(ch)
	m.warm.Collect(ch)
	m.workers.Collect(ch)
}
