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
	"strings"
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
	NoSpool    bool
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

// Open builds the named sinks (all configured sinks when names is nil) and
// opens the spool. When another process holds the spool (serve running with
// the same spool.dir), delivery goes on without one and says so.
func Open(names []string, o Options) (*Delivery, error) {
	o = o.withDefaults()
	if names == nil {
		for n := range o.Config.Sinks {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	d := &Delivery{log: o.Logger, names: names, reg: o.Registerer}
	var sinks []sink.Sink
	var errs []error
	retryFor := map[string]time.Duration{}
	for _, n := range dedupe(names) {
		s, rf, err := Build(n, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sinks = append(sinks, s)
		retryFor[n] = rf
		d.collectors = append(d.collectors, registerCollectors(o.Registerer, s)...)
	}
	if len(errs) > 0 {
		d.Close()
		return nil, errors.Join(errs...)
	}
	fo := sink.FanoutOptions{SinkRetryFor: retryFor, Logger: o.Logger, Registerer: o.Registerer}
	if len(sinks) > 0 && !o.NoSpool {
		sp, err := spool.Open(spool.Options{
			Dir:        o.Config.Spool.Dir,
			MaxBytes:   int64(o.Config.Spool.MaxBytes),
			MaxAge:     time.Duration(o.Config.Spool.MaxAge),
			Logger:     o.Logger,
			Registerer: o.Registerer,
		})
		switch {
		case errors.Is(err, spool.ErrLocked):
			o.Logger.Warn("spool is in use by another metricwrap process; failed deliveries will not be kept",
				"dir", o.Config.Spool.Dir)
		case err != nil:
			d.Close()
			return nil, fmt.Errorf("spool: %w", err)
		default:
			d.spool = sp
			fo.Spool = sp
		}
	}
	f, err := sink.NewFanout(sinks, fo)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.fanout = f
	return d, nil
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

// Deliver sends b to every sink (or the named ones), first replaying each
// sink's spooled backlog, and logs each sink's outcome. It returns an error
// when some sink neither took the batch nor spooled it; a spooled batch is
// not lost (a later run, flush or serve delivers it), so it is only logged.
func (d *Delivery) Deliver(ctx context.Context, b *batch.Batch, names ...string) error {
	var errs []error
	for _, r := range d.fanout.Deliver(ctx, b, names...) {
		switch r.Outcome {
		case sink.OutcomeSuccess:
			d.log.Debug("delivered", "result", r)
		case sink.OutcomeSpooled:
			d.log.Warn("delivery failed; kept in the spool for later", "result", r)
		default:
			d.log.Error("delivery failed", "result", r)
			errs = append(errs, fmt.Errorf("sink %s: %w", r.Sink, r.Err))
		}
	}
	return errors.Join(errs...)
}

// Flush delivers every sink's spooled backlog.
func (d *Delivery) Flush(ctx context.Context) error { return d.fanout.Flush(ctx) }

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

// readSecretFile reads a token or key from a file, trimming the newline
// editors leave.
func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
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
