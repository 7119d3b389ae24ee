// Package remotewrite delivers runs to a Prometheus remote write 1.0
// receiver (SPEC 4.4): Prometheus with --web.enable-remote-write-receiver,
// Mimir, Thanos, Cortex, VictoriaMetrics. Each sample carries its own
// timestamp or else the run's start, so a run pushed late (from the spool)
// lands where it happened.
//
// client_golang/exp/api/remote is not used: it carries only the 2.0
// protobuf types, retries inside Write (the spool layer retries here) and
// hides whether an error is worth retrying.
package remotewrite

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang/snappy"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// DefaultBatchSize is the samples per request when Options.BatchSize is 0;
// Prometheus's own max_samples_per_send was 500 to 2000, receivers accept
// far more.
const DefaultBatchSize = 5000

// Options configure a Sink. Only Name and URL are required.
type Options struct {
	// Name is the sink's name; it keys metrics, logs and the spool.
	Name string
	// URL is the receiver's write endpoint, such as
	// http://localhost:9090/api/v1/write. User information in it is used
	// for basic auth and never logged.
	URL string
	// Username and Password enable basic auth; BearerToken sends
	// "Authorization: Bearer". Set one of the two, not both.
	Username    string
	Password    string
	BearerToken string
	// TLS configures the connection to an https URL when Client is nil.
	TLS *tls.Config
	// BatchSize is the most samples in one request; 0 means
	// DefaultBatchSize.
	BatchSize int
	// Timeout bounds one request; 0 leaves it to ctx and Client.
	Timeout time.Duration
	// Client sends the requests; nil means a client of its own (with TLS).
	Client *http.Client
}

// Sink writes batches to a remote write receiver. Push is safe for
// concurrent use: each call encodes into buffers of its own.
type Sink struct {
	o      Options
	url    string // without user information
	client *http.Client
}

var _ sink.Sink = (*Sink)(nil)

// New checks o; it contacts nothing.
func New(o Options) (*Sink, error) {
	if o.Name == "" {
		return nil, errors.New("remote write sink: name is empty")
	}
	u, err := parseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("remote write sink %s: %w", o.Name, err)
	}
	if u.User != nil {
		if o.Username == "" {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
		u.User = nil
	}
	if o.BearerToken != "" && (o.Username != "" || o.Password != "") {
		return nil, fmt.Errorf("remote write sink %s: set basic auth or a bearer token, not both", o.Name)
	}
	if o.BatchSize < 0 {
		return nil, fmt.Errorf("remote write sink %s: batch size %d is negative", o.Name, o.BatchSize)
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	s := &Sink{o: o, url: u.String(), client: o.Client}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.TLS
		s.client = &http.Client{Transport: tr}
	} else if o.TLS != nil {
		return nil, fmt.Errorf("remote write sink %s: set TLS or Client, not both", o.Name)
	}
	return s, nil
}

// parseURL checks the write URL. Its errors never repeat the URL, which
// may hold a password.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is empty (set url, or REMOTE_WRITE_URL)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("url is not valid; want http(s)://host:port/path, such as http://localhost:9090/api/v1/write")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url scheme %q is not http or https", u.Scheme)
	}
	return u, nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return s.o.Name }

// Push implements sink.Sink. It sends the batch in requests of at most
// BatchSize samples, in order, and stops at the first failure; sending
// the whole batch again later is harmless, as receivers accept a sample
// they already hold. A 4xx answer other than 408 and 429 (a sample out of
// order or too old, bad credentials) is sink.Permanent; 408, 429, 5xx and
// network errors are not.
func (s *Sink) Push(ctx context.Context, b *batch.Batch) error {
	start := b.Start
	if start.IsZero() {
		start = time.Now()
	}
	var (
		compressed []byte
		delivered  int
	)
	e := &encoder{
		max: s.o.BatchSize,
		ts:  start.UnixMilli(),
		flush: func(req []byte, series int) error {
			compressed = snappy.Encode(compressed[:cap(compressed)], req)
			if err := s.send(ctx, compressed); err != nil {
				return err
			}
			delivered += series
			return nil
		},
	}
	err := e.encode(b.Families)
	if err != nil && delivered > 0 {
		// Keep the error's kind (permanent or not) while saying how far it got.
		return fmt.Errorf("%w (after %d samples were delivered)", err, delivered)
	}
	return err
}

// send posts one snappy-compressed WriteRequest.
func (s *Sink) send(ctx context.Context, body []byte) error {
	if s.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return sink.Permanent(fmt.Errorf("remote write sink %s: %w", s.o.Name, err))
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "metricwrap")
	switch {
	case s.o.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+s.o.BearerToken)
	case s.o.Username != "" || s.o.Password != "":
		req.SetBasicAuth(s.o.Username, s.o.Password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The error names the URL, which holds no password.
		return fmt.Errorf("remote write sink %s: %w", s.o.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	err = fmt.Errorf("remote write sink %s: %s answered %s: %s",
		s.o.Name, s.url, resp.Status, strings.TrimSpace(string(msg)))
	if resp.StatusCode/100 == 4 &&
		resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return sink.Permanent(err)
	}
	return err
}
