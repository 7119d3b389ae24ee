package sink

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file is the one place that decides what an answer from a
// destination means for the batch: delivered, refused for good (retrying
// cannot change it), or refused for now (retry, honouring Retry-After).
// Sinks turn their protocol's answer into a status and hand it to Answer;
// the fan-out and the spool only ask IsPermanent, IsRefusal and RetryAfter.

// Refusal is a destination's answer that did not take the batch. It keeps
// what the destination said, so a quarantined batch carries its reason.
type Refusal struct {
	// Sink names the sink; the sink's own error text says it.
	Sink string
	// Status is the HTTP status (or the protocol's equivalent).
	Status int
	// Body is the start of what the destination said, trimmed.
	Body string
	// After is what Retry-After asked for; zero when the answer had none.
	After time.Duration
	// permanent is decided by Answer, nowhere else.
	permanent bool
}

func (r *Refusal) Error() string {
	msg := fmt.Sprintf("answered %d %s", r.Status, http.StatusText(r.Status))
	if r.Body != "" {
		msg += ": " + r.Body
	}
	if r.After > 0 {
		msg += fmt.Sprintf(" (retry after %s)", r.After)
	}
	return msg
}

// RetryAfter is how long the destination asked to wait before the next try.
func (r *Refusal) RetryAfter() time.Duration { return r.After }

// maxBody bounds what a Refusal keeps of an answer.
const maxBody = 512

// Answer classifies a destination's HTTP answer: nil for 2xx; otherwise a
// *Refusal, permanent for every 3xx and 4xx except 408 (request timeout),
// 425 (too early) and 429 (too many requests), retryable for those and for
// 5xx. header may be nil; its Retry-After (seconds or an HTTP date) is kept
// on every refusal that carries it.
func Answer(sinkName string, status int, header http.Header, body []byte) error {
	return answer(sinkName, status, header, body, func(status int) bool {
		switch status {
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
			return true
		}
		return status >= 500
	})
}

// AnswerOTLP classifies an answer by the OTLP/HTTP specification's rule,
// which is narrower than Answer's: only 429, 502, 503 and 504 are
// retryable (honouring Retry-After); every other 3xx, 4xx and 5xx is
// permanent, as the specification forbids retrying them.
func AnswerOTLP(sinkName string, status int, header http.Header, body []byte) error {
	return answer(sinkName, status, header, body, func(status int) bool {
		switch status {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	})
}

func answer(sinkName string, status int, header http.Header, body []byte, retryable func(int) bool) error {
	if status >= 200 && status < 300 {
		return nil
	}
	r := &Refusal{Sink: sinkName, Status: status, Body: clip(strings.TrimSpace(string(body)), maxBody)}
	if header != nil {
		r.After = ParseRetryAfter(header.Get("Retry-After"), time.Now())
	}
	r.permanent = !retryable(status)
	return r
}

// Refused wraps a refusal that a sink found itself, before sending (the
// batch breaks the protocol's rules): permanent, and named as local.
func Refused(sinkName string, err error) error {
	if err == nil {
		return nil
	}
	return Permanent(fmt.Errorf("%s refused the batch before sending it: %w", sinkName, err))
}

// MaxRefusals is how many times in a row a destination may refuse one batch
// with an answer that blames the batch (BlamesBatch) before the fan-out
// stops retrying it and the spool tries the batches behind it.
const MaxRefusals = 3

// BlamesBatch reports whether err is an answer from a destination that is
// up and refuses this batch, for now: a 5xx other than 502, 503 and 504
// (which say the destination is unwell, not the batch). Throttling (429)
// and timeouts blame no batch. A destination that takes the next batch
// after such answers has shown that the batch is the problem.
func BlamesBatch(err error) bool {
	var r *Refusal
	if !errors.As(err, &r) || r.permanent {
		return false
	}
	switch r.Status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return false
	}
	return r.Status >= 500
}

// RetryAfter is the wait that err (or any error it wraps) asked for, zero
// when none did.
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return 0
}

// ParseRetryAfter reads a Retry-After value: delay seconds or an HTTP date
// (RFC 9110 10.2.3). Anything else, or a date in the past, is zero.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
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
