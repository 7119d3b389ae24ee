package main

import (
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/daemon"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exporter/python"
	runengine "github.com/metricwrap/metricwrap/internal/run"
	"github.com/metricwrap/metricwrap/internal/server"
	"github.com/metricwrap/metricwrap/internal/shard"
)

// defaultListen is where serve listens without --web.listen-address or PORT.
const defaultListen = ":9761"

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
	shards        int
	shard         string
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
	c.cmd.Flag("cluster.shards", "Split scheduled exporters across this many replicas (global.cluster_shards overrides it); on-demand runs are served by all.").
		IntVar(&c.shards)
	c.cmd.Flag("cluster.shard", "This replica's shard, 0 to --cluster.shards minus 1, or auto: the ordinal of a StatefulSet pod's host name.").
		StringVar(&c.shard)
}

func (c *serveCmd) selected(name string) bool { return c.cmd != nil && name == c.cmd.FullCommand() }

func (c *serveCmd) execute(g *globals) int {
	if !c.listenSet {
		if port := os.Getenv("PORT"); port != "" {
			c.listen = []string{":" + port}
		}
	}
	reg := prometheus.NewRegistry()
	// serve runs Python class exporters warm, from the workers of each
	// generation's pool; run and exec keep a fresh interpreter per run.
	engine := runengine.New(runengine.Options{Logger: g.logger, Registerer: reg, TimeoutOffset: c.timeoutOffset, Warm: true})
	host, _ := os.Hostname()
	if h := os.Getenv("HOSTNAME"); h != "" {
		host = h
	}
	cluster, err := shard.New(c.shards, c.shard, host, reg, g.logger)
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	d := daemon.New(daemon.Options{
		Logger: g.logger, Registry: reg, Engine: engine, Listen: c.listen[0], Cluster: cluster,
		Load: func(pool *python.Pool) (*config.Config, *exporter.Set, error) {
			cfg, name, err := loadConfig(g)
			if err != nil {
				return nil, nil, err
			}
			set, err := buildExporters(g, cfg, name, pool)
			return cfg, set, err
		},
	})
	set, err := d.Start()
	if err != nil {
		return fail(g, exitUsage, "%v", err)
	}
	srv := server.New(nil, server.Options{
		Logger:          g.logger,
		EnableDebug:     c.enableDebug,
		EnableLifecycle: c.lifecycle,
		Engine:          engine,
		Registry:        reg,
		Reload:          d.Reload,
		Note:            cluster.String,
		Elsewhere:       cluster.Elsewhere,
	})
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
	g.logger.Info("metricwrap serving", "listen", c.listen, "exporters", len(set.Names()))
	if err := d.Serve(httpServer, func() error { return web.ListenAndServe(httpServer, flags, g.logger) }, sigs); err != nil {
		return fail(g, exitFailed, "%v", err)
	}
	return exitOK
}
