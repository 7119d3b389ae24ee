// Package dtfake is a strict fake of the Dynatrace metric ingest endpoint
// (Metrics API v2 and the OneAgent local endpoint), for tests: no real
// Dynatrace can run here. It checks what Dynatrace checks, answers the way
// Dynatrace answers (including the 400 that still ingests the valid lines),
// records what it accepted and can be told to fail.
package dtfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
)

// Failure is an injected answer for one request.
type Failure struct {
	// Delay holds the answer back (or until the client gives up).
	Delay time.Duration
	// Status, when not 0, is answered instead of processing the request.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
}

// Request is what the fake saw of one request.
type Request struct {
	Authorization string
	ContentType   string
	Lines         int
	Bytes         int
	Status        int
}

// Server is the fake endpoint; use it as an http.Handler. Set the exported
// fields before serving.
type Server struct {
	// Token is the API token to require; "" accepts requests without one,
	// as the OneAgent endpoint does.
	Token string
	// MaxLines refuses requests with more lines (1,000 like the OneAgent
	// and every Dynatrace library; 0 for no limit).
	MaxLines int
	// OKField names the count of accepted lines in answers: "linesOk"
	// (API v2), "linesOK" or "linesValid" (OneAgent).
	OKField string
	// Now is the receiver's clock for the timestamp window.
	Now func() time.Time
	// Reject, when set, refuses the lines for which it returns an error, on
	// top of the protocol's own rules (as a tenant's limits would).
	Reject func(line string) error

	mu       sync.Mutex
	failures []Failure
	accepted []string
	requests []Request
}

// New returns a strict fake that requires token ("" for none).
func New(token string) *Server {
	return &Server{Token: token, MaxLines: dynatrace.MaxLinesPerRequest, OKField: "linesOk", Now: time.Now}
}

// FailNext makes the next requests, one per Failure, fail that way.
func (s *Server) FailNext(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

// Lines returns every accepted line, in the order received.
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

// Requests returns what the fake saw of every request.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

type apiError struct {
	Code         int           `json:"code"`
	Message      string        `json:"message"`
	InvalidLines []invalidLine `json:"invalidLines,omitempty"`
}

type invalidLine struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// ServeHTTP implements the ingest endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{Authorization: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()
	fail := func(code int, msg string) {
		rec.Status = code
		writeJSON(w, code, map[string]any{"error": apiError{Code: code, Message: msg}})
	}

	// Read the body first: only then does the server notice a client that
	// gives up while an injected delay holds the answer back.
	body, readErr := io.ReadAll(io.LimitReader(r.Body, dynatrace.MaxBytesPerRequest+1))
	rec.Bytes = len(body)

	s.mu.Lock()
	var f *Failure
	if len(s.failures) > 0 {
		f = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.mu.Unlock()
	if f != nil {
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				rec.Status = 0
				return
			}
		}
		if f.Status != 0 {
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			fail(f.Status, http.StatusText(f.Status))
			return
		}
	}

	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "only POST is allowed")
		return
	}
	if s.Token != "" {
		auth := r.Header.Get("Authorization")
		switch {
		case auth == "":
			fail(http.StatusUnauthorized, "Missing authorization parameter.")
			return
		case auth != "Api-Token "+s.Token:
			fail(http.StatusUnauthorized, "Token Authentication failed")
			return
		}
	}
	mt, params, err := mime.ParseMediaType(rec.ContentType)
	if err != nil || mt != "text/plain" || params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8") {
		fail(http.StatusUnsupportedMediaType, "Content-Type must be text/plain; charset=utf-8")
		return
	}
	if readErr != nil {
		fail(http.StatusBadRequest, "cannot read body")
		return
	}
	if len(body) > dynatrace.MaxBytesPerRequest {
		fail(http.StatusRequestEntityTooLarge, "Payload Too Large")
		return
	}
	if strings.TrimSpace(string(body)) == "" {
		fail(http.StatusBadRequest, "empty request")
		return
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	rec.Lines = len(lines)
	if s.MaxLines > 0 && len(lines) > s.MaxLines {
		fail(http.StatusBadRequest, fmt.Sprintf("at most %d lines per request", s.MaxLines))
		return
	}

	now := s.Now()
	var ok []string
	var invalid []invalidLine
	for i, l := range lines {
		err := CheckLine(l, now)
		if err == nil && s.Reject != nil {
			err = s.Reject(l)
		}
		if err != nil {
			invalid = append(invalid, invalidLine{Line: i + 1, Error: err.Error()})
			continue
		}
		ok = append(ok, l)
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, ok...)
	s.mu.Unlock()

	if len(invalid) == 0 {
		rec.Status = http.StatusAccepted
		writeJSON(w, http.StatusAccepted, map[string]any{
			s.OKField: len(ok), "linesInvalid": 0, "error": nil, "warnings": nil,
		})
		return
	}
	msg := fmt.Sprintf("%d invalid lines", len(invalid))
	if len(invalid) > 10 {
		invalid = invalid[:10]
		msg += "; First 10 errors reported"
	}
	rec.Status = http.StatusBadRequest
	writeJSON(w, http.StatusBadRequest, map[string]any{
		s.OKField: len(ok), "linesInvalid": len(lines) - len(ok), "warnings": nil,
		"error": apiError{Code: http.StatusBadRequest, Message: msg, InvalidLines: invalid},
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
