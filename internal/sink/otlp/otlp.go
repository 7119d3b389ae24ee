// Package otlp delivers runs over OTLP/HTTP with protobuf bodies: to an
// OpenTelemetry Collector, or to any backend that takes OTLP metrics, such as
// Dynatrace ({tenant}/api/v2/otlp/v1/metrics). The messages are the
// OpenTelemetry project's own Go types (go.opentelemetry.io/proto/otlp).
//
// Prometheus counters and explicit-bucket histograms go out with cumulative
// temporality, or, for receivers that only take deltas (Dynatrace), as
// deltas computed against durable per-series state that is pinned to the
// batch, as the Dynatrace sink does, so that a resent batch never counts
// twice. docs/otlp.md lists how each Prometheus type maps.
package otlp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/sink/ledger"
)

// Temporality is how counters and histograms are reported.
type Temporality string

// The temporalities a sink sends.
const (
	// Cumulative sends totals since the series started, as Prometheus
	// exposes them: what a Collector, Mimir or Prometheus's OTLP receiver
	// expect.
	Cumulative Temporality = "cumulative"
	// Delta sends each run's increase since the previous run: what
	// Dynatrace requires.
	Delta Temporality = "delta"
)

// Compression of request bodies.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// dynatracePath ends the URL of Dynatrace's OTLP metrics ingest.
const dynatracePath = "/api/v2/otlp/v1/metrics"

// DefaultMaxPointsPerRequest and DefaultMaxBytesPerRequest bound one
// request: Dynatrace takes at most 15,000 data points and 4 MB
// (uncompressed) in one OTLP request, and drops a larger one whole; the
// Collector's default limit is higher.
const (
	DefaultMaxPointsPerRequest = 15000
	DefaultMaxBytesPerRequest  = 4_000_000
)

// Options configure a Sink. Only Name and URL are required.
type Options struct {
	// Name is the sink's name; it labels metrics and logs and keys the
	// spool.
	Name string
	// URL is the full metrics URL, such as http://localhost:4318/v1/metrics
	// or https://abc12345.live.dynatrace.com/api/v2/otlp/v1/metrics.
	URL string
	// Headers are sent with every request (Authorization: Api-Token ...).
	// They are never logged.
	Headers map[string]string
	// Resource are resource attributes added to every batch's own (its
	// constant labels and service.name, which win): OTEL_RESOURCE_ATTRIBUTES
	// for the env-only sink, such as the k8s.* attributes the OpenTelemetry
	// Operator injects.
	Resource map[string]string
	// Temporality is Cumulative (the default) or Delta.
	Temporality Temporality
	// Compression is CompressionGzip (the default) or CompressionNone.
	Compression string
	// TLS configures the connection to an https URL when Client is nil.
	TLS *tls.Config
	// Client sends the requests; nil means a client of its own (with TLS).
	Client *http.Client
	// Timeout bounds one request; 0 leaves it to ctx and Client.
	Timeout time.Duration
	// StateFile keeps the per-series state (delta baselines, cumulative
	// start times) across restarts; empty keeps it in memory only.
	StateFile string
	// MaxPointsPerRequest and MaxBytesPerRequest (uncompressed) split a
	// batch into requests; 0 means the defaults.
	MaxPointsPerRequest int
	MaxBytesPerRequest  int
	// Logger gets partial successes and state problems; nil discards.
	Logger *slog.Logger
}

// Sink pushes batches over OTLP/HTTP. Push is safe for concurrent use: the
// state is updated under a lock, requests are sent outside it.
type Sink struct {
	o      Options
	url    string // without user information
	client *http.Client
	log    *slog.Logger

	// now is replaced by tests.
	now func() time.Time

	st    *state // under store's lock
	store *ledger.Store

	requests *prometheus.CounterVec
	points   prometheus.Counter
	rejected prometheus.Counter
}

var _ sink.Sink = (*Sink)(nil)

// New checks o and loads the state; it contacts nothing.
func New(o Options) (*Sink, error) {
	if o.Name == "" {
		return nil, errors.New("otlp sink: name is empty")
	}
	u, err := parseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("otlp sink %s: %w", o.Name, err)
	}
	switch o.Temporality {
	case "":
		o.Temporality = Cumulative
	case Cumulative, Delta:
	default:
		return nil, fmt.Errorf("otlp sink %s: temporality %q is neither cumulative nor delta", o.Name, o.Temporality)
	}
	switch o.Compression {
	case "":
		o.Compression = CompressionGzip
	case CompressionGzip, CompressionNone:
	default:
		return nil, fmt.Errorf("otlp sink %s: compression %q is neither gzip nor none", o.Name, o.Compression)
	}
	if o.MaxPointsPerRequest <= 0 {
		o.MaxPointsPerRequest = DefaultMaxPointsPerRequest
	}
	if o.MaxBytesPerRequest <= 0 {
		o.MaxBytesPerRequest = DefaultMaxBytesPerRequest
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	client := o.Client
	switch {
	case client == nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.TLS
		client = &http.Client{Transport: tr}
	case o.TLS != nil:
		return nil, fmt.Errorf("otlp sink %s: set TLS or Client, not both", o.Name)
	}
	store := &ledger.Store{Path: o.StateFile, Noun: "series state", Log: o.Logger.With("sink", o.Name)}
	st, err := loadState(store)
	var parse *ledger.ParseError
	switch {
	case errors.As(err, &parse):
		return nil, fmt.Errorf("otlp sink %s: %w", o.Name, err)
	case err != nil:
		// An unreadable state dir (a read-only volume) must not stop
		// delivery: gauges and exec's increments still go out.
		o.Logger.Warn("cannot read the series state; keeping it in memory, so delta counters send nothing until their second sighting",
			"sink", o.Name, "err", err)
		st = newState()
	}
	if o.Temporality == Cumulative && strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), dynatracePath) {
		// Not refused: a proxy may convert. But said once, before Dynatrace
		// rejects every counter and histogram.
		o.Logger.Warn("this looks like Dynatrace's OTLP ingest, which takes delta temporality only: counters, histograms and summaries will be rejected; set temporality: delta (or OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta)",
			"sink", o.Name)
	}
	labels := prometheus.Labels{"sink": o.Name}
	return &Sink{
		o: o, url: u.String(), client: client, log: o.Logger.With("sink", o.Name), now: time.Now, st: st, store: store,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_otlp_requests_total", ConstLabels: labels,
			Help: "OTLP export requests sent, by HTTP status code (0: no response).",
		}, []string{"code"}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "metricwrap_otlp_data_points_sent_total", ConstLabels: labels,
			Help: "Data points in export requests the receiver answered with success (including those it then rejected).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "metricwrap_otlp_data_points_rejected_total", ConstLabels: labels,
			Help: "Data points the receiver rejected in a partial success (rejected_data_points); each answer is logged with its message.",
		}),
	}, nil
}

// parseURL checks the metrics URL. Its errors never repeat the URL, which
// may hold a password.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is empty (set url, or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("url is not valid; want http(s)://host:port/path, such as http://localhost:4318/v1/metrics")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url scheme %q is not http or https (this sink speaks OTLP/HTTP, not gRPC)", u.Scheme)
	}
	u.User = nil
	return u, nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return s.o.Name }

// Destination implements sink.Sink: the metrics URL, without user
// information, and a digest of the headers that may select the receiving
// end (a tenant such as Mimir's X-Scope-OrgID), so that a batch spooled for
// one tenant is never delivered to another after the config changed.
// Credentials (Authorization and any header whose name says token, key,
// auth, secret or password) are left out: a rotated token still reaches
// the same receiver, and no secret goes into the spool's keys.
func (s *Sink) Destination() string {
	var pairs []string
	for k, v := range s.o.Headers {
		if !credential(k) {
			pairs = append(pairs, strings.ToLower(k)+"="+v)
		}
	}
	if len(pairs) == 0 {
		return "otlp " + s.url
	}
	sort.Strings(pairs)
	sum := sha256.Sum256([]byte(strings.Join(pairs, "\n")))
	return "otlp " + s.url + " headers:" + hex.EncodeToString(sum[:8])
}

// credential reports whether a header carries a credential rather than
// something that selects the destination.
func credential(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"authorization", "token", "key", "auth", "secret", "password", "cookie"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Collectors returns the sink's own metrics, for the server's registry.
func (s *Sink) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.requests, s.points, s.rejected}
}

// Push implements sink.Sink. The batch becomes one resource (constant
// labels and service.name), split into requests of at most
// MaxPointsPerRequest points. A 429, 502, 503 or 504 (with its
// Retry-After) and network errors are retryable; every other refusal is
// permanent, as the OTLP specification says. A partial success that
// rejected points is permanent too (resending would duplicate the accepted
// ones): it is counted, logged and returned. In delta mode a retry sends
// only the requests not yet accepted, with the same deltas (see state).
func (s *Sink) Push(ctx context.Context, b *batch.Batch) error {
	if b.Empty() {
		return sink.Refused(s.o.Name, errors.New("the batch has no sample"))
	}
	reqs, p := s.prepare(b)
	sent, err := s.deliver(ctx, reqs, p.Sent)
	return ledger.Settle(s.store, s.st, b.ID, p, sent, err)
}

// prepare converts b: with its pinned points when it was seen before, else
// advancing the state and, when the batch's points depend on it (delta
// mode, or exec's increments kept as running totals), pinning them.
func (s *Sink) prepare(b *batch.Batch) ([]*request, *pending) {
	s.store.Lock()
	defer s.store.Unlock()
	now := s.now()
	s.st.expire(now)
	c := &converter{b: b, now: now, temporality: s.o.Temporality, extra: s.o.Resource}
	a := &advance{st: s.st, points: map[string]*point{}}
	if p, ok := s.st.Lookup(b.ID); ok {
		if p.Done {
			s.log.Debug("batch already delivered; not sending it again", "batch", b.ID)
			return nil, p
		}
		c.track = pinned{points: p.Points, advance: a}
		return split(c.convert(), s.o.MaxPointsPerRequest, s.o.MaxBytesPerRequest), p
	}
	c.track = a
	reqs := split(c.convert(), s.o.MaxPointsPerRequest, s.o.MaxBytesPerRequest)
	p := &pending{Entry: ledger.Entry{Created: now}, Points: a.points}
	if s.o.Temporality == Delta || len(b.Increments) > 0 {
		s.st.Pin(b.ID, p, now)
	}
	s.store.Save(s.st)
	return reqs, p
}

// deliver sends reqs[from:] in order and returns how many requests (from
// the start) the receiver has answered for. A partial success does not stop
// it: the rest goes out, then the rejection is returned, permanent.
func (s *Sink) deliver(ctx context.Context, reqs []*request, from int) (int, error) {
	var rejected *RejectedError
	i := from
	for ; i < len(reqs); i++ {
		err := s.send(ctx, reqs[i])
		var r *RejectedError
		switch {
		case errors.As(err, &r):
			if rejected == nil {
				rejected = &RejectedError{}
			}
			rejected.Rejected += r.Rejected
			rejected.Message = r.Message
		case err != nil:
			return i, err
		}
	}
	if rejected != nil {
		return i, sink.Permanent(fmt.Errorf("otlp sink %s: %w", s.o.Name, rejected))
	}
	return i, nil
}
