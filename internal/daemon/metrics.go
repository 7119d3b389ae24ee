package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the daemon's reload series (SPEC 3.3).
type metrics struct {
	reloadOK      prometheus.Gauge
	reloadTime    prometheus.Gauge
	reloadsFailed prometheus.Counter
}

func newMetrics(start time.Time) *metrics {
	m := &metrics{
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
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(start.UnixNano()) / 1e9)
	return m
}

func (m *metrics) register(r prometheus.Registerer) {
	r.MustRegister(m.reloadOK, m.reloadTime, m.reloadsFailed)
}
