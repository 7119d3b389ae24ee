package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/delivery"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/pyworker"
	"github.com/metricwrap/metricwrap/internal/schedule"
	"github.com/metricwrap/metricwrap/internal/server"
)

// defaultListen is where serve listens without --web.listen-address or PORT.
const defaultListen = ":9761"

// flushInterval is how often serve delivers what the spool holds.
const flushInterval = 30 * time.Second

// serveCmd is `metricwrap serve`: the HTTP server, scheduled runs and the
// spool's redelivery.
type serveCmd struct {
	cmd           *kingpin.CmdClause
	listen        []string
	listenSet     bool
	systemdSocket bool
	webConfig     string
	timeoutOffset time.Duration
	enableDebug   bool
}

func (c *serveCmd) register(app *kingpin.Application, _ *globals) {
	c.cmd = app.Command("serve", "Serve exporters over HTTP: /metrics/NAME runs exporter NAME on demand.")
	c.cmd.Flag("web.listen-address", "Addresses to listen on (repeatable; default "+defaultListen+", or :$PORT when PORT is set).").
		IsSetByUser(&c.listenSet).Default(defaultListen).StringsVar(&c.listen)
	c.cmd.Flag("web.systemd-socket", "Use systemd socket activation listeners instead of port listeners (Linux only).").
		BoolVar(&c.systemdSocket)
	c.cmd.Flag("web.config.file", "Path to a web config file enabling TLS or basic auth (Prometheus exporter-toolkit format).").
		StringVar(&c.webConfig)
	c.cmd.Flag("web.timeout-offset", "Subtracted from Prometheus' scrape timeout to give the run's timeout.").
		Default("0.5s").DurationVar(&c.timeoutOffset)
	c.cmd.Flag("web.enable-debug", "Allow ?debug=1, which shows an exporter's stdout and stderr.").
		BoolVar(&c.enableDebug)
}

func (c *serveCmd) selected(name string) bool { return c.cmd != nil && name == c.cmd.FullCommand() }

// daemon is what serve swaps as a whole on reload: exporters, their
// scheduler and the sinks behind it.
type daemon struct {
	g     *globals
	reg   *prometheus.Registry
	runs  *prometheus.CounterVec
	mu    sync.Mutex
	sched *schedule.Scheduler
	deliv *delivery.Delivery
	// pool holds the warm Python workers of the current set; each load
	// builds a new one (a reload restarts the workers).
	pool      *pyworker.Pool
	poolStats *pyworker.Metrics
}

func (c *serveCmd) execute(g *globals) int {
	if !c.listenSet {
		if port := os.Getenv("PORT"); port != "" {
			c.listen = []string{":" + port}
		}
	}
	reg := prometheus.NewRegistry()
	d := &daemon{g: g, reg: reg, runs: schedule.NewRunsCounter(), poolStats: pyworker.NewMetrics()}
	reg.MustRegister(d.runs, d.poolStats)
	cfg, set, err := d.load()
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	if err := d.start(cfg, set); err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	defer d.stop()

	srv := server.New(set, server.Options{
		Logger:         g.logger,
		EnableDebug:    c.enableDebug,
		TimeoutOffset:  c.timeoutOffset,
		MaxConcurrency: maxConcurrency(cfg),
		Registry:       reg,
		Reload: func() (*exporter.Set, error) {
			cfg, set, err := d.load()
			if err != nil {
				return nil, err
			}
			if err := d.start(cfg, set); err != nil {
				return nil, err
			}
			return set, nil
		},
	})

	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	flags := &web.FlagConfig{WebListenAddresses: &c.listen, WebSystemdSocket: &c.systemdSocket, WebConfigFile: &c.webConfig}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(httpServer, flags, g.logger) }()
	g.logger.Info("metricwrap serving", "listen", c.listen, "exporters", len(set.Names()))
	for {
		select {
		case err := <-errc:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fail(g, exitFailed, "server: %v", err)
			}
			return exitOK
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = srv.Reload() // logged and counted by the server
				continue
			}
			g.logger.Info("shutting down", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := httpServer.Shutdown(ctx)
			cancel()
			if err != nil {
				g.logger.Warn("shutdown did not finish cleanly", "err", err)
			}
			<-errc
			return exitOK
		}
	}
}

// maxConcurrency is global.max_concurrency, else WORKERS, else 2 x CPUs.
func maxConcurrency(cfg *config.Config) int {
	if cfg.Global.MaxConcurrency > 0 {
		return cfg.Global.MaxConcurrency
	}
	if w, err := strconv.Atoi(os.Getenv("WORKERS")); err == nil && w > 0 {
		return w
	}
	return 2 * runtime.NumCPU()
}

func (d *daemon) load() (*config.Config, *exporter.Set, error) {
	cfg, name, err := loadConfig(d.g)
	if err != nil {
		return nil, nil, err
	}
	pool := pyworker.NewPool(pyworker.Options{Logger: d.g.logger, Metrics: d.poolStats})
	set, err := exporter.Build(cfg, exporter.BuildOptions{
		ConfigFile:   name,
		ExportersDir: d.g.exportersDir,
		Python:       exporter.DefaultPython(cfg.Global.Python),
		Warm:         pool,
		Logger:       d.g.logger,
	})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	d.mu.Lock()
	old := d.pool
	d.pool = pool
	d.mu.Unlock()
	if old != nil {
		// Runs of the old set still in flight finish on its workers;
		// later ones run cold.
		go old.Close()
	}
	return cfg, set, nil
}

// start replaces the scheduler and sinks with those of cfg. The new ones
// are built first, so a config whose sinks cannot be built keeps the old.
func (d *daemon) start(cfg *config.Config, set *exporter.Set) error {
	deliv, err := d.openDelivery(cfg)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sched != nil {
		d.sched.Stop()
	}
	if d.deliv != nil {
		d.deliv.Close()
	}
	d.deliv = deliv
	sched, err := schedule.Start(set, deliv, schedule.Options{
		Labels: exporter.ConstLabels(cfg, os.Getenv), Logger: d.g.logger, Runs: d.runs,
	})
	if err != nil {
		return err
	}
	d.sched = sched
	return nil
}

func (d *daemon) openDelivery(cfg *config.Config) (*delivery.Delivery, error) {
	if len(cfg.Sinks) == 0 {
		return delivery.Open([]string{}, delivery.Options{Config: cfg, Logger: d.g.logger})
	}
	d.mu.Lock()
	old := d.deliv
	d.mu.Unlock()
	if old != nil {
		// The spool is held by the running delivery; release it first. A
		// failure below then leaves serve without sinks until the next
		// reload, which the reload error says.
		old.Close()
	}
	return delivery.Open(nil, delivery.Options{Config: cfg, PushMethod: "put", Logger: d.g.logger, Registerer: d.reg})
}

func (d *daemon) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sched != nil {
		d.sched.Stop()
	}
	if d.deliv != nil {
		d.deliv.Close()
	}
	if d.pool != nil {
		d.pool.Close()
	}
}
