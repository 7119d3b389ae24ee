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
	"time"
	"unicode/utf8"

	"github.com/golang/snappy"
	dto "github.com/prometheus/client_model/go"

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

// Destination implements sink.Sink: the write URL, without user
// information.
func (s *Sink) Destination() string { return "remote-write " + s.url }

// Push implements sink.Sink. It sends the batch in requests of at most
// BatchSize samples, in order, and stops at the first failure; sending
// the whole batch again later is harmless, as receivers accept a sample
// they already hold. A 4xx answer other than 408 and 429 (a sample out of
// order or too old, bad credentials) is sink.Permanent; 408, 429, 5xx and
// network errors are not (sink.Answer decides). A batch that breaks the
// protocol's rules (see check) is refused before anything is sent.
func (s *Sink) Push(ctx context.Context, b *batch.Batch) error {
	if err := check(b); err != nil {
		return sink.Refused(s.o.Name, err)
	}
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
	return fmt.Errorf("remote write sink %s: %s %w", s.o.Name, s.url, sink.Answer(s.o.Name, resp.StatusCode, resp.Header, msg))
}

// check refuses what a remote write 1.0 receiver must refuse, so that it is
// never sent: no sample, an empty or non-UTF-8 metric or label name,
// a label named __name__ (the metric name is that label: a second one
// makes the series invalid), two labels of one name in a series, or a
// label value that is not UTF-8. Labels are sent sorted by name and
// without empty values by the encoder, as the protocol wants.
func check(b *batch.Batch) error {
	if b.Empty() {
		return errors.New("the batch has no sample")
	}
	seen := map[string]bool{}
	for _, mf := range b.Families {
		name := mf.GetName()
		if name == "" || !utf8.ValidString(name) {
			return fmt.Errorf("metric name %q is empty or not UTF-8", name)
		}
		for _, m := range mf.GetMetric() {
			clear(seen)
			for _, l := range m.GetLabel() {
				ln := l.GetName()
				switch {
				case ln == "__name__":
					return fmt.Errorf("metric %s has a label named __name__, which remote write reserves for the metric name; rename or drop the label", name)
				case ln == "" || !utf8.ValidString(ln):
					return fmt.Errorf("metric %s has a label name %q that is empty or not UTF-8", name, ln)
				case !utf8.ValidString(l.GetValue()):
					return fmt.Errorf("metric %s has a value of label %s that is not UTF-8", name, ln)
				case seen[ln]:
					return fmt.Errorf("metric %s has label %s twice", name, ln)
				case ln == "le" && mf.GetType() == dto.MetricType_HISTOGRAM, ln == "quantile" && mf.GetType() == dto.MetricType_SUMMARY:
					return fmt.Errorf("metric %s has a label %s, which its buckets or quantiles carry; rename the label", name, ln)
				}
				seen[ln] = true
			}
		}
	}
	return nil
}
