// Package pushgateway delivers runs to a Prometheus Pushgateway (SPEC 4.1)
// with the client_golang push library: PUT replaces the whole group, POST
// replaces only the metrics of the same name, grouping values with a '/' go
// in the @base64 form, and samples are pushed without timestamps because
// the Pushgateway refuses them.
package pushgateway

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// Push methods; see Options.Method.
const (
	MethodPut  = "put"
	MethodPost = "post"
)

// Options configure a Sink. Only Name and URL are required.
type Options struct {
	// Name is the sink's name; it keys metrics, logs and the spool.
	Name string
	// URL is the Pushgateway's base URL, such as http://pushgateway:9091
	// or, as the original tool's --pushgateway-address took it, just
	// host:port (then http:// is assumed). A path prefix is kept; user
	// information in the URL is used for basic auth and never logged.
	URL string
	// Job is the job name in the grouping key; empty takes each batch's Job.
	Job string
	// Grouping adds label pairs to the grouping key.
	Grouping map[string]string
	// Method is MethodPut (replace the whole group) or MethodPost (replace
	// only the pushed metric names, so that a failed job keeps the last
	// success timestamp); empty takes each batch's PushMethod, PUT when
	// that is empty too.
	Method string
	// Username and Password enable basic auth.
	Username string
	Password string
	// TLS configures the connection to an https URL when Client is nil.
	TLS *tls.Config
	// Timeout bounds one push; 0 leaves it to ctx and Client.
	Timeout time.Duration
	// Client sends the requests; nil means a client of its own (with TLS).
	Client *http.Client
}

// Sink pushes batches to a Pushgateway. Push is safe for concurrent use:
// every call builds its own push.Pusher.
type Sink struct {
	o      Options
	url    string // with scheme, without user information
	method string // "" takes each batch's PushMethod
	client *http.Client
}

var _ sink.Sink = (*Sink)(nil)

// New checks o; it contacts nothing.
func New(o Options) (*Sink, error) {
	if o.Name == "" {
		return nil, errors.New("pushgateway sink: name is empty")
	}
	u, err := parseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("pushgateway sink %s: %w", o.Name, err)
	}
	if u.User != nil {
		if o.Username == "" {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
		u.User = nil
	}
	s := &Sink{o: o, url: u.String(), client: o.Client}
	switch strings.ToLower(o.Method) {
	case "", MethodPut, MethodPost:
		s.method = strings.ToLower(o.Method)
	default:
		return nil, fmt.Errorf("pushgateway sink %s: method %q is neither put nor post", o.Name, o.Method)
	}
	if err := checkGrouping(s.url, o.Grouping); err != nil {
		return nil, fmt.Errorf("pushgateway sink %s: %w", o.Name, err)
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.TLS
		s.client = &http.Client{Transport: tr}
	} else if o.TLS != nil {
		return nil, fmt.Errorf("pushgateway sink %s: set TLS or Client, not both", o.Name)
	}
	return s, nil
}

// parseURL accepts a URL or a bare host:port. Its errors never repeat the
// URL, which may hold a password.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is empty")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("url is not valid; want http(s)://host:port[/prefix] or host:port")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url scheme %q is not http or https", u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("url must not have a query or fragment")
	}
	return u, nil
}

// checkGrouping validates the grouping label names the way the push
// library will, so that a bad config fails at start and not at every push.
func checkGrouping(base string, grouping map[string]string) error {
	p := push.New(base, "check")
	for name, value := range grouping {
		if name == "job" {
			return errors.New(`grouping must not contain "job"; set job instead`)
		}
		p.Grouping(name, value)
	}
	return p.Error()
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return s.o.Name }

// Destination implements sink.Sink: the gateway's URL (without user
// information), the configured job (empty: each batch's own) and the
// grouping, which together select the group the sink writes.
func (s *Sink) Destination() string {
	keys := make([]string, 0, len(s.o.Grouping))
	for k := range s.o.Grouping {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "pushgateway %s job=%q", s.url, s.o.Job)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, s.o.Grouping[k])
	}
	return b.String()
}

// Push implements sink.Sink. It refuses before sending what the gateway
// must not get: an empty batch (a PUT of it would erase the group), a batch
// without a job name, a metric carrying the job or a grouping label.
// Timestamps are removed, as the gateway refuses them. The gateway's answer
// is classified by sink.Answer (a 400 for HELP or TYPE that conflicts with
// what the group holds is permanent; 5xx is not).
func (s *Sink) Push(ctx context.Context, b *batch.Batch) error {
	if b.Empty() {
		return sink.Refused(s.o.Name, errors.New("the batch has no sample, and pushing it would erase the group"))
	}
	job := s.o.Job
	if job == "" {
		job = b.Job
	}
	if job == "" {
		return sink.Refused(s.o.Name, errors.New("the batch has no job name; set job"))
	}
	if s.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
	}
	fams := withoutTimestamps(b.Families)
	doer := &statusDoer{c: s.client}
	p := push.New(s.url, job).
		Gatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return fams, nil })).
		Client(doer)
	for name, value := range s.o.Grouping {
		if strings.Contains(value, " ") {
			// The library query-escapes a space as '+', which the
			// Pushgateway keeps as a '+' (client_python#1064); the @base64
			// form carries any value intact.
			p.Grouping(name+"@base64", base64.RawURLEncoding.EncodeToString([]byte(value)))
			continue
		}
		p.Grouping(name, value)
	}
	if err := s.checkLabels(fams); err != nil {
		return sink.Refused(s.o.Name, err)
	}
	if s.o.Username != "" || s.o.Password != "" {
		p.BasicAuth(s.o.Username, s.o.Password)
	}
	var err error
	if s.methodFor(b) == MethodPut {
		err = p.PushContext(ctx)
	} else {
		err = p.AddContext(ctx)
	}
	if err == nil {
		return nil
	}
	if !doer.sent {
		// The library refused the families before sending anything.
		return sink.Refused(s.o.Name, err)
	}
	if doer.status == 0 {
		return fmt.Errorf("pushgateway sink %s: %w", s.o.Name, err)
	}
	answer := sink.Answer(s.o.Name, doer.status, doer.header, nil)
	if answer == nil {
		return fmt.Errorf("pushgateway sink %s: %w", s.o.Name, err)
	}
	// The library's error carries the gateway's body.
	return fmt.Errorf("pushgateway sink %s: %w: %w", s.o.Name, answer, err)
}

// checkLabels refuses metrics that carry a grouping label, which the
// gateway would overwrite; the library checks this too, but not for the
// labels sent in the @base64 form.
func (s *Sink) checkLabels(fams []*dto.MetricFamily) error {
	for _, mf := range fams {
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if _, ok := s.o.Grouping[l.GetName()]; ok {
					return fmt.Errorf("metric %s has grouping label %s; remove it from grouping or from the metric",
						mf.GetName(), l.GetName())
				}
			}
		}
	}
	return nil
}

// statusDoer remembers whether a request went out and the status of its
// answer, which the push library only puts into an error string. Each
// Push uses its own, for a single request.
type statusDoer struct {
	c      *http.Client
	sent   bool
	status int
	header http.Header
}

func (d *statusDoer) Do(req *http.Request) (*http.Response, error) {
	d.sent = true
	resp, err := d.c.Do(req)
	if resp != nil {
		d.status, d.header = resp.StatusCode, resp.Header
	}
	return resp, err
}

// withoutTimestamps returns fams with every sample's timestamp removed,
// copying only what it changes: the batch is shared with other sinks.
func withoutTimestamps(fams []*dto.MetricFamily) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for i, mf := range fams {
		if !hasTimestamp(mf) {
			if out != nil {
				out = append(out, mf)
			}
			continue
		}
		if out == nil {
			out = append(make([]*dto.MetricFamily, 0, len(fams)), fams[:i]...)
		}
		ms := make([]*dto.Metric, len(mf.Metric))
		for j, m := range mf.Metric {
			ms[j] = &dto.Metric{
				Label:     m.Label,
				Gauge:     m.Gauge,
				Counter:   m.Counter,
				Summary:   m.Summary,
				Untyped:   m.Untyped,
				Histogram: m.Histogram,
			}
		}
		out = append(out, &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit, Metric: ms})
	}
	if out == nil {
		return fams
	}
	return out
}

func hasTimestamp(mf *dto.MetricFamily) bool {
	for _, m := range mf.Metric {
		if m.TimestampMs != nil {
			return true
		}
	}
	return false
}

// methodFor is the sink's configured method, else the batch's, else PUT.
func (s *Sink) methodFor(b *batch.Batch) string {
	m := s.method
	if m == "" {
		m = strings.ToLower(b.PushMethod)
	}
	if m == MethodPost {
		return MethodPost
	}
	return MethodPut
}
