package spool

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	depthDesc = prometheus.NewDesc("metricwrap_spool_depth",
		"Batches waiting in the spool for delivery, per sink.", []string{"sink"}, nil)
	bytesDesc = prometheus.NewDesc("metricwrap_spool_bytes",
		"Bytes on disk of the batches waiting in the spool, per sink.", []string{"sink"}, nil)
	oldestDesc = prometheus.NewDesc("metricwrap_spool_oldest_age_seconds",
		"Age of the oldest batch waiting in the spool, per sink; 0 when empty.", []string{"sink"}, nil)
)

// register creates the metrics and, with a Registerer, registers them. A
// dropped counter already registered (a reopened spool) is reused.
func (s *Spool) register(r prometheus.Registerer) error {
	s.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "metricwrap_spool_dropped_total",
		Help: "Spooled batches dropped without delivery, by sink and reason (max_bytes, max_age, permanent, corrupt).",
	}, []string{"sink", "reason"})
	s.collector = spoolCollector{s}
	if r == nil {
		return nil
	}
	if err := r.Register(s.dropped); err != nil {
		are := prometheus.AlreadyRegisteredError{}
		if !errors.As(err, &are) {
			return fmt.Errorf("register spool metrics: %w", err)
		}
		existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return fmt.Errorf("register spool metrics: %w", err)
		}
		s.dropped = existing
	}
	if err := r.Register(s.collector); err != nil {
		r.Unregister(s.dropped)
		return fmt.Errorf("register spool metrics (is another spool open on this registry?): %w", err)
	}
	return nil
}

// spoolCollector reports the backlog as it is at scrape time.
type spoolCollector struct{ s *Spool }

func (c spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- bytesDesc
	ch <- oldestDesc
}

func (c spoolCollector) Collect(ch chan<- prometheus.Metric) {
	type row struct {
		sink         string
		depth, bytes float64
		age          float64
	}
	now := c.s.now()
	c.s.mu.Lock()
	rows := make([]row, 0, len(c.s.queues))
	for name, q := range c.s.queues {
		r := row{sink: name, depth: float64(len(q.entries)), bytes: float64(q.bytes)}
		if len(q.entries) > 0 {
			r.age = max(0, now.Sub(q.entries[0].put).Seconds())
		}
		rows = append(rows, r)
	}
	c.s.mu.Unlock()
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, r.depth, r.sink)
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.GaugeValue, r.bytes, r.sink)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, r.age, r.sink)
	}
}
