package server

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/redact"
)

// minRunTimeout keeps a tiny or bogus scrape-timeout header from giving a
// run no time at all.
const minRunTimeout = 100 * time.Millisecond

// handleRun is GET /metrics/NAME: run exporter NAME with the request's
// parameters and answer its metrics.
func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("name")
	set := s.set.Load()
	e, ok := set.Get(name)
	if !ok {
		if s.opts.EnableDebug && isTrue(r.URL.Query().Get("debug")) {
			s.writeDebugNotFound(w)
			return
		}
		http.Error(w, "unknown exporter", http.StatusNotFound)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		// The original tool counted only successes and server errors.
		if rec.status == http.StatusOK || rec.status >= 500 {
			path := "/metrics/" + name
			s.metrics.exporterRequests.WithLabelValues(path, strconv.Itoa(rec.status)).Inc()
			s.metrics.exporterSeconds.WithLabelValues(path).Add(time.Since(start).Seconds())
		}
	}()
	w = rec

	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, "malformed query string", http.StatusBadRequest)
		return
	}
	debug := isTrue(q.Get("debug"))
	if debug && !s.opts.EnableDebug {
		http.Error(w, "debug output is disabled; start the server with --web.enable-debug", http.StatusForbidden)
		return
	}
	params, err := e.Params().Check(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	timeout := s.runTimeout(r, e)
	o := s.execute(r.Context(), e, params, timeout, debug)
	if debug {
		s.writeDebug(w, o)
		return
	}
	if o.err != nil && !o.stale {
		http.Error(w, s.reason(o), statusFor(o.err))
		return
	}
	s.writeMetrics(w, r, o.res.Families)
}

// runTimeout is the smaller of the exporter's timeout and Prometheus' scrape
// timeout header less the offset.
func (s *Server) runTimeout(r *http.Request, e *exporter.Entry) time.Duration {
	t := e.Timeout
	if h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); h != "" {
		if secs, err := strconv.ParseFloat(h, 64); err == nil && secs > 0 && secs < 1e6 {
			ht := time.Duration(secs * float64(time.Second))
			if ht-s.opts.TimeoutOffset > 0 {
				ht -= s.opts.TimeoutOffset
			}
			if t <= 0 || ht < t {
				t = ht
			}
		}
	}
	if t <= 0 {
		t = 30 * time.Second
	}
	return max(t, minRunTimeout)
}

// outcome is what answering one request produced.
type outcome struct {
	res   *exporter.Result
	err   error
	stale bool // res is a cached result served in place of a fresh one
}

// execute answers one request: from the cache, by joining an identical run
// in flight, or by a new run under the concurrency limit. Debug requests
// always run and are neither cached nor shared, so they show this run. ctx
// is the request's: its end (the client went away) cancels a run that no
// other request waits on; timeout bounds the run itself.
func (s *Server) execute(ctx context.Context, e *exporter.Entry, params map[string]string,
	timeout time.Duration, debug bool) outcome {
	name := e.Name()
	key := requestKey(s.gen.Load(), name, params)
	if !debug && e.CacheTTL > 0 {
		if c, ok := s.cache.get(key); ok && time.Since(c.at) < e.CacheTTL {
			s.metrics.cacheHits.WithLabelValues(name).Inc()
			return outcome{res: withCachedMarker(e, c.res, true), stale: true}
		}
	}
	run := func(ctx context.Context) (*exporter.Result, error) {
		lim := *s.limit.Load()
		if err := lim.acquire(ctx); err != nil {
			s.metrics.overloaded.WithLabelValues(name).Inc()
			return nil, err
		}
		defer lim.release()
		return s.runOnce(ctx, e, params, timeout, debug)
	}
	var res *exporter.Result
	var err error
	if debug {
		runCtx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		stop := context.AfterFunc(s.life, cancel)
		defer stop()
		res, err = run(runCtx)
	} else {
		res, err = s.flights.do(ctx, s.life, key, timeout, run, func() {
			s.metrics.coalesced.WithLabelValues(name).Inc()
		})
	}
	if err == nil {
		if !debug && (e.CacheTTL > 0 || e.StaleOnError) {
			s.cache.put(key, res, time.Now())
		}
		return outcome{res: withCachedMarker(e, res, false)}
	}
	if !debug && e.StaleOnError && !errors.Is(err, context.Canceled) {
		if c, ok := s.cache.get(key); ok {
			s.metrics.staleServed.WithLabelValues(name).Inc()
			s.log.Warn("exporter run failed; serving the last good result", "exporter", name, "err", err)
			return outcome{res: withCachedMarker(e, c.res, true), err: err, stale: true}
		}
	}
	return outcome{res: res, err: err}
}

// RunEntry runs e outside any request (a scheduled run) under the same run
// limit, metrics and history as a request's run; it waits for a run slot
// as long as ctx and e's timeout allow.
func (s *Server) RunEntry(ctx context.Context, e *exporter.Entry, params map[string]string) (*exporter.Result, error) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(s.life, cancel)
	defer stop()
	lim := *s.limit.Load()
	if err := lim.acquire(ctx); err != nil {
		s.metrics.overloaded.WithLabelValues(e.Name()).Inc()
		return nil, err
	}
	defer lim.release()
	return s.runOnce(ctx, e, params, timeout, false)
}

// runOnce runs the exporter and records the run's metrics and history.
func (s *Server) runOnce(ctx context.Context, e *exporter.Entry, params map[string]string,
	timeout time.Duration, debug bool) (*exporter.Result, error) {
	name := e.Name()
	if !s.enter() {
		return nil, fmt.Errorf("server shutting down: %w", context.Canceled)
	}
	defer s.runs.Done()
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	start := time.Now()
	// As the original tool, the debug view shows the run a scrape gets:
	// the exporter is not told (Request.Debug is the CLI's --debug).
	res, err := e.Run(ctx, &exporter.Request{Params: params, Timeout: timeout, ShowRaw: debug})
	d := time.Since(start)
	oc := outcomeLabel(err)
	s.metrics.runs.WithLabelValues(name, oc).Inc()
	s.metrics.runDuration.WithLabelValues(name).Observe(d.Seconds())
	s.history.record(name, runRecord{At: start, Duration: d, Outcome: oc, Error: errString(err)})
	if err != nil && oc != "canceled" {
		s.log.Warn("exporter run failed", "exporter", name, "outcome", oc, "duration", d, "err", err)
	}
	return res, err
}

// withCachedMarker adds metricwrap_exporter_cached to exporters that cache
// or serve stale results, so a dashboard can tell a fresh run from a
// repeated one. The cached result itself is never modified.
func withCachedMarker(e *exporter.Entry, res *exporter.Result, cached bool) *exporter.Result {
	if res == nil || (e.CacheTTL <= 0 && !e.StaleOnError) {
		return res
	}
	v := 0.0
	if cached {
		v = 1
	}
	marker := &dto.MetricFamily{
		Name: strPtr("metricwrap_exporter_cached"),
		Help: strPtr("1 when this answer repeats an earlier run's result (cache_ttl or stale_on_error), 0 for a fresh run."),
		Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{
			Gauge: &dto.Gauge{Value: &v},
		}},
	}
	out := *res
	out.Families = append(append(make([]*dto.MetricFamily, 0, len(res.Families)+1), res.Families...), marker)
	return &out
}

func strPtr(s string) *string { return &s }

// requestKey identifies identical requests: same exporter set, exporter and
// parameters.
func requestKey(gen uint64, name string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(strconv.FormatUint(gen, 10))
	b.WriteByte(0)
	b.WriteString(name)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return b.String()
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// statusFor maps a run error to the status code SPEC 3 gives it.
func statusFor(err error) int {
	switch {
	case errors.Is(err, errOverloaded):
		return http.StatusServiceUnavailable
	case errors.Is(err, exporter.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

func outcomeLabel(err error) string {
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, exporter.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, exporter.ErrInvalidOutput):
		return "invalid_output"
	case errors.Is(err, exporter.ErrOutputTooLarge):
		return "output_too_large"
	default:
		return "failure"
	}
}

// reason is the plain-text body of a failed run. A process's stderr may
// hold what nobody should read over the network (a DSN, a token), so a
// failure that comes with stderr says only how the process ended unless
// debug output is enabled; the log has the whole error.
func (s *Server) reason(o outcome) string {
	if s.opts.EnableDebug || !errors.Is(o.err, exporter.ErrFailed) || o.res == nil || len(o.res.Stderr) == 0 {
		return shortReason(o.err)
	}
	if o.res.ExitCode < 0 {
		return "exporter failed: killed by a signal; its stderr is in the server log"
	}
	return fmt.Sprintf("exporter failed with exit code %d; its stderr is in the server log", o.res.ExitCode)
}

// shortReason is the plain-text body of a failed run: the error's first
// line, bounded, so a chatty exporter cannot fill the response.
func shortReason(err error) string {
	msg := redact.Error(err)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	return msg
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return shortReason(err)
}

// writeMetrics encodes families in the format the client negotiated, gzip
// compressed when it asked for that.
func (s *Server) writeMetrics(w http.ResponseWriter, r *http.Request, fams []*dto.MetricFamily) {
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	h := w.Header()
	h.Set("Content-Type", string(format))
	var out interface {
		Write([]byte) (int, error)
	} = w
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	}
	// exposition's encoder writes numbers as the exporter spelled them
	// and escapes names as the negotiated format asks.
	if err := exposition.Encode(out, fams, format); err != nil {
		s.log.Error("encoding metrics failed", "err", err)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(enc, "gzip") {
			return true
		}
	}
	return false
}

// debugBody is the original tool's debug JSON plus duration and error.
type debugBody struct {
	ReturnCode      int     `json:"returncode"`
	Stdout          string  `json:"stdout"`
	Stderr          string  `json:"stderr"`
	MetricsFilename string  `json:"metrics_filename"`
	Metrics         string  `json:"metrics"`
	DurationSeconds float64 `json:"duration_seconds"`
	Error           *string `json:"error"`
}

// writeDebugNotFound is the original tool's debug answer for an unknown
// exporter: its CLI's exit code and message.
func (s *Server) writeDebugNotFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(debugBody{ReturnCode: 255, Stdout: "Exporter not found.\n"}); err != nil {
		s.log.Debug("writing debug response failed", "err", err)
	}
}

func (s *Server) writeDebug(w http.ResponseWriter, o outcome) {
	var b debugBody
	status := http.StatusOK
	if o.res != nil {
		b.ReturnCode = o.res.ExitCode
		b.Stdout = redact.Text(string(o.res.Stdout))
		b.Stderr = redact.Text(string(o.res.Stderr))
		b.MetricsFilename = o.res.MetricsFilename
		b.Metrics = redact.Text(string(o.res.Raw))
		b.DurationSeconds = o.res.Duration.Seconds()
	}
	if o.err != nil {
		msg := redact.Error(o.err)
		b.Error = &msg
		status = statusFor(o.err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		s.log.Debug("writing debug response failed", "err", err)
	}
}
