package server

import (
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/redact"
	"github.com/metricwrap/metricwrap/internal/run"
)

// handleRun is GET /metrics/NAME: run exporter NAME with the request's
// parameters and answer its metrics.
func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("name")
	e, ok := s.engine.Exporters().Get(name)
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
	format := negotiate(r.Header)
	a := s.engine.Do(r.Context(), &run.Request{
		Entry:         e,
		Params:        params,
		ScrapeTimeout: run.ParseScrapeTimeout(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")),
		Debug:         debug,
		Format:        format,
	})
	if debug {
		s.writeDebug(w, a)
		return
	}
	if a.Body == nil {
		http.Error(w, s.reason(a), a.Class.Status())
		return
	}
	writeBody(w, r, format, a.Body)
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// reason is the plain-text body of a failed run. A process's stderr may
// hold what nobody should read over the network (a DSN, a token), so a
// failure that comes with stderr says only how the process ended unless
// debug output is enabled; the log has the whole error.
func (s *Server) reason(a *run.Answer) string {
	if s.opts.EnableDebug {
		return run.ShortError(a.Err)
	}
	return run.Reason(a.Err, a.Result)
}

// writeBody sends an encoded answer, gzip compressed when the client
// accepts that.
func writeBody(w http.ResponseWriter, r *http.Request, format expfmt.Format, body []byte) {
	h := w.Header()
	h.Set("Content-Type", string(format))
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	_, _ = gz.Write(body)
	_ = gz.Close()
}

// acceptsGzip reads an Accept-Encoding header: gzip (or *) with a quality
// above zero; "gzip;q=0" refuses it, as RFC 9110 says.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		switch enc = strings.TrimSpace(enc); {
		case strings.EqualFold(enc, "gzip"), strings.EqualFold(enc, "x-gzip"):
			gzipQ = q
		case enc == "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
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

func (s *Server) writeDebug(w http.ResponseWriter, a *run.Answer) {
	var b debugBody
	status := http.StatusOK
	if res := a.Result; res != nil {
		b.ReturnCode = res.ExitCode
		b.Stdout = redact.Text(string(res.Stdout))
		b.Stderr = redact.Text(string(res.Stderr))
		b.MetricsFilename = res.MetricsFilename
		b.Metrics = redact.Text(string(res.Raw))
		b.DurationSeconds = res.Duration.Seconds()
	}
	if a.Err != nil {
		msg := redact.Error(a.Err)
		b.Error = &msg
		status = a.Class.Status()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		s.log.Debug("writing debug response failed", "err", err)
	}
}

// negotiated is the format the last Accept header seen asked for.
type negotiated struct {
	accept string
	format expfmt.Format
}

var lastNegotiated atomic.Pointer[negotiated]

// negotiate is expfmt.NegotiateAccept over the formats this server offers,
// remembering the answer for the last Accept header: a Prometheus sends
// the same one on every scrape, and parsing it cost 2% of a run's CPU.
func negotiate(h http.Header) expfmt.Format {
	accept := h.Get("Accept")
	if n := lastNegotiated.Load(); n != nil && n.accept == accept {
		return n.format
	}
	f := expfmt.NegotiateAccept(h, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	lastNegotiated.Store(&negotiated{accept: accept, format: f})
	return f
}
