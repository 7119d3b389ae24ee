package daemon

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/metricwrap/metricwrap/internal/delivery"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exporter/python"
	"github.com/metricwrap/metricwrap/internal/run"
	"github.com/metricwrap/metricwrap/internal/schedule"
	"github.com/metricwrap/metricwrap/internal/shard"
)

// generation is the exporters of one config load with their warm Python
// workers, sinks, scheduler and spool flusher.
type generation struct {
	set   *exporter.Set
	pool  *python.Pool
	deliv *delivery.Delivery
	sched *schedule.Scheduler
	// stopFlush ends the periodic spool flush; flushed closes after it.
	stopFlush context.CancelFunc
	flushed   chan struct{}
}

// quiesce stops everything that delivers, so the sinks can be closed.
func (gen *generation) quiesce() {
	gen.sched.Stop()
	gen.stopFlush()
	<-gen.flushed
}

// next loads the config and makes its generation current. Everything that
// can fail on a bad config (loading, exporters, schedules, sinks) is checked
// before the current generation is touched, so a failed reload changes
// nothing. The caller holds reloadMu.
func (d *Daemon) next() (*exporter.Set, error) {
	pool := python.NewPool(python.Options{Logger: d.log, Metrics: d.poolStats})
	cfg, set, err := d.o.Load(pool)
	if err == nil {
		err = schedule.Check(set)
	}
	var plan *shard.Plan
	if err == nil {
		plan, err = d.o.Cluster.Plan(cfg.Global.ClusterShards, set, time.Now())
	}
	var prepared *delivery.Prepared
	if err == nil {
		prepared, err = delivery.Prepare(nil, delivery.Options{Config: cfg, Logger: d.log, Registerer: d.o.Registry})
	}
	if err != nil {
		pool.Close()
		return nil, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		// A SIGHUP's reload that finished after shutdown began.
		pool.Close()
		return nil, errors.New("the server is shutting down")
	}
	old := d.cur
	if old != nil {
		// The spool admits one owner: retire the old sinks first.
		old.quiesce()
		old.deliv.Close()
	}
	// Requests from now on run the new set, under its limits.
	d.o.Engine.SetExporters(set, run.Limits{
		MaxConcurrency: MaxConcurrency(cfg, d.o.Getenv),
		CacheMaxBytes:  int64(cfg.Global.CacheMaxBytes),
	})
	deliv := d.openDelivery(prepared)
	so := schedule.Options{
		Labels: exporter.ConstLabels(cfg, os.Getenv), Logger: d.log, Runs: d.schedRuns, Next: d.schedNext,
		Run:    schedule.Through(d.o.Engine),
		Target: schedule.Targets(cfg, d.o.Listen), Scrapes: d.scrapes,
	}
	if plan != nil {
		so.Shard = plan
	}
	d.o.Cluster.Use(plan)
	sched, err := schedule.Start(set, deliv, so)
	if err != nil { // schedule.Check passed above; this cannot happen
		deliv.Close()
		pool.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	gen := &generation{set: set, pool: pool, deliv: deliv, sched: sched, stopFlush: cancel, flushed: make(chan struct{})}
	go d.flushLoop(ctx, gen)
	d.cur = gen
	if old != nil {
		// Runs of the old set still in flight finish on its workers.
		go old.pool.Close()
	}
	return set, nil
}

// openDelivery opens the sinks built by next with the spool. A spool that
// cannot be opened costs a warning and the metric metricwrap_spool_enabled
// 0 (delivery.Prepared.Open): a reload must not leave serve with no sinks.
func (d *Daemon) openDelivery(prepared *delivery.Prepared) *delivery.Delivery {
	deliv, err := prepared.Open()
	if err != nil {
		// The names were checked by Prepare; this cannot happen.
		d.log.Error("cannot open the sinks", "err", err)
		deliv, _ = delivery.Open([]string{}, delivery.Options{Logger: d.log})
	}
	return deliv
}

// flushLoop delivers what the spool holds at once (what an earlier process
// left) and then every FlushInterval, so a backlog drains even when no new
// run comes for that sink.
func (d *Daemon) flushLoop(ctx context.Context, gen *generation) {
	defer close(gen.flushed)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		if err := gen.deliv.Flush(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("spooled deliveries still pending", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stop retires the generation in use: schedules and flushing end, sinks
// and warm workers close.
func (d *Daemon) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.cur == nil {
		return
	}
	d.cur.quiesce()
	d.cur.deliv.Close()
	d.cur.pool.Close()
	d.cur = nil
}
