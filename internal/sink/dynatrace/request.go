package dynatrace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/metricwrap/metricwrap/internal/sink"
)

// RejectedError reports lines Dynatrace refused as invalid while ingesting
// the others; each refused line is logged with Dynatrace's reason.
type RejectedError struct {
	OK, Invalid int
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("dynatrace rejected %d lines as invalid (%d accepted); the log lists them", e.Invalid, e.OK)
}

// response is Dynatrace's answer body. The count of accepted lines comes
// as linesOk (API v2), linesOK (one documentation page; json matches it
// case-insensitively) or linesValid (OneAgent).
type response struct {
	LinesOK      *int      `json:"linesOk"`
	LinesValid   *int      `json:"linesValid"`
	LinesInvalid int       `json:"linesInvalid"`
	Error        *apiError `json:"error"`
}

// apiError is the "error" object of an answer.
type apiError struct {
	Code         int    `json:"code"`
	Message      string `json:"message"`
	InvalidLines []struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	} `json:"invalidLines"`
}

func (r *response) ok() int {
	switch {
	case r.LinesOK != nil:
		return *r.LinesOK
	case r.LinesValid != nil:
		return *r.LinesValid
	}
	return 0
}

func (r *response) message() string {
	if r.Error == nil || r.Error.Message == "" {
		return "no error message"
	}
	return r.Error.Message
}

// send posts lines [i, j) and returns how many of them Dynatrace answered
// for (accepted or rejected), which is j-i unless err is retryable.
func (s *Sink) send(ctx context.Context, l *Lines, i, j int) (int, error) {
	var body bytes.Buffer
	for k := i; k < j; k++ {
		body.Write(l.Line(k))
		body.WriteByte('\n')
	}
	status, header, resp, raw, err := s.post(ctx, body.Bytes())
	if err != nil {
		return 0, err
	}
	switch {
	case status == http.StatusOK || status == http.StatusAccepted:
		s.linesOK.Add(float64(resp.ok()))
		return j - i, nil
	case status == http.StatusBadRequest && (resp.LinesInvalid > 0 || resp.Error != nil && len(resp.Error.InvalidLines) > 0):
		s.linesOK.Add(float64(resp.ok()))
		s.linesInvalid.Add(float64(resp.LinesInvalid))
		if resp.Error == nil {
			resp.Error = &apiError{}
		}
		for _, il := range resp.Error.InvalidLines {
			text := "(unknown line)"
			if n := i + il.Line - 1; il.Line >= 1 && n < j {
				text = clip(string(l.Line(n)), 1000)
			}
			s.log.Warn("dynatrace rejected a line", "line", text, "reason", il.Error)
		}
		if more := resp.LinesInvalid - len(resp.Error.InvalidLines); more > 0 {
			s.log.Warn("dynatrace rejected more lines without listing them", "count", more)
		}
		return j - i, &RejectedError{OK: resp.ok(), Invalid: resp.LinesInvalid}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return 0, fmt.Errorf("dynatrace sink %s: the API token was refused (%w); "+
			"check that token_env or token_file holds a valid token with the metrics.ingest scope",
			s.o.Name, sink.Answer(s.o.Name, status, header, []byte(resp.message())))
	case status == http.StatusRequestEntityTooLarge:
		if j-i == 1 {
			s.linesInvalid.Inc()
			s.log.Warn("dynatrace refused a line as too large", "line", clip(string(l.Line(i)), 1000))
			return 1, &RejectedError{Invalid: 1}
		}
		mid := i + (j-i)/2
		n, err := s.send(ctx, l, i, mid)
		if err != nil && !isRejected(err) {
			return n, err
		}
		m, err2 := s.send(ctx, l, mid, j)
		return n + m, joinRejected(err, err2)
	}
	// Everything else (429 and 5xx retryable, honouring Retry-After; other
	// 4xx for good) is decided where it is for every sink.
	return 0, fmt.Errorf("dynatrace sink %s: %w", s.o.Name, sink.Answer(s.o.Name, status, header, raw))
}

func isRejected(err error) bool {
	_, ok := err.(*RejectedError) //nolint:errorlint // send returns it unwrapped
	return ok
}

// joinRejected merges the outcomes of two halves: a retryable error wins,
// rejections add up.
func joinRejected(a, b error) error {
	if b != nil && !isRejected(b) {
		return b
	}
	ra, _ := a.(*RejectedError) //nolint:errorlint // send returns it unwrapped
	rb, _ := b.(*RejectedError) //nolint:errorlint
	switch {
	case ra == nil && rb == nil:
		return nil
	case ra == nil:
		return rb
	case rb == nil:
		return ra
	}
	return &RejectedError{OK: ra.OK + rb.OK, Invalid: ra.Invalid + rb.Invalid}
}

// post sends one body. The token goes only into the header: no error or
// log line built here can contain it.
func (s *Sink) post(ctx context.Context, body []byte) (int, http.Header, *response, []byte, error) {
	if s.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, nil, sink.Permanent(fmt.Errorf("dynatrace sink %s: bad url: %w", s.o.Name, err))
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "metricwrap")
	if s.o.Token != "" {
		req.Header.Set("Authorization", "Api-Token "+s.o.Token)
	}
	res, err := s.o.Client.Do(req)
	if err != nil {
		s.requests.WithLabelValues("0").Inc()
		return 0, nil, nil, nil, fmt.Errorf("dynatrace sink %s: %w", s.o.Name, err)
	}
	defer res.Body.Close()
	s.requests.WithLabelValues(strconv.Itoa(res.StatusCode)).Inc()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return 0, nil, nil, nil, fmt.Errorf("dynatrace sink %s: read response: %w", s.o.Name, err)
	}
	var r response
	if json.Unmarshal(data, &r) != nil && len(data) > 0 {
		r.Error = &apiError{Message: clip(strings.TrimSpace(string(data)), 200)}
	}
	return res.StatusCode, res.Header, &r, data, nil
}

// clip shortens s to at most n bytes without cutting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
