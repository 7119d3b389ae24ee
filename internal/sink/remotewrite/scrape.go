package remotewrite

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// StaleNaN is the value Prometheus writes to end a series: a NaN with a
// payload of its own (value.StaleNaN in the Prometheus code), so a query
// stops returning the series at once instead of after the lookback delta.
var StaleNaN = math.Float64frombits(0x7ff0000000000002)

// IsStaleNaN reports whether v is the staleness marker, not just any NaN.
func IsStaleNaN(v float64) bool { return math.Float64bits(v) == 0x7ff0000000000002 }

// Target is what a scheduled run is to remote write: a scrape target, with
// the labels Prometheus would give its samples.
type Target struct {
	// Job and Instance are the job and instance labels of every sample.
	Job, Instance string
	// HonorLabels keeps labels the exporter set that clash with the target
	// labels; without it they are renamed exported_<name>, as Prometheus
	// does by default.
	HonorLabels bool
}

// Run is one scheduled run as Scrapes needs it.
type Run struct {
	// Families are what the run produced; ignored when Failed.
	Families []*dto.MetricFamily
	// Failed makes up 0 and ends every series of the previous run, as a
	// failed scrape does.
	Failed   bool
	Duration time.Duration
}

// Scrapes turns scheduled runs into what a Prometheus scrape of the same
// exporter would have written through remote write (SPEC 4.6): target
// labels on every sample, up, scrape_duration_seconds and
// scrape_samples_scraped, and a staleness marker for each series that the
// previous run of the same source wrote to the same destination and this
// one does not. It remembers, per destination and source, the series last
// written; serve keeps one Scrapes for its whole life, so a reload that
// drops a schedule can end its series (Retire). Safe for concurrent use.
type Scrapes struct {
	mu   sync.Mutex
	last map[scrapeKey]*memo
}

// memo is what one source last wrote to one destination: its series
// (without self-timestamped samples) by key. A series' full labels are
// built only when it vanishes.
type memo struct {
	series map[string]seriesRef
}

type scrapeKey struct{ dest, source string }

// staleSeries is a series remembered for its staleness marker: its full
// name and labels, sorted.
type staleSeries struct {
	name   string
	labels []*dto.LabelPair
}

// NewScrapes returns an empty memory.
func NewScrapes() *Scrapes { return &Scrapes{last: map[scrapeKey]*memo{}} }

// Synthetic series of each run, named as Prometheus names them.
const (
	seriesUp       = "up"
	seriesDuration = "scrape_duration_seconds"
	seriesSamples  = "scrape_samples_scraped"
)

// Families returns what run r of source writes to dest as target t: the
// run's families labelled, the synthetic series, and stale markers (as
// untyped series valued StaleNaN) for the series that vanished since the
// last run of source to dest.
func (s *Scrapes) Families(dest, source string, t Target, r Run) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	samples := 0
	if !r.Failed {
		out = labelled(r.Families, t)
		for _, mf := range out {
			samples += seriesCount(mf)
		}
	}
	up := 1.0
	if r.Failed {
		up = 0
	}
	out = append(out,
		gaugeFamily(seriesUp, "1 if the scheduled run succeeded, 0 if it failed.", t, up),
		gaugeFamily(seriesDuration, "How long the scheduled run took.", t, r.Duration.Seconds()),
		gaugeFamily(seriesSamples, "Samples the scheduled run produced.", t, float64(samples)),
	)
	key := scrapeKey{dest, source}
	s.mu.Lock()
	hint := 0
	if prev := s.last[key]; prev != nil {
		hint = len(prev.series) // a run is usually the size of the last one
	}
	s.mu.Unlock()
	now := &memo{series: make(map[string]seriesRef, hint)}
	var buf []byte
	for _, mf := range out {
		eachSeries(untimed(mf), func(r seriesRef) {
			buf = r.key(buf[:0])
			now.series[string(buf)] = r
		})
	}
	s.mu.Lock()
	prev := s.last[key]
	s.last[key] = now
	s.mu.Unlock()
	var gone []staleSeries
	if prev != nil {
		for k, r := range prev.series {
			if _, ok := now.series[k]; !ok {
				gone = append(gone, staleSeries{r.name, r.labels()})
			}
		}
	}
	return append(out, staleFamilies(gone)...)
}

// Retire forgets every source that keep does not want kept and returns
// the stale markers that end its series, by destination: what serve sends
// when a reload removes a scheduled exporter or one of its sinks.
func (s *Scrapes) Retire(keep func(dest, source string) bool) map[string][]*dto.MetricFamily {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]*dto.MetricFamily{}
	for k, m := range s.last {
		if keep(k.dest, k.source) {
			continue
		}
		delete(s.last, k)
		gone := make([]staleSeries, 0, len(m.series))
		for _, r := range m.series {
			gone = append(gone, staleSeries{r.name, r.labels()})
		}
		out[k.dest] = append(out[k.dest], staleFamilies(gone)...)
	}
	return out
}

// Source names what a scheduled run reads: the exporter and its
// parameters, so a changed schedule_params is a new source.
func Source(exporter string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(exporter)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + params[k])
	}
	return b.String()
}

// labelled copies fams with the target labels on every sample. A label
// the exporter set that clashes with a target label is kept under
// exported_<name> (exported_exported_<name> if that is taken too), or,
// with HonorLabels, kept as it is and the target label left out.
func labelled(fams []*dto.MetricFamily, t Target) []*dto.MetricFamily {
	target := targetLabels(t)
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, mf := range fams {
		c := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit}
		c.Metric = make([]*dto.Metric, len(mf.Metric))
		for i, m := range mf.Metric {
			c.Metric[i] = &dto.Metric{
				Label: withTarget(m.Label, target, t.HonorLabels),
				Gauge: m.Gauge, Counter: m.Counter, Summary: m.Summary, Untyped: m.Untyped,
				Histogram: m.Histogram, TimestampMs: m.TimestampMs,
			}
		}
		out = append(out, c)
	}
	return out
}

func targetLabels(t Target) []*dto.LabelPair {
	var ls []*dto.LabelPair
	if t.Instance != "" {
		ls = append(ls, pair("instance", t.Instance))
	}
	if t.Job != "" {
		ls = append(ls, pair("job", t.Job))
	}
	return ls
}

func withTarget(ls, target []*dto.LabelPair, honor bool) []*dto.LabelPair {
	has := func(set []*dto.LabelPair, name string) bool {
		return slices.ContainsFunc(set, func(l *dto.LabelPair) bool { return l.GetName() == name && l.GetValue() != "" })
	}
	out := make([]*dto.LabelPair, 0, len(ls)+len(target))
	for _, l := range ls {
		if l.GetValue() == "" {
			continue // Prometheus treats an empty label as absent
		}
		name := l.GetName()
		if !honor && has(target, name) {
			for has(ls, name) || has(out, name) {
				name = "exported_" + name
			}
			out = append(out, pair(name, l.GetValue()))
			continue
		}
		out = append(out, l)
	}
	for _, l := range target {
		if !has(out, l.GetName()) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

func gaugeFamily(name, help string, t Target, v float64) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name: &name, Help: &help, Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Label: targetLabels(t), Gauge: &dto.Gauge{Value: &v}}},
	}
}

// staleFamilies writes each series as an untyped sample valued StaleNaN;
// the encoder writes an untyped sample as one series under its own name.
func staleFamilies(gone []staleSeries) []*dto.MetricFamily {
	sort.Slice(gone, func(i, j int) bool { return gone[i].name < gone[j].name })
	var out []*dto.MetricFamily
	for _, ss := range gone {
		if len(out) == 0 || out[len(out)-1].GetName() != ss.name {
			name := ss.name
			out = append(out, &dto.MetricFamily{Name: &name, Type: dto.MetricType_UNTYPED.Enum()})
		}
		v := StaleNaN
		mf := out[len(out)-1]
		mf.Metric = append(mf.Metric, &dto.Metric{Label: ss.labels, Untyped: &dto.Untyped{Value: &v}})
	}
	return out
}

// seriesRef is one series as the encoder writes it (encoder.family): the
// name with its suffix, the metric's labels (without empty values,
// sorted) and, for buckets and quantiles, one more label.
type seriesRef struct {
	name  string
	base  []*dto.LabelPair
	xName string  // "le" or "quantile", or empty
	xNum  float64 // its value
}

// key identifies the series: canonical because base is sorted and the
// extra label has a place of its own.
func (r seriesRef) key(b []byte) []byte {
	b = append(b, r.name...)
	for _, l := range r.base {
		b = append(b, 0xff)
		b = append(b, l.GetName()...)
		b = append(b, 0xfe)
		b = append(b, l.GetValue()...)
	}
	if r.xName != "" {
		b = append(b, 0xfd)
		b = append(b, r.xName...)
		b = append(b, 0xfe)
		b = appendFloat(b, r.xNum)
	}
	return b
}

// labels is the series' full label set, sorted, for its stale marker.
func (r seriesRef) labels() []*dto.LabelPair {
	ls := append(make([]*dto.LabelPair, 0, len(r.base)+1), r.base...)
	if r.xName != "" {
		ls = append(ls, pair(r.xName, string(appendFloat(nil, r.xNum))))
		slices.SortFunc(ls, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	}
	return ls
}

// eachSeries calls f with every series mf writes through remote write.
func eachSeries(mf *dto.MetricFamily, f func(seriesRef)) {
	name := mf.GetName()
	var bucket, sum, count string
	switch mf.GetType() {
	case dto.MetricType_SUMMARY:
		sum, count = name+"_sum", name+"_count"
	case dto.MetricType_HISTOGRAM:
		bucket, sum, count = name+"_bucket", name+"_sum", name+"_count"
	case dto.MetricType_GAUGE_HISTOGRAM:
		bucket, sum, count = name+"_bucket", name+"_gsum", name+"_gcount"
	}
	for _, m := range mf.GetMetric() {
		base := cleanLabels(m.Label)
		switch mf.GetType() {
		case dto.MetricType_SUMMARY:
			for _, q := range m.GetSummary().GetQuantile() {
				f(seriesRef{name, base, "quantile", q.GetQuantile()})
			}
			f(seriesRef{name: sum, base: base})
			f(seriesRef{name: count, base: base})
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			inf := false
			for _, b := range m.GetHistogram().GetBucket() {
				inf = math.IsInf(b.GetUpperBound(), +1)
				f(seriesRef{bucket, base, "le", b.GetUpperBound()})
			}
			if !inf && len(m.GetHistogram().GetBucket()) > 0 {
				f(seriesRef{bucket, base, "le", math.Inf(+1)})
			}
			f(seriesRef{name: sum, base: base})
			f(seriesRef{name: count, base: base})
		default:
			f(seriesRef{name: name, base: base})
		}
	}
}

// cleanLabels is ls sorted and without empty values, copied only when it
// is not so already (labelled's output is).
func cleanLabels(ls []*dto.LabelPair) []*dto.LabelPair {
	clean := true
	for i, l := range ls {
		if l.GetValue() == "" || (i > 0 && ls[i-1].GetName() >= l.GetName()) {
			clean = false
			break
		}
	}
	if clean {
		return ls
	}
	out := make([]*dto.LabelPair, 0, len(ls))
	for _, l := range ls {
		if l.GetValue() != "" {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// untimed is mf without the samples that carry their own timestamp: as
// in Prometheus, those get no staleness marker (it would land before
// their own time, and the receiver would refuse it as out of order).
func untimed(mf *dto.MetricFamily) *dto.MetricFamily {
	if !slices.ContainsFunc(mf.Metric, func(m *dto.Metric) bool { return m.TimestampMs != nil }) {
		return mf
	}
	c := &dto.MetricFamily{Name: mf.Name, Type: mf.Type}
	for _, m := range mf.Metric {
		if m.TimestampMs == nil {
			c.Metric = append(c.Metric, m)
		}
	}
	return c
}

// seriesCount is how many series mf writes (scrape_samples_scraped).
func seriesCount(mf *dto.MetricFamily) int {
	n := 0
	eachSeries(mf, func(seriesRef) { n++ })
	return n
}

func pair(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }
