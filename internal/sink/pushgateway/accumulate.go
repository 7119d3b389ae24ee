package pushgateway

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exposition"
)

// Counters across runs. Each exec is a process of its own, and a POST to a
// Pushgateway replaces every metric of the same name in the group, so a
// counter pushed as "1" by every run would never count past 1, and a run
// that failed would replace job_runs_total{status="Succeeded"} with its own
// {status="Failed"}. Argo keeps its counters in the controller; exec keeps
// them in the Pushgateway: before pushing, it reads what the group holds
// (Gateway.Previous, the reader of the sink's group, kept with the sink)
// and adds it (Accumulate). This is best effort: two runs of the same job
// that finish at the same moment may both read N and push N+1, and a push
// that was spooled and replayed later carries the values of its own time.

// maxGatewayBytes bounds what is read from a Pushgateway's /metrics.
const maxGatewayBytes = 64 << 20

// Gateway is the Pushgateway group a job's counters continue from.
type Gateway struct {
	// URL is the Pushgateway's base URL (or host:port).
	URL string
	// Job and Grouping name the group, as the push does.
	Job      string
	Grouping map[string]string
	// Username and Password are for basic auth, when set.
	Username, Password string
	// Client sends the request; nil means http.DefaultClient.
	Client *http.Client
}

// GatewayFor finds the Pushgateway among the sinks a job is delivered to:
// the first of names that is a pushgateway sink of cfg, or the env-only
// "pushgateway" sink (at addr, else $PUSHGATEWAY_URL). It returns nil when
// there is none.
func GatewayFor(cfg *config.Config, names []string, job, addr string, getenv func(string) string) *Gateway {
	for _, n := range names {
		if sc, ok := cfg.Sinks[n]; ok {
			if sc.Type != config.SinkPushgateway {
				continue
			}
			g := &Gateway{URL: sc.URL, Job: sc.Job, Grouping: sc.Grouping}
			if g.Job == "" {
				g.Job = job
			}
			if ba := sc.BasicAuth; ba != nil && ba.PasswordFile == "" {
				g.Username, g.Password = ba.Username, string(ba.Password)
			}
			return g
		}
		if n == "pushgateway" {
			if addr == "" {
				addr = getenv("PUSHGATEWAY_URL")
			}
			return &Gateway{URL: addr, Job: job}
		}
	}
	return nil
}

// Previous returns the metric families the gateway holds for the group, with
// the grouping labels (job, instance and Grouping) taken off, so they
// compare with the families about to be pushed.
func (g *Gateway) Previous(ctx context.Context) ([]*dto.MetricFamily, error) {
	base := strings.TrimRight(g.URL, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("pushgateway read: %w", err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if g.Username != "" || g.Password != "" {
		req.SetBasicAuth(g.Username, g.Password)
	}
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pushgateway read: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pushgateway read: %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxGatewayBytes))
	if err != nil {
		return nil, fmt.Errorf("pushgateway read: %w", err)
	}
	fams, err := exposition.Parse(data, exposition.Detect(data))
	if err != nil {
		return nil, fmt.Errorf("pushgateway read: %w", err)
	}
	return g.group(fams), nil
}

// group keeps the series of g's group and removes its grouping labels.
func (g *Gateway) group(fams []*dto.MetricFamily) []*dto.MetricFamily {
	want := map[string]string{"job": g.Job}
	for k, v := range g.Grouping {
		want[k] = v
	}
	var out []*dto.MetricFamily
	for _, mf := range fams {
		var kept []*dto.Metric
		for _, m := range mf.GetMetric() {
			matched, other := 0, false
			var rest []*dto.LabelPair
			for _, p := range m.GetLabel() {
				w, grouping := want[p.GetName()]
				switch {
				case grouping && w == p.GetValue():
					matched++
				case grouping:
					other = true
				case p.GetName() == "instance" && p.GetValue() == "":
					// The Pushgateway adds an empty instance to groups
					// without one.
				default:
					rest = append(rest, p)
				}
			}
			if other || matched != len(want) {
				continue
			}
			m.Label = rest // the families are this read's own
			kept = append(kept, m)
		}
		if len(kept) > 0 {
			mf.Metric = kept
			out = append(out, mf)
		}
	}
	return out
}

// Accumulate continues the counters and histograms of fams from prev (what
// a Pushgateway holds from earlier runs): a series present in both gets the
// sum, a series only in prev is carried over unchanged, so that pushing
// the family does not erase it. Families of other types, and histograms
// whose buckets changed, start afresh.
func Accumulate(fams, prev []*dto.MetricFamily) {
	byName := make(map[string]*dto.MetricFamily, len(prev))
	for _, mf := range prev {
		byName[mf.GetName()] = mf
	}
	for _, mf := range fams {
		t := mf.GetType()
		old, ok := byName[mf.GetName()]
		if !ok || old.GetType() != t || (t != dto.MetricType_COUNTER && t != dto.MetricType_HISTOGRAM) {
			continue
		}
		index := make(map[string]*dto.Metric, len(mf.Metric))
		for _, m := range mf.Metric {
			index[signature(m.GetLabel())] = m
		}
		for _, om := range old.GetMetric() {
			m, ok := index[signature(om.GetLabel())]
			switch {
			case !ok:
				mf.Metric = append(mf.Metric, om)
			case t == dto.MetricType_COUNTER:
				m.Counter = &dto.Counter{Value: ptr(m.GetCounter().GetValue() + om.GetCounter().GetValue())}
			default:
				if h, ok := addHistograms(m.GetHistogram(), om.GetHistogram()); ok {
					m.Histogram = h
				}
			}
		}
	}
}

// addHistograms sums two histograms with the same bucket bounds.
func addHistograms(a, b *dto.Histogram) (*dto.Histogram, bool) {
	ab, bb := nonInf(a.GetBucket()), nonInf(b.GetBucket())
	if len(ab) != len(bb) {
		return nil, false
	}
	h := &dto.Histogram{
		SampleCount: ptr(a.GetSampleCount() + b.GetSampleCount()),
		SampleSum:   ptr(a.GetSampleSum() + b.GetSampleSum()),
	}
	for i := range ab {
		if ab[i].GetUpperBound() != bb[i].GetUpperBound() {
			return nil, false
		}
		h.Bucket = append(h.Bucket, &dto.Bucket{
			UpperBound:      ptr(ab[i].GetUpperBound()),
			CumulativeCount: ptr(ab[i].GetCumulativeCount() + bb[i].GetCumulativeCount()),
		})
	}
	return h, true
}

// nonInf drops the +Inf bucket, which a parsed histogram has and a built
// one leaves implicit.
func nonInf(bs []*dto.Bucket) []*dto.Bucket {
	if n := len(bs); n > 0 && math.IsInf(bs[n-1].GetUpperBound(), +1) {
		return bs[:n-1]
	}
	return bs
}

// signature identifies a series by its labels, sorted by name.
func signature(ps []*dto.LabelPair) string {
	c := make([]*dto.LabelPair, len(ps))
	copy(c, ps)
	sortPairs(c)
	var b strings.Builder
	for _, p := range c {
		b.WriteString(p.GetName())
		b.WriteByte(0xff)
		b.WriteString(p.GetValue())
		b.WriteByte(0xff)
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

func sortPairs(ps []*dto.LabelPair) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].GetName() < ps[j].GetName() })
}
