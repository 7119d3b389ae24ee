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
	orphanDesc = prometheus.NewDesc("metricwrap_spool_orphaned_batches",
		"Batches in a spool queue that no sink of this process delivers to (its destination changed, or it predates queues keyed by destination), per queue directory; kept until max_age or flush --drop-orphans.", []string{"queue"}, nil)
)

// register creates the metrics and, with a Registerer, registers them. A
// dropped counter already registered (a reopened spool) is reused.
func (s *Spool) register(r prometheus.Registerer) error {
	s.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "metricwrap_spool_dropped_total",
		Help: "Spooled batches dropped without delivery, by sink and reason (max_bytes, max_age, corrupt, orphan).",
	}, []string{"sink", "reason"})
	s.quarantined = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "metricwrap_spool_quarantined_total",
		Help: "Batches set aside because their destination refused them for good, or kept refusing them while it took others; each is in the queue's quarantine/ directory with the answer.",
	}, []string{"sink"})
	s.collector = spoolCollector{s}
	if r == nil {
		return nil
	}
	var err error
	if s.dropped, err = registerOrReuse(r, s.dropped); err != nil {
		return err
	}
	if s.quarantined, err = registerOrReuse(r, s.quarantined); err != nil {
		return err
	}
	if err := r.Register(s.collector); err != nil {
		r.Unregister(s.dropped)
		r.Unregister(s.quarantined)
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
	ch <- orphanDesc
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
	orphans := map[string]float64{}
	for _, q := range c.s.queues {
		if !q.owned {
			if len(q.entries) > 0 {
				orphans[q.key] = float64(len(q.entries))
			}
			continue
		}
		r := row{sink: q.sink, depth: float64(len(q.entries)), bytes: float64(q.bytes)}
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
	for key, n := range orphans {
		ch <- prometheus.MustNewConstMetric(orphanDesc, prometheus.GaugeValue, n, key)
	}
}

// registerOrReuse registers c, or returns the equal counter a spool opened
// before (a reload) registered, so it keeps counting.
func registerOrReuse(r prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := r.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("register spool metrics: %w", err)
}
