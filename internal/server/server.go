// Package server is metricwrap's HTTP surface: the status page, the
// server's own metrics, on-demand exporter runs (/metrics/NAME), health,
// reload and the exporters API. It runs exporters through exporter.Set and
// knows nothing about processes or sinks.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/redact"
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
	// TimeoutOffset is subtracted from Prometheus' scrape timeout header.
	TimeoutOffset time.Duration
	// MaxConcurrency bounds runs in progress (default 2 x CPUs).
	MaxConcurrency int
	// Reload loads the configuration again (POST /-/reload, SIGHUP). Nil
	// means reloading is not supported.
	Reload func() (*exporter.Set, error)
	// Registry holds the server's own metrics; nil makes a new one. Other
	// components (sinks, spool) may register on it too.
	Registry *prometheus.Registry
}

// Server serves exporters over HTTP. Its exporters can be swapped at any
// time (reload) while requests are in flight.
type Server struct {
	opts    Options
	log     *slog.Logger
	set     atomic.Pointer[exporter.Set]
	reg     *prometheus.Registry
	metrics *metrics
	limit   atomic.Pointer[limiter]
	// gen counts exporter sets; it is part of every run's key, so a request
	// after a reload never joins or reads a run of the old definitions.
	gen atomic.Uint64
	// life bounds every run: Close cancels it and waits for runs to end.
	life     context.Context
	stopLife context.CancelFunc
	lifeMu   sync.Mutex
	closed   bool
	runs     sync.WaitGroup
	flights  flightGroup
	cache    resultCache
	history  history
	reload   sync.Mutex
}

// New makes a server for set.
func New(set *exporter.Set, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = 2 * runtime.NumCPU()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		opts: o,
		log:  o.Logger,
		reg:  o.Registry,
	}
	s.life, s.stopLife = context.WithCancel(context.Background())
	s.SetMaxConcurrency(o.MaxConcurrency)
	s.metrics = newMetrics(o.Registry, time.Now())
	s.set.Store(set)
	return s
}

// SetMaxConcurrency bounds the runs in progress from now on (a reload may
// change global.max_concurrency); runs holding a slot of the previous bound
// finish under it.
func (s *Server) SetMaxConcurrency(n int) {
	if n <= 0 {
		n = 2 * runtime.NumCPU()
	}
	l := newLimiter(n)
	s.limit.Store(&l)
}

// SetExporters replaces the exporters, as a reload does.
func (s *Server) SetExporters(set *exporter.Set) {
	s.set.Store(set)
	s.gen.Add(1)
	s.cache.reset()
}

// Close cancels every run in progress (their processes get SIGTERM, then
// SIGKILL after their grace) and waits for them to end. Call it after the
// HTTP server has shut down, so no new run starts.
func (s *Server) Close() {
	s.lifeMu.Lock()
	s.closed = true
	s.lifeMu.Unlock()
	s.stopLife()
	s.runs.Wait()
}

// enter counts a run that is starting, unless the server is closed.
func (s *Server) enter() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return false
	}
	s.runs.Add(1)
	return true
}

// Registry is where the server's own metrics live.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Exporters returns the exporters in use now.
func (s *Server) Exporters() *exporter.Set { return s.set.Load() }

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
		if s.set.Load() == nil {
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

// Reload loads the configuration again through Options.Reload. A failure
// keeps the exporters in use, is counted and returned.
func (s *Server) Reload() error {
	if s.opts.Reload == nil {
		return errors.New("reload is not supported: the server was started without a reload source")
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	set, err := s.opts.Reload()
	if err != nil {
		s.metrics.reloadOK.Set(0)
		s.metrics.reloadsFailed.Inc()
		s.log.Error("config reload failed; keeping the previous configuration", "err", err)
		return err
	}
	s.SetExporters(set)
	s.metrics.reloadOK.Set(1)
	s.metrics.reloadTime.Set(float64(time.Now().UnixNano()) / 1e9)
	s.log.Info("config reloaded", "exporters", len(set.Names()))
	return nil
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
	if err := s.Reload(); err != nil {
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
