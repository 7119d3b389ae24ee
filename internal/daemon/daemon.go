// Package daemon is serve's lifecycle: generations (what one config load
// built: exporters, warm Python workers, sinks, spool, schedules), reload
// (SIGHUP and POST /-/reload, counted and logged here), the spool's flush
// loop, and shutdown in an order that loses nothing. cmd/metricwrap keeps
// the flags, the logger and the wiring; the HTTP surface is
// internal/server and runs go through internal/run.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exporter/python"
	"github.com/metricwrap/metricwrap/internal/run"
	"github.com/metricwrap/metricwrap/internal/schedule"
	"github.com/metricwrap/metricwrap/internal/shard"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
)

// FlushInterval is how often the spool is delivered again.
const FlushInterval = 30 * time.Second

// shutdownGrace is how long requests in progress get to finish on stop.
const shutdownGrace = 10 * time.Second

// Loader reads the configuration and builds its exporters, Python class
// exporters with pool's warm workers (used when Options.Engine runs warm).
// It is cmd's: which file, the embedded default, the exporters directory
// are flags.
type Loader func(pool *python.Pool) (*config.Config, *exporter.Set, error)

// Options configure a Daemon.
type Options struct {
	Logger *slog.Logger
	// Registry takes the daemon's metrics (reloads, scheduled runs, warm
	// workers) and the sinks'.
	Registry *prometheus.Registry
	// Engine runs every exporter, for requests and schedules alike.
	Engine *run.Engine
	Load   Loader
	// Getenv reads WORKERS; nil means os.Getenv.
	Getenv func(string) string
	// Listen is serve's first listen address: scheduled runs delivered to
	// remote write look like scrapes of it (schedule.Targets).
	Listen string
	// Cluster shares the schedules out among replicas (--cluster.shards);
	// nil runs them all.
	Cluster *shard.Cluster
}

// Daemon runs one generation at a time. A reload builds the next one and
// retires the current one; a failed reload changes nothing.
type Daemon struct {
	o         Options
	log       *slog.Logger
	metrics   *metrics
	schedRuns *prometheus.CounterVec
	schedNext *prometheus.GaugeVec
	poolStats *python.Metrics
	reloadMu  sync.Mutex // one load at a time
	mu        sync.Mutex // guards cur and stopped
	cur       *generation
	stopped   bool // set by stop; a reload finishing later changes nothing
	// scrapes makes scheduled runs to remote write look like scrapes; it
	// outlives generations, so a reload can end the series of what it
	// removed.
	scrapes *remotewrite.Scrapes
}

// New makes a daemon; Start loads its first generation.
func New(o Options) *Daemon {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	d := &Daemon{
		o: o, log: o.Logger,
		metrics:   newMetrics(time.Now()),
		schedRuns: schedule.NewRunsCounter(),
		schedNext: schedule.NewNextRunGauge(),
		poolStats: python.NewMetrics(),
		scrapes:   remotewrite.NewScrapes(),
	}
	o.Registry.MustRegister(d.schedRuns, d.schedNext, d.poolStats)
	d.metrics.register(o.Registry)
	return d
}

// Start loads the configuration and puts its generation in use.
func (d *Daemon) Start() (*exporter.Set, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	return d.next()
}

// Reload loads the configuration again. A failure keeps the generation in
// use, is logged and counted, and is returned.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	set, err := d.next()
	if err != nil {
		d.metrics.reloadOK.Set(0)
		d.metrics.reloadsFailed.Inc()
		d.log.Error("config reload failed; keeping the previous configuration", "err", err)
		return err
	}
	d.metrics.reloadOK.Set(1)
	d.metrics.reloadTime.Set(float64(time.Now().UnixNano()) / 1e9)
	d.log.Info("config reloaded", "exporters", len(set.Names()))
	return nil
}

// Serve serves srv until it fails or a signal other than SIGHUP arrives
// on sigs; SIGHUP reloads. On stop it lets requests finish (up to 10 s),
// cancels runs still going, so no exporter outlives serve, and then
// retires the generation (schedules, flush loop, sinks, warm workers).
func (d *Daemon) Serve(srv *http.Server, listen func() error, sigs <-chan os.Signal) error {
	defer d.stop()
	errc := make(chan error, 1)
	go func() { errc <- listen() }()
	for {
		select {
		case err := <-errc:
			d.o.Engine.Close()
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("server: %w", err)
			}
			return nil
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				// Off the signal loop: a config that cannot be read at
				// once must never hold up SIGTERM.
				go func() { _ = d.Reload() }() // logged and counted
				continue
			}
			d.log.Info("shutting down", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			err := srv.Shutdown(ctx)
			cancel()
			if err != nil {
				d.log.Warn("shutdown did not finish cleanly", "err", err)
			}
			d.o.Engine.Close()
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("server: %w", err)
			}
			return nil
		}
	}
}

// MaxConcurrency is global.max_concurrency, else WORKERS, else 2 x CPUs.
func MaxConcurrency(cfg *config.Config, getenv func(string) string) int {
	if cfg.Global.MaxConcurrency > 0 {
		return cfg.Global.MaxConcurrency
	}
	if w, err := strconv.Atoi(getenv("WORKERS")); err == nil && w > 0 {
		return w
	}
	return 2 * runtime.NumCPU()
}
