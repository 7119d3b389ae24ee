// Package schedule runs exporters on an interval inside serve and delivers
// each result to the exporter's sinks: the push model as a daemon (SPEC
// 4.6). Runs of one exporter never overlap: a tick that comes while the
// previous run is still going is skipped.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/run"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
)

// Deliverer takes a run's batch to the named sinks.
type Deliverer interface {
	Deliver(ctx context.Context, b *batch.Batch, names ...string) error
}

// Options configure a Scheduler.
type Options struct {
	// Labels are the constant labels recorded in each batch.
	Labels map[string]string
	Logger *slog.Logger
	// Runs counts scheduled runs by exporter and outcome; nil counts nothing.
	Runs *prometheus.CounterVec
	// Next is set to when each scheduled exporter runs next (see
	// NewNextRunGauge); nil records nothing. A Scheduler removes its
	// exporters' series when it stops.
	Next *prometheus.GaugeVec
	// Run runs an entry; nil means through an engine of the scheduler's
	// own. serve passes Through(its engine), so scheduled runs share the
	// run limit, in-flight gauge and history of requests.
	Run func(ctx context.Context, e *exporter.Entry, params map[string]string) (*exporter.Result, error)
	// Target says which of an exporter's sinks take its runs as a
	// Prometheus scrape (remote write) and with which target labels; nil,
	// or false for a sink, delivers plain batches. Such a sink gets every
	// run, a failed one too (up 0), through Scrapes.
	Target func(e *exporter.Entry, params map[string]string, sink string) (remotewrite.Target, bool)
	// Scrapes remembers the series each scrape-like sink was last sent, for
	// staleness markers; serve keeps one across reloads. Nil makes one per
	// Scheduler.
	Scrapes *remotewrite.Scrapes
	// Shard, when set, says which scheduled exporters this process runs
	// and when (serve's --cluster.shards, internal/shard); nil runs every
	// one at once and then every interval.
	Shard Shard
}

// Shard picks this replica's share of the schedules and puts their runs on
// a grid that every replica agrees on.
type Shard interface {
	Owns(e *exporter.Entry) bool
	// Next is the time of e's next run after now.
	Next(e *exporter.Entry, now time.Time) time.Time
}

// Scheduler runs the scheduled exporters of one exporter set until Stop.
type Scheduler struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewRunsCounter is the metric Options.Runs expects.
func NewRunsCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "metricwrap_scheduled_runs_total",
		Help: "Scheduled exporter runs, by exporter and outcome (success, failure).",
	}, []string{"exporter", "outcome"})
}

// NewNextRunGauge is the metric Options.Next expects. The status page
// shows it, and a next run stuck in the past says a schedule stalled.
func NewNextRunGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "metricwrap_schedule_next_run_timestamp_seconds",
		Help: "When each scheduled exporter runs next, in unix seconds.",
	}, []string{"exporter"})
}

// Check reports whether every scheduled exporter of set has schedule_params
// its declaration accepts, so a reload can refuse a config before it stops
// anything.
func Check(set *exporter.Set) error {
	_, err := jobsOf(set)
	return err
}

type job struct {
	e      *exporter.Entry
	params map[string]string
}

func jobsOf(set *exporter.Set) ([]job, error) {
	var jobs []job
	for _, e := range set.Entries() {
		if e.Schedule <= 0 {
			continue
		}
		q := url.Values{}
		for k, v := range e.ScheduleParams {
			q.Set(k, v)
		}
		params, err := e.Params().Check(q)
		if err != nil {
			return nil, fmt.Errorf("exporter %s: schedule_params: %w", e.Name(), err)
		}
		jobs = append(jobs, job{e, params})
	}
	return jobs, nil
}

// Start begins running every entry of set that has a schedule. Scheduled
// parameters that do not pass the exporter's declaration are an error and
// nothing starts.
func Start(set *exporter.Set, d Deliverer, o Options) (*Scheduler, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	jobs, err := jobsOf(set)
	if err != nil {
		return nil, err
	}
	if o.Shard != nil {
		jobs = slices.DeleteFunc(jobs, func(j job) bool { return !o.Shard.Owns(j.e) })
	}
	if o.Scrapes == nil {
		o.Scrapes = remotewrite.NewScrapes()
	}
	if o.Run == nil {
		eng := run.New(run.Options{Logger: o.Logger})
		eng.SetExporters(set, run.Limits{})
		o.Run = Through(eng)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{cancel: cancel}
	if o.Target != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			retire(ctx, jobs, d, o)
		}()
	}
	for _, j := range jobs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			loop(ctx, j.e, j.params, d, o)
		}()
	}
	return s, nil
}

// Through runs scheduled entries through eng: its timeout policy, limits,
// metrics, history and logs.
func Through(eng *run.Engine) func(ctx context.Context, e *exporter.Entry, params map[string]string) (*exporter.Result, error) {
	return func(ctx context.Context, e *exporter.Entry, params map[string]string) (*exporter.Result, error) {
		a := eng.Do(ctx, &run.Request{Entry: e, Params: params})
		return a.Result, a.Err
	}
}

// Stop ends every loop and waits for runs in progress to finish (they are
// cancelled, so this is quick).
func (s *Scheduler) Stop() {
	s.cancel()
	s.wg.Wait()
}

func loop(ctx context.Context, e *exporter.Entry, params map[string]string, d Deliverer, o Options) {
	if o.Next != nil {
		defer o.Next.DeleteLabelValues(e.Name())
	}
	if o.Shard != nil {
		for {
			// A point of the grid that passed during a long run is
			// skipped, as the ticker below drops its ticks.
			next := o.Shard.Next(e, time.Now())
			if o.Next != nil {
				o.Next.WithLabelValues(e.Name()).Set(float64(next.UnixNano()) / 1e9)
			}
			t := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			once(ctx, e, params, d, o)
		}
	}
	t0 := time.Now()
	t := time.NewTicker(e.Schedule)
	defer t.Stop()
	for {
		once(ctx, e, params, d, o)
		if o.Next != nil {
			o.Next.WithLabelValues(e.Name()).Set(float64(nextTick(t0, e.Schedule, time.Now()).UnixNano()) / 1e9)
		}
		// A tick that fell due during a long run is dropped by the ticker,
		// so runs never overlap and never queue up.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// nextTick is the first tick of a ticker started at t0 with period p that
// comes after now.
func nextTick(t0 time.Time, p time.Duration, now time.Time) time.Time {
	return t0.Add((now.Sub(t0)/p + 1) * p)
}

func once(ctx context.Context, e *exporter.Entry, params map[string]string, d Deliverer, o Options) {
	name := e.Name()
	start := time.Now()
	res, err := o.Run(ctx, e, params)
	if ctx.Err() != nil {
		return
	}
	if res == nil {
		res = &exporter.Result{}
	}
	if res.Start.IsZero() {
		res.Start, res.Duration = start, time.Since(start)
	}
	if err != nil {
		// The engine logged the failure (warn, with the reason).
		o.Logger.Debug("scheduled run failed", "exporter", name, "err", err)
		count(o, name, "failure")
	} else {
		count(o, name, "success")
	}
	// Each sink's delivery goes on its own, so a slow one (retrying for
	// its retry_for) holds up no other.
	var wg sync.WaitGroup
	defer wg.Wait()
	var plain []string
	for _, sinkName := range e.Sinks {
		t, ok := target(o, e, params, sinkName)
		if !ok {
			plain = append(plain, sinkName)
			continue
		}
		fams := o.Scrapes.Families(sinkName, remotewrite.Source(name, params), t,
			remotewrite.Run{Families: res.Families, Failed: err != nil, Duration: res.Duration})
		b := &batch.Batch{
			ID: RunID(res.Start), Exporter: name, Job: res.JobOr(e.Job()), Params: params, Labels: o.Labels,
			Families: fams, Start: res.Start, Duration: res.Duration, ExitCode: res.ExitCode,
		}
		if err != nil {
			b.Error = err.Error()
		}
		wg.Go(func() {
			if derr := d.Deliver(ctx, b, sinkName); derr != nil {
				o.Logger.Warn("scheduled run not delivered", "exporter", name, "sink", sinkName, "err", derr)
			}
		})
	}
	if err != nil || len(plain) == 0 {
		return
	}
	b := &batch.Batch{
		ID: RunID(res.Start), Exporter: name, Job: res.JobOr(e.Job()), Params: params, Labels: o.Labels,
		Families: res.Families, Start: res.Start, Duration: res.Duration, ExitCode: res.ExitCode,
	}
	if err := d.Deliver(ctx, b, plain...); err != nil {
		o.Logger.Warn("scheduled run not delivered", "exporter", name, "err", err)
	}
}

func target(o Options, e *exporter.Entry, params map[string]string, sinkName string) (remotewrite.Target, bool) {
	if o.Target == nil {
		return remotewrite.Target{}, false
	}
	return o.Target(e, params, sinkName)
}

// retire ends the series of the sources a previous Scheduler sent to a
// scrape-like sink and this one no longer does (an exporter, a sink or
// schedule_params removed by a reload), with staleness markers sent to
// that sink now, if it is still configured.
func retire(ctx context.Context, jobs []job, d Deliverer, o Options) {
	keep := map[[2]string]bool{}
	for _, j := range jobs {
		for _, sinkName := range j.e.Sinks {
			if _, ok := target(o, j.e, j.params, sinkName); ok {
				keep[[2]string{sinkName, remotewrite.Source(j.e.Name(), j.params)}] = true
			}
		}
	}
	now := time.Now()
	for dest, fams := range o.Scrapes.Retire(func(dest, source string) bool { return keep[[2]string{dest, source}] }) {
		b := &batch.Batch{ID: RunID(now), Exporter: "retired", Families: fams, Start: now}
		if err := d.Deliver(ctx, b, dest); err != nil {
			o.Logger.Warn("staleness markers for retired scheduled runs not delivered", "sink", dest, "err", err)
		}
	}
}

func count(o Options, name, outcome string) {
	if o.Runs != nil {
		o.Runs.WithLabelValues(name, outcome).Inc()
	}
}

// RunID names a run uniquely: its start time and 6 random bytes. Sinks use
// it to make redelivery idempotent (S3 keys, Dynatrace counter state).
func RunID(start time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s", start.UTC().Format("20060102T150405.000Z"), hex.EncodeToString(b[:]))
}
