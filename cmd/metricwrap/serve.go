package main

import (
	"context"
	"errors"
	"log/slog"
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
	"github.com/metricwrap/metricwrap/internal/exporter/python"
	"github.com/metricwrap/metricwrap/internal/schedule"
	"github.com/metricwrap/metricwrap/internal/server"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
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
	lifecycle     bool
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
	c.cmd.Flag("web.enable-lifecycle", "Enable POST /-/reload (SIGHUP reloads without it).").
		BoolVar(&c.lifecycle)
}

func (c *serveCmd) selected(name string) bool { return c.cmd != nil && name == c.cmd.FullCommand() }

// daemon runs one generation at a time: what one config load built. A
// reload builds the next generation and retires the current one.
type daemon struct {
	g         *globals
	reg       *prometheus.Registry
	runs      *prometheus.CounterVec
	poolStats *python.Metrics
	srv       *server.Server
	mu        sync.Mutex
	cur       *generation
	stopped   bool // set by stop; a reload finishing later changes nothing
	// scrapes and listen make scheduled runs to remote write look like
	// scrapes (schedule.Targets); scrapes outlives generations, so a reload
	// can end the series of what it removed.
	scrapes *remotewrite.Scrapes
	listen  string
}

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

func (c *serveCmd) execute(g *globals) int {
	if !c.listenSet {
		if port := os.Getenv("PORT"); port != "" {
			c.listen = []string{":" + port}
		}
	}
	reg := prometheus.NewRegistry()
	d := &daemon{g: g, reg: reg, runs: schedule.NewRunsCounter(), poolStats: python.NewMetrics(),
		scrapes: remotewrite.NewScrapes(), listen: c.listen[0]}
	reg.MustRegister(d.runs, d.poolStats)
	// The server comes first: scheduled runs go through it (its run limit,
	// in-flight gauge and history), and the first generation schedules.
	srv := server.New(nil, server.Options{
		Logger:          g.logger,
		EnableDebug:     c.enableDebug,
		EnableLifecycle: c.lifecycle,
		TimeoutOffset:   c.timeoutOffset,
		Registry:        reg,
		Reload: func() (*exporter.Set, error) {
			cfg, set, err := d.next()
			if err == nil {
				d.srv.SetMaxConcurrency(maxConcurrency(cfg))
			}
			return set, err
		},
	})
	d.srv = srv
	cfg, set, err := d.next()
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	defer d.stop()
	srv.SetMaxConcurrency(maxConcurrency(cfg))
	srv.SetExporters(set)
	warnOpenParams(g.logger, set, c.webConfig)

	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Prometheus keeps connections open between scrapes; a minute
		// more than the usual interval.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
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
				// Off the signal loop: a config that cannot be read
				// at once must never hold up SIGTERM.
				go func() { _ = srv.Reload() }() // logged and counted by the server
				continue
			}
			g.logger.Info("shutting down", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := httpServer.Shutdown(ctx)
			cancel()
			if err != nil {
				g.logger.Warn("shutdown did not finish cleanly", "err", err)
			}
			// Runs still going (the shutdown gave up on their requests)
			// are cancelled, so no exporter outlives serve.
			srv.Close()
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fail(g, exitFailed, "server: %v", err)
			}
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

// next loads the config and makes its generation current. Everything that
// can fail on a bad config (loading, exporters, schedules, sinks) is checked
// before the current generation is touched, so a failed reload changes
// nothing.
func (d *daemon) next() (*config.Config, *exporter.Set, error) {
	cfg, name, err := loadConfig(d.g)
	if err != nil {
		return nil, nil, err
	}
	pool := python.NewPool(python.Options{Logger: d.g.logger, Metrics: d.poolStats})
	set, err := buildExporters(d.g, cfg, name, pool)
	if err == nil {
		err = schedule.Check(set)
	}
	var prepared *delivery.Prepared
	if err == nil {
		prepared, err = delivery.Prepare(nil, delivery.Options{Config: cfg, Logger: d.g.logger, Registerer: d.reg})
	}
	if err != nil {
		pool.Close()
		return nil, nil, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		// A SIGHUP's reload that finished after shutdown began.
		pool.Close()
		return nil, nil, errors.New("the server is shutting down")
	}
	old := d.cur
	if old != nil {
		// The spool admits one owner: retire the old sinks first.
		old.quiesce()
		old.deliv.Close()
	}
	deliv := d.openDelivery(prepared)
	sched, err := schedule.Start(set, deliv, schedule.Options{
		Labels: exporter.ConstLabels(cfg, os.Getenv), Logger: d.g.logger, Runs: d.runs, Run: d.srv.RunEntry,
		Target: schedule.Targets(cfg, d.listen), Scrapes: d.scrapes,
	})
	if err != nil { // schedule.Check passed above; this cannot happen
		deliv.Close()
		pool.Close()
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	gen := &generation{set: set, pool: pool, deliv: deliv, sched: sched, stopFlush: cancel, flushed: make(chan struct{})}
	go gen.flushLoop(ctx, d.g)
	d.cur = gen
	if old != nil {
		// Runs of the old set still in flight finish on its workers.
		go old.pool.Close()
	}
	return cfg, set, nil
}

// openDelivery opens the sinks built by next with the spool. A spool that
// cannot be opened costs a warning and the metric metricwrap_spool_enabled
// 0 (delivery.Prepared.Open): a reload must not leave serve with no sinks.
func (d *daemon) openDelivery(prepared *delivery.Prepared) *delivery.Delivery {
	deliv, err := prepared.Open()
	if err != nil {
		// The names were checked by Prepare; this cannot happen.
		d.g.logger.Error("cannot open the sinks", "err", err)
		deliv, _ = delivery.Open([]string{}, delivery.Options{Logger: d.g.logger})
	}
	return deliv
}

// flushLoop delivers what the spool holds at once (what an earlier process
// left) and then every flushInterval, so a backlog drains even when no new
// run comes for that sink.
func (gen *generation) flushLoop(ctx context.Context, g *globals) {
	defer close(gen.flushed)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		if err := gen.deliv.Flush(ctx); err != nil && ctx.Err() == nil {
			g.logger.Warn("spooled deliveries still pending", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *daemon) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.cur == nil {
		return
	}
	d.cur.quiesce()
	d.cur.deliv.Close()
	d.cur.pool.Close()
}
