// Package server is metricwrap's HTTP surface: the status page, the
// server's own metrics, on-demand exporter runs (/metrics/NAME), health,
// reload and the exporters API. Runs go through internal/run, which
// decides everything about them; this package only translates between
// HTTP and run.Request / run.Answer. It knows nothing about processes or
// sinks.
package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/redact"
	"github.com/metricwrap/metricwrap/internal/run"
)

// Options configure a Server. Zero values are usable defaults.
type Options struct {
	Logger *slog.Logger
	// EnableDebug allows ?debug=1 (the JSON debug view); otherwise 403.
	EnableDebug bool
	// EnableLifecycle allows the lifecycle endpoints (POST /-/reload), as
	// Prometheus' --web.enable-lifecycle does; otherwise 403. SIGHUP
	// reloads either way.
	EnableLifecycle bool
	// Engine runs the exporters; nil makes one of the server's own, on
	// Registry, with default limits (tests).
	Engine *run.Engine
	// Reload loads the configuration again (POST /-/reload, SIGHUP) and
	// puts it in use; it logs and counts its own failure. Nil means
	// reloading is not supported.
	Reload func() error
	// Registry holds the server's own metrics; nil makes a new one. Other
	// components (the engine, sinks, spool) may register on it too.
	Registry *prometheus.Registry
	// Note, when set, is a line the status page shows under its title
	// (serve's shard); "" shows none.
	Note func() string
	// Elsewhere, when set, names the replica that runs a scheduled
	// exporter this one does not ("" when this one does); the status page
	// shows it instead of a next run.
	Elsewhere func(e *exporter.Entry) string
}

// Server is the HTTP surface: it turns requests into run.Requests and
// answers into responses. What runs, and how, is the engine's.
type Server struct {
	opts    Options
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *metrics
	engine  *run.Engine
}

// New makes a server. With no Options.Engine, it runs set through an
// engine of its own.
func New(set *exporter.Set, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Engine == nil {
		o.Engine = run.New(run.Options{Logger: o.Logger, Registerer: o.Registry})
		o.Engine.SetExporters(set, run.Limits{})
	}
	return &Server{
		opts:    o,
		log:     o.Logger,
		reg:     o.Registry,
		engine:  o.Engine,
		metrics: newMetrics(o.Registry, time.Now()),
	}
}

// Engine is what runs the server's exporters.
func (s *Server) Engine() *run.Engine { return s.engine }

// Registry is where the server's own metrics live.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handler routes every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleStatus)
	self := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	})
	mux.Handle("GET /metrics", self)
	mux.Handle("GET /metrics/{$}", self) // the original tool answered both
	mux.HandleFunc("GET /metrics/{name}", s.handleRun)
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.engine.Exporters() == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "Not ready: no configuration loaded")
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.Handle("POST /-/reload", s.lifecycle(http.HandlerFunc(s.handleReload)))
	mux.HandleFunc("GET /api/v1/exporters", s.handleAPI)
	return s.countRequests(mux)
}

// lifecycle guards an endpoint that changes the server's state: it answers
// 403 unless Options.EnableLifecycle, and 403 to a cross-origin browser
// request (Sec-Fetch-Site, else Origin against Host), so a web page a user
// visits cannot post to it: a simple cross-origin POST needs no preflight.
func (s *Server) lifecycle(next http.Handler) http.Handler {
	crossOrigin := http.NewCrossOriginProtection()
	crossOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cross-origin request refused: lifecycle endpoints answer only same-origin requests (or tools such as curl that send no Origin)", http.StatusForbidden)
	}))
	guarded := crossOrigin.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.EnableLifecycle {
			http.Error(w, "lifecycle API is not enabled: start the server with --web.enable-lifecycle, or send SIGHUP to reload", http.StatusForbidden)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

func (s *Server) handleReload(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Reload == nil {
		http.Error(w, "reload is not supported: the server was started without a reload source", http.StatusInternalServerError)
		return
	}
	if err := s.opts.Reload(); err != nil {
		http.Error(w, "reload failed: "+redact.Error(err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "Reloaded")
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// countRequests keeps server_requests_total for every response.
func (s *Server) countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(strconv.Itoa(rec.status)).Inc()
	})
}
