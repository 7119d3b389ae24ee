// Package dummy is the built-in equivalent of the original tool's dummy
// exporter: the same metric families, measured on real but short work, so a
// bare machine has an exporter that always works.
package dummy

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

func init() {
	exporter.Register("dummy", New)
}

// New makes the dummy exporter; it takes no options.
func New(options *yaml.Node) (exporter.Builtin, error) {
	if err := exporter.DecodeOptions(options, &struct{}{}); err != nil {
		return nil, err
	}
	return dummy{}, nil
}

type dummy struct{}

func (dummy) Params() exporter.Params { return nil }

// DefaultJob is the original dummy exporter's job_name, so its pushes land
// in the same Pushgateway group as before.
func (dummy) DefaultJob() string { return "DummyExporter" }

// work hashes a small buffer a few times: measurable (microseconds),
// and never a sleep.
func work(rounds int) {
	sum := sha256.Sum256([]byte("metricwrap"))
	for i := 0; i < rounds; i++ {
		sum = sha256.Sum256(sum[:])
	}
}

func (dummy) Collect(ctx context.Context, _ map[string]string, reg prometheus.Registerer) error {
	execution := prometheus.NewSummaryVec(prometheus.SummaryOpts{
		Name: "execution_seconds",
		Help: "Summary of time spent executing something",
	}, []string{"function"})
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dummy_gauge",
		Help: "A dummy metric, means nothing.",
	})
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dummy_counter_total",
		Help: "A dummy metric, means nothing.",
	}, []string{"dummy_label"})
	timer := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "generic_timer_seconds_total",
		Help: "Value of generic timer",
	})
	for _, c := range []prometheus.Collector{execution, gauge, counter, timer} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}

	observe := func(function string, rounds int) {
		start := time.Now()
		work(rounds)
		execution.WithLabelValues(function).Observe(time.Since(start).Seconds())
	}
	observe("DummyExporter.my_custom_task", 8)
	observe("DummyExporter.observed_function", 16)

	gauge.Set(0)
	counter.WithLabelValues("dummy_label_value").Inc()

	start := time.Now()
	work(4)
	timer.Add(time.Since(start).Seconds())
	return ctx.Err()
}
