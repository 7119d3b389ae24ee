// Package dynatrace delivers runs to the Dynatrace Metrics API v2 in its
// line protocol (SPEC 4.2): it serializes metric families to lines, turns
// cumulative counters into deltas with durable per-series state, splits the
// lines into requests within the protocol's limits and maps the answers to
// sink errors.
package dynatrace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/sink/ledger"
)

// Options configure a Sink. Only Name and URL are required.
type Options struct {
	// Name is the sink's name; it labels metrics and logs.
	Name string
	// URL is the full ingest URL, such as
	// https://abc12345.live.dynatrace.com/api/v2/metrics/ingest or the
	// OneAgent's http://localhost:14499/metrics/ingest.
	URL string
	// Token is the API token (scope metrics.ingest), resolved by the caller
	// from token_env or token_file. Empty sends no Authorization header, as
	// the OneAgent endpoint wants.
	Token string
	// Prefix is joined to every metric key with a '.'.
	Prefix string
	// DefaultDimensions are added to every line (a metric's label wins).
	DefaultDimensions map[string]string
	// Metadata sends "#key" lines with dt.meta.description from HELP and
	// dt.meta.unit from a _seconds or _bytes suffix.
	Metadata bool
	// StateFile keeps the counter state across restarts (see state); empty
	// keeps it in memory only.
	StateFile string
	// Timeout bounds one request; 0 leaves it to ctx and Client.
	Timeout time.Duration
	// MaxLinesPerRequest and MaxBytesPerRequest split a batch into
	// requests; 0 means MaxLinesPerRequest and MaxBytesPerRequest.
	MaxLinesPerRequest int
	MaxBytesPerRequest int
	// Client sends the requests; nil means a client of its own.
	Client *http.Client
	// Logger gets rejected lines and state problems; nil discards.
	Logger *slog.Logger
}

// Sink pushes batches to Dynatrace. Push is safe for concurrent use; the
// counter state is updated under a lock, requests are sent outside it.
type Sink struct {
	o   Options
	cfg Config
	log *slog.Logger

	// now is replaced by tests.
	now func() time.Time

	st    *state // under store's lock
	store *ledger.Store

	linesOK      prometheus.Counter
	linesInvalid prometheus.Counter
	dropped      *prometheus.CounterVec
	requests     *prometheus.CounterVec
}

var _ sink.Sink = (*Sink)(nil)

// New checks o and loads the counter state.
func New(o Options) (*Sink, error) {
	if o.Name == "" {
		return nil, errors.New("dynatrace sink: name is empty")
	}
	if o.URL == "" {
		return nil, fmt.Errorf("dynatrace sink %s: url is empty (set url, or DT_TENANT for the default)", o.Name)
	}
	if o.MaxLinesPerRequest <= 0 {
		o.MaxLinesPerRequest = MaxLinesPerRequest
	}
	if o.MaxBytesPerRequest <= 0 {
		o.MaxBytesPerRequest = MaxBytesPerRequest
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	store := &ledger.Store{Path: o.StateFile, Noun: "counter state", Log: o.Logger.With("sink", o.Name)}
	st, err := loadState(store)
	var parse *ledger.ParseError
	switch {
	case errors.As(err, &parse):
		return nil, fmt.Errorf("dynatrace sink %s: %w", o.Name, err)
	case err != nil:
		// An unreadable state dir (a read-only or missing volume) must not
		// stop delivery: gauges and exec's increments still go out.
		o.Logger.Warn("cannot read the counter state; keeping it in memory, so cumulative counters send nothing until their second sighting",
			"sink", o.Name, "err", err)
		st = newState()
	}
	labels := prometheus.Labels{"sink": o.Name}
	s := &Sink{
		o:     o,
		cfg:   Config{Prefix: o.Prefix, DefaultDimensions: o.DefaultDimensions, Metadata: o.Metadata},
		log:   o.Logger.With("sink", o.Name),
		now:   time.Now,
		st:    st,
		store: store,
		linesOK: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "metricwrap_dynatrace_lines_ok_total", ConstLabels: labels,
			Help: "Lines Dynatrace accepted.",
		}),
		linesInvalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "metricwrap_dynatrace_lines_invalid_total", ConstLabels: labels,
			Help: "Lines Dynatrace rejected as invalid; each is logged with its reason.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_dynatrace_lines_dropped_total", ConstLabels: labels,
			Help: "Samples (or, for dimension_limit, dimensions) not sent because the protocol cannot carry them, by reason.",
		}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metricwrap_dynatrace_requests_total", ConstLabels: labels,
			Help: "Ingest requests sent, by HTTP status code (0: no response).",
		}, []string{"code"}),
	}
	return s, nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return s.o.Name }

// Destination implements sink.Sink: the ingest URL names the tenant (or the
// OneAgent). The token is not part of it: a rotated token still reaches the
// same tenant.
func (s *Sink) Destination() string { return "dynatrace " + s.o.URL }

// Collectors returns the sink's own metrics, for the server's registry.
func (s *Sink) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.linesOK, s.linesInvalid, s.dropped, s.requests}
}

// Push implements sink.Sink. It returns a sink.Permanent error for a
// rejected token, a request Dynatrace will never accept, and for lines
// rejected as invalid (after delivering all the others: resending would
// duplicate them); 429 (with its Retry-After), 5xx and network errors are
// retryable, and a retry sends only what was not yet accepted,
// with the same counter deltas (see state). That bookkeeping is keyed by
// Batch.ID: a batch without an ID is serialized afresh on every attempt.
func (s *Sink) Push(ctx context.Context, b *batch.Batch) error {
	if b.Empty() {
		return sink.Refused(s.o.Name, errors.New("the batch has no sample"))
	}
	lines, p := s.prepare(b)
	sent, err := s.deliver(ctx, lines, p.Sent)
	return ledger.Settle(s.store, s.st, b.ID, p, sent, err)
}

// prepare serializes b: with its pinned deltas when it was seen before,
// else advancing the counter state and pinning the new deltas.
func (s *Sink) prepare(b *batch.Batch) (*Lines, *pending) {
	s.store.Lock()
	defer s.store.Unlock()
	now := s.now()
	s.st.Expire(now, maxDone)
	cfg := s.cfg
	if _, set := cfg.DefaultDimensions["job"]; b.Job != "" && !set {
		// The job is what tells two jobs' (or exporters') series apart,
		// as the Pushgateway's group does: without it they would be one
		// series, and one job's counter would count as the other's next
		// value. A metric's own job label wins, as over any default.
		cfg.DefaultDimensions = maps.Clone(cfg.DefaultDimensions)
		if cfg.DefaultDimensions == nil {
			cfg.DefaultDimensions = map[string]string{}
		}
		cfg.DefaultDimensions["job"] = b.Job
	}
	if len(b.Increments) > 0 {
		cfg.Increment = b.IsIncrement
	}
	if age := now.Sub(b.Start); !b.Start.IsZero() && age < sendTimestampMaxAge && age > -sendTimestampMaxAhead {
		cfg.Timestamp = b.Start
	}
	if p, ok := s.st.Lookup(b.ID); ok {
		if p.Done {
			s.log.Debug("batch already delivered; not sending it again", "batch", b.ID)
			return &Lines{}, p
		}
		return Serialize(b.Families, cfg, pinned(p.Deltas)), p
	}
	a := &advance{st: s.st, deltas: map[string]float64{}}
	lines := Serialize(b.Families, cfg, a)
	for reason, n := range lines.Dropped {
		s.dropped.WithLabelValues(reason).Add(float64(n))
	}
	p := &pending{Deltas: a.deltas}
	s.st.Pin(b.ID, p, now)
	s.store.Save(s.st)
	return lines, p
}

// deliver sends lines[from:] in requests within the limits and returns how
// many lines (from the start) Dynatrace has answered for.
func (s *Sink) deliver(ctx context.Context, l *Lines, from int) (int, error) {
	var rejected *RejectedError
	i := from
	for i < l.Len() {
		j, size := i, 0
		for j < l.Len() && j-i < s.o.MaxLinesPerRequest {
			n := len(l.Line(j)) + 1
			if j > i && size+n > s.o.MaxBytesPerRequest {
				break
			}
			size += n
			j++
		}
		n, err := s.send(ctx, l, i, j)
		i += n
		var r *RejectedError
		switch {
		case errors.As(err, &r):
			if rejected == nil {
				rejected = &RejectedError{}
			}
			rejected.OK += r.OK
			rejected.Invalid += r.Invalid
		case err != nil:
			return i, err
		}
	}
	if rejected != nil {
		return i, sink.Permanent(rejected)
	}
	return i, nil
}
