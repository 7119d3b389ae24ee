// Package delivery builds the sinks a command pushes to, from the config or
// from the environment alone, and opens the spool behind them: the wiring
// between config and the sink packages that run, exec, flush and serve
// share.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/spool"
)

// Options are what building sinks needs besides their names.
type Options struct {
	Config *config.Config
	// Getenv reads the environment fallbacks; nil means os.Getenv.
	Getenv func(string) string
	// PushgatewayAddr is --pushgateway-address, for the env-only sink
	// "pushgateway" (it wins over PUSHGATEWAY_URL).
	PushgatewayAddr string
	// NoSpool delivers without a spool: what fails is reported, not kept.
	NoSpool bool
	// OpenSpool opens the spool even when no sink is built, so that
	// flush --drop-orphans can drop what a config without sinks left.
	OpenSpool  bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Config == nil {
		o.Config = config.Default()
	}
	return o
}

// Delivery fans batches out to sinks, retrying and spooling what fails.
type Delivery struct {
	fanout *sink.Fanout
	spool  *spool.Spool
	names  []string
	log    *slog.Logger
	// reg holds the sinks' own collectors until Close.
	reg        prometheus.Registerer
	collectors []prometheus.Collector
}

// Prepared are sinks built and checked, not yet delivering: exec builds
// them before it runs the job (so a missing setting fails first) and opens
// them after, serve before it retires the previous config's sinks. Each
// sink is built once.
type Prepared struct {
	o        Options
	names    []string
	sinks    []sink.Sink
	retryFor map[string]time.Duration
}

// Prepare builds the named sinks (all configured sinks when names is nil).
func Prepare(names []string, o Options) (*Prepared, error) {
	o = o.withDefaults()
	if names == nil {
		for n := range o.Config.Sinks {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	p := &Prepared{o: o, names: names, retryFor: map[string]time.Duration{}}
	var errs []error
	for _, n := range dedupe(names) {
		s, rf, err := build(n, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.sinks = append(p.sinks, s)
		p.retryFor[n] = rf
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Open builds the named sinks (all configured sinks when names is nil) and
// opens them together with the spool: Prepare, then Prepared.Open.
func Open(names []string, o Options) (*Delivery, error) {
	p, err := Prepare(names, o)
	if err != nil {
		return nil, err
	}
	return p.Open()
}

// Open opens the spool and the fan-out over the prepared sinks, in one
// call. A spool that cannot be opened (a read-only or unwritable spool.dir,
// or another process holding it) costs a warning and the spool: delivery
// goes on without one, and metricwrap_spool_enabled says so. Queues in the
// spool that no sink of the config or the environment owns are reported
// (see spool.Orphans) and never delivered.
func (p *Prepared) Open() (*Delivery, error) {
	o := p.o
	d := &Delivery{log: o.Logger, names: p.names, reg: o.Registerer}
	for _, s := range p.sinks {
		d.collectors = append(d.collectors, registerCollectors(o.Registerer, s)...)
	}
	fo := sink.FanoutOptions{SinkRetryFor: p.retryFor, Logger: o.Logger, Registerer: o.Registerer}
	enabled := 0.0
	if (len(p.sinks) > 0 || o.OpenSpool) && !o.NoSpool {
		sp, err := spool.Open(spool.Options{
			Dir:        o.Config.Spool.Dir,
			MaxBytes:   int64(o.Config.Spool.MaxBytes),
			MaxAge:     time.Duration(o.Config.Spool.MaxAge),
			Logger:     o.Logger,
			Registerer: o.Registerer,
		})
		switch {
		case errors.Is(err, spool.ErrLocked):
			o.Logger.Warn("spool is in use by another metricwrap process; delivering without it, so what fails now is not kept",
				"dir", o.Config.Spool.Dir)
		case err != nil:
			o.Logger.Warn("cannot use the spool dir; delivering without one, so what fails now is not kept (set spool.dir to a writable directory)",
				"dir", o.Config.Spool.Dir, "err", err)
		default:
			d.spool = sp
			fo.Spool = sp
			enabled = 1
		}
	}
	if g, err := registerGauge(o.Registerer, spoolEnabled); err == nil {
		g.Set(enabled)
	}
	f, err := sink.NewFanout(p.sinks, fo)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.fanout = f
	if d.spool != nil {
		d.spool.Own(f.Queues()...)
		d.spool.Own(otherQueues(o, p.names)...)
		d.spool.LogOrphans()
	}
	return d, nil
}

// spoolEnabled is 1 while deliveries go through the spool, 0 when the
// spool could not be opened and failed deliveries are not kept.
var spoolEnabled = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "metricwrap_spool_enabled",
	Help: "1 when deliveries are spooled until acknowledged; 0 when the spool dir could not be used (read-only, unwritable, held by another process) and failed deliveries are lost.",
})

// registerGauge registers g, or returns the gauge registered before.
func registerGauge(r prometheus.Registerer, g prometheus.Gauge) (prometheus.Gauge, error) {
	if r == nil {
		return g, nil
	}
	err := r.Register(g)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		return g, nil
	case errors.As(err, &are):
		if existing, ok := are.ExistingCollector.(prometheus.Gauge); ok {
			return existing, nil
		}
	}
	return nil, err
}

// otherQueues are the queues of the sinks of the config and of the
// environment that this delivery does not build (exec pushing to one sink
// must not report the others' backlogs as orphans). A sink that cannot be
// built here (a token missing from this environment) owns nothing.
func otherQueues(o Options, names []string) []sink.Queue {
	skip := map[string]bool{}
	for _, n := range names {
		skip[n] = true
	}
	var candidates []string
	for n := range o.Config.Sinks {
		candidates = append(candidates, n)
	}
	candidates = append(candidates, sink.EnvNames()...)
	quiet := o
	quiet.Logger = slog.New(slog.DiscardHandler)
	var qs []sink.Queue
	for _, n := range candidates {
		if skip[n] {
			continue
		}
		skip[n] = true
		if s, _, err := build(n, quiet); err == nil {
			qs = append(qs, sink.Queue{Sink: n, Destination: s.Destination()})
		}
	}
	return qs
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Sinks returns the names of the sinks delivered to.
func (d *Delivery) Sinks() []string { return dedupe(d.names) }

// Deliver sends b to every sink (or the named ones), after each sink's
// spooled backlog. It returns an error when some sink neither took the
// batch nor kept it in the spool (refused for good, or lost), for the
// caller to report; a spooled batch is not lost (a later run, flush or
// serve delivers it), so it is only logged here, as a warning.
func (d *Delivery) Deliver(ctx context.Context, b *batch.Batch, names ...string) error {
	var errs []error
	for _, r := range d.fanout.Deliver(ctx, b, names...) {
		switch r.Outcome {
		case sink.OutcomeSuccess:
			d.log.Debug("delivered", "result", r)
		case sink.OutcomeSpooled:
			d.log.Warn("delivery failed; kept in the spool for later", "result", r)
		default:
			// Returned, not logged: the caller logs it once.
			errs = append(errs, fmt.Errorf("sink %s: %s: %w", r.Sink, r.Outcome, r.Err))
		}
	}
	return errors.Join(errs...)
}

// Flush delivers every sink's spooled backlog.
func (d *Delivery) Flush(ctx context.Context) error { return d.fanout.Flush(ctx) }

// HasSpool reports whether deliveries go through the spool: false when
// it could not be opened (see Prepared.Open) or was not asked for.
func (d *Delivery) HasSpool() bool { return d.spool != nil }

// Spooled reports, per sink of this delivery, how many batches wait in its
// queue; nil without a spool.
func (d *Delivery) Spooled() map[string]int {
	if d.spool == nil {
		return nil
	}
	out := map[string]int{}
	for _, q := range d.fanout.Queues() {
		out[q.Sink] = d.spool.Depth(q)
	}
	return out
}

// Orphans lists the spool's queues that no sink of the config or the
// environment delivers to; nil without a spool.
func (d *Delivery) Orphans() []spool.Orphan {
	if d.spool == nil {
		return nil
	}
	return d.spool.Orphans()
}

// DropOrphans deletes the batches of every orphaned queue and returns how
// many it deleted.
func (d *Delivery) DropOrphans() int {
	if d.spool == nil {
		return 0
	}
	return d.spool.DropOrphans()
}

// Close releases the spool.
func (d *Delivery) Close() error {
	for _, c := range d.collectors {
		d.reg.Unregister(c)
	}
	d.collectors = nil
	if d.spool != nil {
		return d.spool.Close()
	}
	return nil
}

// stateDir is where sinks keep state beside the spool (Dynatrace counter
// state); the leading dot keeps the spool from taking it for a sink.
func stateDir(cfg *config.Config) string {
	return filepath.Join(cfg.Spool.Dir, ".state")
}

// registerCollectors registers a sink's own metrics (Dynatrace line
// counts) and returns those it registered, for Close to unregister, so the
// sinks of a reloaded config report, not the retired ones.
func registerCollectors(reg prometheus.Registerer, s sink.Sink) []prometheus.Collector {
	c, ok := s.(interface{ Collectors() []prometheus.Collector })
	if !ok || reg == nil {
		return nil
	}
	var done []prometheus.Collector
	for _, col := range c.Collectors() {
		if err := reg.Register(col); err == nil {
			done = append(done, col)
		}
	}
	return done
}
