package dynatrace

import (
	"math"
	"sort"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Reasons a sample or line is not sent; they label
// metricwrap_dynatrace_lines_dropped_total.
const (
	DropNonFinite   = "non_finite_value"
	DropNegative    = "negative_counter"
	DropBadKey      = "invalid_key"
	DropLineTooLong = "line_too_long"
	DropDimLimit    = "dimension_limit" // dimensions cut, the line is still sent
	DropUnsupported = "unsupported_type"
)

// Config is what Serialize needs besides the families.
type Config struct {
	// Prefix is joined to every metric name with a '.'.
	Prefix string
	// DefaultDimensions are added to every line; a metric's own label of
	// the same (normalized) key wins.
	DefaultDimensions map[string]string
	// Metadata adds one "#key gauge dt.meta.description=...,dt.meta.unit=..."
	// line before the first data line of each key.
	Metadata bool
	// Timestamp, when not zero, is appended to every line in milliseconds.
	// Per-sample timestamps are ignored: a run is one point in time.
	Timestamp time.Time
	// Increment, when set, names the counter families whose values are
	// already the run's increase (batch.Batch.Increments): they go out as
	// count,delta=V at once, without Counters and without a first sighting.
	Increment func(family string) bool
}

// Counters decides what a counter sample sends. Prometheus counters are
// cumulative and Dynatrace ingests only deltas, so the sink owns the state:
// Delta gets the series (the line's "key,dims" part; copy it to keep it) and
// its cumulative value and returns the delta to send, or ok=false to send
// nothing (the first sighting of a series).
type Counters interface {
	Delta(series []byte, value float64) (delta float64, ok bool)
}

// Lines is what Serialize produced: lines kept in one buffer (a run of
// 100,000 series must not cost 100,000 allocations) and the count of what
// was dropped, by reason.
type Lines struct {
	buf     []byte
	ends    []int
	Dropped map[string]int
}

// Len is the number of lines.
func (l *Lines) Len() int { return len(l.ends) }

// Line returns line i without its newline; it aliases the buffer.
func (l *Lines) Line(i int) []byte {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.buf[start:l.ends[i]]
}

// Bytes returns all lines, each ended by '\n'.
func (l *Lines) Bytes() []byte {
	out := make([]byte, 0, len(l.buf)+len(l.ends))
	for i := range l.ends {
		out = append(append(out, l.Line(i)...), '\n')
	}
	return out
}

func (l *Lines) drop(reason string) {
	if l.Dropped == nil {
		l.Dropped = map[string]int{}
	}
	l.Dropped[reason]++
}

// dim is a normalized dimension key and its escaped value.
type dim struct {
	key string
	val []byte
}

// serializer holds the per-call scratch space.
type serializer struct {
	cfg      Config
	counters Counters
	out      *Lines
	defaults []dim
	dims     []dim
	scratch  []byte
	qbuf     []byte // the quantile dimension's value, reused per line
	ts       []byte
}

// Serialize turns metric families into protocol lines:
//   - gauge and untyped: "key,dims gauge,V";
//   - counter: "key,dims count,delta=D" with D from counters (nothing on the
//     first sighting of a series);
//   - histogram: "key,dims gauge,min=A,max=B,sum=S,count=N", skipped when
//     N is 0. Dynatrace has no buckets, so min and max are estimated: min is
//     the lower bound of the first non-empty bucket (its upper bound when it
//     is the first bucket), max the upper bound of the last non-empty bucket
//     (the highest finite bound when that is the +Inf bucket), both clamped
//     to the mean so that min <= S/N <= max, as the protocol demands;
//   - summary: the same gauge line from _sum and _count, with min and max
//     the lowest and highest quantile values clamped to the mean, plus one
//     "key.quantile,dims,quantile=Q gauge,V" line per quantile;
//   - info and enum-style families arrive as gauges and stay gauges.
//
// NaN and ±Inf values cannot be carried and are dropped and counted.
// Dimensions are the metric's labels, then the default dimensions, after
// normalization and de-duplication (first wins), cut to MaxDims and sorted
// by key, so the same input always gives the same bytes.
func Serialize(families []*dto.MetricFamily, cfg Config, counters Counters) *Lines {
	s := &serializer{cfg: cfg, counters: counters, out: &Lines{}}
	lines, size := estimate(families, cfg)
	s.out.buf = make([]byte, 0, size)
	s.out.ends = make([]int, 0, lines)
	keys := make([]string, 0, len(cfg.DefaultDimensions))
	for k := range cfg.DefaultDimensions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		nk := NormalizeDimKey(k)
		v, ok := appendDimValue(nil, cfg.DefaultDimensions[k])
		if nk == "" || !ok || s.hasDim(s.defaults, nk) {
			continue
		}
		s.defaults = append(s.defaults, dim{nk, v})
	}
	if !cfg.Timestamp.IsZero() {
		s.ts = strconv.AppendInt([]byte{' '}, cfg.Timestamp.UnixMilli(), 10)
	}
	for _, f := range families {
		s.family(f)
	}
	return s.out
}

// estimate guesses the number of lines and bytes from each family's first
// metric, so that the buffer rarely grows (growing copies megabytes).
func estimate(families []*dto.MetricFamily, cfg Config) (lines, size int) {
	fixed := len(cfg.Prefix) + 48 + timestampWidth
	for k, v := range cfg.DefaultDimensions {
		fixed += len(k) + len(v) + 2
	}
	for _, f := range families {
		if len(f.Metric) == 0 {
			continue
		}
		m := f.Metric[0]
		per := fixed + len(f.GetName())
		for _, lp := range m.GetLabel() {
			per += len(lp.GetName()) + len(lp.GetValue()) + 4
		}
		n := 1 + len(m.GetSummary().GetQuantile())
		lines += n * len(f.Metric)
		size += n * len(f.Metric) * per
	}
	return lines, size + size/8
}

func (s *serializer) hasDim(dims []dim, key string) bool {
	for _, d := range dims {
		if d.key == key {
			return true
		}
	}
	return false
}

// key is a family's metric key and whether its metadata line is written.
type key struct {
	name, typ string
	meta      bool
}

func (s *serializer) family(f *dto.MetricFamily) {
	name := f.GetName()
	if s.cfg.Prefix != "" {
		name = s.cfg.Prefix + "." + name
	}
	base := key{name: NormalizeKey(name), typ: "gauge"}
	if base.name == "" {
		for range f.Metric {
			s.out.drop(DropBadKey)
		}
		return
	}
	switch f.GetType() {
	case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
		for _, m := range f.Metric {
			v := m.GetGauge().GetValue()
			if m.Untyped != nil {
				v = m.GetUntyped().GetValue()
			}
			s.gauge(f, &base, m, v)
		}
	case dto.MetricType_COUNTER:
		base.typ = "count"
		for _, m := range f.Metric {
			s.counter(f, &base, m)
		}
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		for _, m := range f.Metric {
			h := m.GetHistogram()
			count := float64(h.GetSampleCount())
			if count == 0 {
				count = math.Round(h.GetSampleCountFloat())
			}
			lo, hi := histogramRange(h, count)
			s.summaryLine(f, &base, m, count, h.GetSampleSum(), lo, hi)
		}
	case dto.MetricType_SUMMARY:
		q := key{name: NormalizeKey(base.name + ".quantile"), typ: "gauge"}
		for _, m := range f.Metric {
			sm := m.GetSummary()
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, qv := range sm.GetQuantile() {
				v := qv.GetValue()
				if math.IsNaN(v) || math.IsInf(v, 0) {
					s.out.drop(DropNonFinite)
					continue
				}
				lo, hi = math.Min(lo, v), math.Max(hi, v)
				s.qbuf = strconv.AppendFloat(s.qbuf[:0], qv.GetQuantile(), 'g', -1, 64)
				qd := dim{key: "quantile", val: s.qbuf}
				s.gaugeDims(f, &q, m, v, &qd)
			}
			s.summaryLine(f, &base, m, float64(sm.GetSampleCount()), sm.GetSampleSum(), lo, hi)
		}
	default:
		for range f.Metric {
			s.out.drop(DropUnsupported)
		}
	}
}

func (s *serializer) gauge(f *dto.MetricFamily, k *key, m *dto.Metric, v float64) {
	s.gaugeDims(f, k, m, v, nil)
}

func (s *serializer) gaugeDims(f *dto.MetricFamily, k *key, m *dto.Metric, v float64, extra *dim) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		s.out.drop(DropNonFinite)
		return
	}
	start := s.begin(f, k, m, extra)
	s.finish(start, appendFloat(append(s.out.buf, " gauge,"...), v))
}

func (s *serializer) counter(f *dto.MetricFamily, k *key, m *dto.Metric) {
	v := m.GetCounter().GetValue()
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		s.out.drop(DropNonFinite)
		return
	case v < 0:
		s.out.drop(DropNegative)
		return
	}
	// The metadata line waits until the key really sends something: the
	// first sighting of every series sends nothing.
	metaDone := k.meta
	k.meta = true
	start := s.begin(f, k, m, nil)
	k.meta = metaDone
	var delta float64
	ok := false
	switch {
	case s.cfg.Increment != nil && s.cfg.Increment(f.GetName()):
		delta, ok = v, v > 0
	case s.counters != nil:
		delta, ok = s.counters.Delta(s.out.buf[start:], v) // the series: "key,dims"
	}
	if !ok || delta < 0 || math.IsNaN(delta) || math.IsInf(delta, 0) {
		s.out.buf = s.out.buf[:start]
		return
	}
	if s.cfg.Metadata && !k.meta {
		line := append([]byte(nil), s.out.buf[start:]...)
		s.out.buf = s.out.buf[:start]
		k.meta = true
		s.metadata(f, k)
		start = len(s.out.buf)
		s.out.buf = append(s.out.buf, line...)
	}
	s.finish(start, appendFloat(append(s.out.buf, " count,delta="...), delta))
}

// summaryLine writes "gauge,min,max,sum,count" for a histogram or a
// summary; lo and hi are the estimates, clamped here to the mean.
func (s *serializer) summaryLine(f *dto.MetricFamily, k *key, m *dto.Metric, count, sum, lo, hi float64) {
	if count < 1 {
		return // nothing observed yet: the protocol needs count >= 1
	}
	if math.IsNaN(sum) || math.IsInf(sum, 0) {
		s.out.drop(DropNonFinite)
		return
	}
	mean := sum / count
	if math.IsNaN(lo) || math.IsInf(lo, 0) || lo > mean {
		lo = mean
	}
	if math.IsNaN(hi) || math.IsInf(hi, 0) || hi < mean {
		hi = mean
	}
	start := s.begin(f, k, m, nil)
	b := append(s.out.buf, " gauge,min="...)
	b = append(appendFloat(b, lo), ",max="...)
	b = append(appendFloat(b, hi), ",sum="...)
	b = append(appendFloat(b, sum), ",count="...)
	s.finish(start, appendFloat(b, count))
}

// histogramRange estimates a histogram's min and max from its buckets (see
// Serialize); ±Inf means "no estimate", which summaryLine replaces by the
// mean.
func histogramRange(h *dto.Histogram, count float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	first, last := -1, -1
	prev := 0.0
	buckets := h.GetBucket()
	for i, b := range buckets {
		cum := float64(b.GetCumulativeCount())
		if cum == 0 {
			cum = b.GetCumulativeCountFloat()
		}
		if cum > prev {
			if first < 0 {
				first = i
			}
			last = i
		}
		prev = cum
	}
	implicitInf := len(buckets) == 0 || !math.IsInf(buckets[len(buckets)-1].GetUpperBound(), 1)
	if count > prev && implicitInf {
		if first < 0 {
			first = len(buckets)
		}
		last = len(buckets)
	}
	bound := func(i int) float64 {
		if i < 0 || i >= len(buckets) {
			return math.Inf(1)
		}
		return buckets[i].GetUpperBound()
	}
	if first >= 0 {
		lo = bound(first - 1)
		if first == 0 {
			lo = bound(0)
		}
		hi = bound(last)
		if math.IsInf(hi, 1) {
			hi = bound(last - 1)
		}
	}
	return lo, hi
}

// begin writes the metadata line if due, then "key,dims" of a new line, and
// returns where the line starts.
func (s *serializer) begin(f *dto.MetricFamily, k *key, m *dto.Metric, extra *dim) int {
	if s.cfg.Metadata && !k.meta {
		k.meta = true
		s.metadata(f, k)
	}
	start := len(s.out.buf)
	s.out.buf = append(s.out.buf, k.name...)
	s.collectDims(m, extra)
	for _, d := range s.dims {
		s.out.buf = append(append(append(append(s.out.buf, ','), d.key...), '='), d.val...)
	}
	return start
}

// finish ends the line begun at start, unless it is too long.
func (s *serializer) finish(start int, b []byte) {
	s.out.buf = b
	if lineChars(b[start:])+timestampWidth > MaxLineLen {
		s.out.buf = b[:start]
		s.out.drop(DropLineTooLong)
		return
	}
	s.out.buf = append(s.out.buf, s.ts...)
	s.out.ends = append(s.out.ends, len(s.out.buf))
}

func (s *serializer) metadata(f *dto.MetricFamily, k *key) {
	start := len(s.out.buf)
	b := append(append(append(append(s.out.buf, '#'), k.name...), ' '), k.typ...)
	sep := byte(' ')
	if v, ok := appendDimValue(nil, f.GetHelp()); ok {
		b = append(append(b, sep), "dt.meta.description="...)
		b = append(b, v...)
		sep = ','
	}
	if u := unitFor(f.GetName()); u != "" && k.typ != "" {
		b = append(append(append(b, sep), "dt.meta.unit="...), u...)
		sep = ','
	}
	if sep == ' ' { // nothing to say
		s.out.buf = b[:start]
		return
	}
	s.out.buf = b
	s.out.ends = append(s.out.ends, len(b))
}

// collectDims fills s.dims: extra, the metric's labels, then the defaults;
// normalized, de-duplicated, capped and sorted.
func (s *serializer) collectDims(m *dto.Metric, extra *dim) {
	s.dims = s.dims[:0]
	s.scratch = s.scratch[:0]
	capped := false
	add := func(d dim) {
		if s.hasDim(s.dims, d.key) {
			return
		}
		if len(s.dims) == MaxDims {
			capped = true
			return
		}
		s.dims = append(s.dims, d)
	}
	if extra != nil {
		add(*extra)
	}
	for _, lp := range m.GetLabel() {
		k := NormalizeDimKey(lp.GetName())
		if k == "" {
			continue
		}
		start := len(s.scratch)
		var ok bool
		s.scratch, ok = appendDimValue(s.scratch, lp.GetValue())
		if !ok {
			continue
		}
		add(dim{k, s.scratch[start:len(s.scratch):len(s.scratch)]})
	}
	for _, d := range s.defaults {
		add(d)
	}
	if capped {
		s.out.drop(DropDimLimit)
	}
	for i := 1; i < len(s.dims); i++ {
		for j := i; j > 0 && s.dims[j].key < s.dims[j-1].key; j-- {
			s.dims[j], s.dims[j-1] = s.dims[j-1], s.dims[j]
		}
	}
}
