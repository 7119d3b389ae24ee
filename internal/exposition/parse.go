package exposition

import (
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
)

// kind is a family's type as declared in the document; several kinds map
// to one dto type.
type kind uint8

const (
	kindUntyped kind = iota
	kindCounter
	kindGauge
	kindSummary
	kindHistogram
	kindGaugeHistogram
	kindInfo
	kindStateset
)

var textKinds = map[string]kind{
	"counter": kindCounter, "gauge": kindGauge, "summary": kindSummary,
	"histogram": kindHistogram, "untyped": kindUntyped,
}

var omKinds = map[string]kind{
	"counter": kindCounter, "gauge": kindGauge, "summary": kindSummary,
	"histogram": kindHistogram, "gaugehistogram": kindGaugeHistogram,
	"info": kindInfo, "stateset": kindStateset, "unknown": kindUntyped,
}

var dtoTypes = [...]dto.MetricType{
	kindUntyped:        dto.MetricType_UNTYPED,
	kindCounter:        dto.MetricType_COUNTER,
	kindGauge:          dto.MetricType_GAUGE,
	kindSummary:        dto.MetricType_SUMMARY,
	kindHistogram:      dto.MetricType_HISTOGRAM,
	kindGaugeHistogram: dto.MetricType_GAUGE_HISTOGRAM,
	kindInfo:           dto.MetricType_GAUGE,
	kindStateset:       dto.MetricType_GAUGE,
}

var kindNames = [...]string{"untyped", "counter", "gauge", "summary", "histogram", "gaugehistogram", "info", "stateset"}

// role is what a sample line contributes to its family.
type role uint8

const (
	roleValue role = iota // the value of a counter, gauge, untyped, info or stateset, or a summary quantile
	roleBucket
	roleSum
	roleCount
	roleCreated
)

// label is one name="value" pair of the sample being parsed.
type label struct{ name, value string }

// family is the family being parsed.
type family struct {
	mf     *dto.MetricFamily
	name   string // as in its HELP/TYPE lines, or of its first sample
	kind   kind
	line   int
	typed  bool
	helped bool
	unit   bool
	total  int8 // counters: 1 when samples are named name, 2 when name_total
	lines  []int32
	groups []group
	index  map[uint64]int32
}

// group is what a histogram or summary series has seen so far.
type group struct{ sum, count, inf bool }

type parser struct {
	src   string
	om    bool
	line  int
	fams  []*dto.MetricFamily
	lines [][]int32 // per family, the first line of each metric
	first []int     // per family, its first line
	seen  map[string]int
	cur   *family
	lbls  []label
	seed  maphash.Seed

	// interned holds one LabelPair per distinct name and value: exporters
	// repeat the same pairs over and over, and a pair costs more than the
	// bytes that spell it.
	interned map[label]*dto.LabelPair
	names    map[string]*string

	metrics  slab[dto.Metric]
	ptrs     slab[*dto.LabelPair]
	strs     slab[string]
	floats   slab[float64]
	gauges   slab[dto.Gauge]
	counters slab[dto.Counter]
	untypeds slab[dto.Untyped]
}

// Parse reads a whole document and validates it. Families come back in
// document order with label pairs sorted by name. Errors are *ParseError
// carrying the line to fix; nothing is returned unless everything is valid.
//
// The families keep no reference to data. Metrics of one Parse share
// their *dto.LabelPair values (one per distinct pair, which keeps a large
// document's families small): treat pairs as read-only, replace rather
// than write through them (AddLabels does so).
func Parse(data []byte, f Format) ([]*dto.MetricFamily, error) {
	p := &parser{
		om:       f == FormatOpenMetrics,
		seen:     map[string]int{},
		seed:     maphash.MakeSeed(),
		interned: map[label]*dto.LabelPair{},
		names:    map[string]*string{},
	}
	// src is a view of data, not a copy: every string that ends up in a
	// family is cloned (str, pair), the rest is only looked at.
	if len(data) > 0 {
		p.src = unsafe.String(&data[0], len(data))
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	if is := validate(p.fams, p.seed); is != nil {
		line := 0
		switch {
		case is.metric >= 0:
			line = int(p.lines[is.family][is.metric])
		case is.family >= 0:
			line = p.first[is.family]
		}
		return nil, &ParseError{Line: line, Msg: is.msg}
	}
	return p.fams, nil
}

func (p *parser) errf(format string, args ...any) error {
	return &ParseError{Line: p.line, Msg: sprintf(format, args...)}
}

func (p *parser) run() error {
	rest := p.src
	eof := false
	for len(rest) > 0 {
		p.line++
		ln := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			ln, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if eof {
			return p.errf("nothing may follow # EOF")
		}
		var err error
		if p.om {
			switch {
			case ln == "":
				return p.errf("empty line (OpenMetrics allows none)")
			case ln == "# EOF":
				eof = true
				continue
			case ln[0] == '#':
				err = p.omComment(ln)
			default:
				err = p.sample(ln)
			}
		} else {
			ln = strings.TrimLeft(ln, " \t")
			switch {
			case ln == "":
				continue
			case ln[0] == '#':
				err = p.textComment(ln)
			default:
				err = p.sample(ln)
			}
		}
		if err != nil {
			return err
		}
	}
	if p.om && !eof {
		return p.errf("missing # EOF at the end of the OpenMetrics document")
	}
	return p.closeFamily()
}

// textComment handles "# HELP", "# TYPE" and ignores any other comment.
func (p *parser) textComment(ln string) error {
	s := trimBlank(ln[1:])
	kw, s := cutBlank(s)
	if kw != "HELP" && kw != "TYPE" {
		return nil
	}
	name, s := cutBlank(trimBlank(s))
	s = trimBlank(s)
	if kw == "HELP" {
		return p.help(name, s)
	}
	return p.typ(name, strings.ToLower(strings.TrimRight(s, " \t")), textKinds)
}

// omComment handles the only comments OpenMetrics has.
func (p *parser) omComment(ln string) error {
	kw := ""
	for _, k := range [...]string{"# HELP ", "# TYPE ", "# UNIT "} {
		if strings.HasPrefix(ln, k) {
			kw = k[2:6]
		}
	}
	if kw == "" {
		return p.errf("unexpected comment %q (OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF)", clip(ln))
	}
	name, s, _ := strings.Cut(ln[7:], " ")
	switch kw {
	case "HELP":
		return p.help(name, s)
	case "TYPE":
		return p.typ(name, s, omKinds)
	}
	f, err := p.meta(name, "UNIT")
	if err != nil {
		return err
	}
	if f.unit {
		return p.errf("second UNIT line for %q", name)
	}
	f.unit = true
	if s != "" {
		f.mf.Unit = p.str(s)
	}
	return nil
}

func (p *parser) help(name, text string) error {
	f, err := p.meta(name, "HELP")
	if err != nil {
		return err
	}
	if f.helped {
		return p.errf("second HELP line for %q", name)
	}
	f.helped = true
	f.mf.Help = p.str(unescapeHelp(text))
	return nil
}

func (p *parser) typ(name, typ string, kinds map[string]kind) error {
	f, err := p.meta(name, "TYPE")
	if err != nil {
		return err
	}
	if f.typed {
		return p.errf("second TYPE line for %q", name)
	}
	k, ok := kinds[typ]
	if !ok {
		return p.errf("unknown type %q for %q in the %s format", typ, name, formatName(p.om))
	}
	f.typed, f.kind = true, k
	f.mf.Type = dtoTypes[k].Enum()
	if k == kindInfo {
		f.mf.Name = p.str(name + "_info")
	}
	return nil
}

// meta returns the family a HELP, TYPE or UNIT line describes, starting it
// when the line is its first.
func (p *parser) meta(name, kw string) (*family, error) {
	if name == "" {
		return nil, p.errf("%s line without a metric name", kw)
	}
	if !validMetricName(name) {
		return nil, p.errf("%s", badMetricName(name))
	}
	if f := p.cur; f != nil && f.name == name {
		if len(f.mf.Metric) > 0 {
			return nil, p.errf("%s line for %q after its samples", kw, name)
		}
		return f, nil
	}
	return p.begin(name)
}

// begin closes the current family and starts the one called name.
func (p *parser) begin(name string) (*family, error) {
	if err := p.closeFamily(); err != nil {
		return nil, err
	}
	if l, ok := p.seen[name]; ok {
		return nil, p.errf("%q already appeared at line %d; the lines of one family must be together", name, l)
	}
	name = strings.Clone(name)
	p.seen[name] = p.line
	p.cur = &family{
		mf:   &dto.MetricFamily{Name: &name, Type: dto.MetricType_UNTYPED.Enum()},
		name: name,
		line: p.line,
	}
	return p.cur, nil
}

// closeFamily finishes the current family: a family with no samples (a
// Python client metric with labels but no children) is dropped.
func (p *parser) closeFamily() error {
	f := p.cur
	p.cur = nil
	if f == nil || len(f.mf.Metric) == 0 {
		return nil
	}
	if f.kind == kindHistogram || f.kind == kindGaugeHistogram {
		for i, m := range f.mf.Metric {
			h := m.Histogram
			if !f.groups[i].inf {
				p.line = int(f.lines[i])
				return p.errf("histogram %s has no le=\"+Inf\" bucket", seriesName(f.mf.GetName(), m))
			}
			slices.SortStableFunc(h.Bucket, func(a, b *dto.Bucket) int {
				return cmpFloat(a.GetUpperBound(), b.GetUpperBound())
			})
			if !f.groups[i].count {
				inf := h.Bucket[len(h.Bucket)-1]
				h.SampleCount, h.SampleCountFloat = inf.CumulativeCount, inf.CumulativeCountFloat
			}
		}
	}
	if n := f.mf.GetName(); n != f.name {
		if l, ok := p.seen[n]; ok && l != f.line {
			p.line = f.line
			return p.errf("%q already appeared at line %d; the lines of one family must be together", n, l)
		}
		p.seen[n] = f.line
	}
	p.fams = append(p.fams, f.mf)
	p.lines = append(p.lines, f.lines)
	p.first = append(p.first, f.line)
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sample parses one sample line and adds it to its family.
func (p *parser) sample(ln string) error {
	i := scanMetricName(ln)
	name := ln[:i]
	if i == 0 || i == len(ln) || (ln[i] != ' ' && ln[i] != '\t' && ln[i] != '{') {
		if i == 0 && ln[0] == '{' {
			return p.errf("quoted (UTF-8) metric names are not supported")
		}
		end := strings.IndexAny(ln, " \t{")
		if end < 0 {
			if i == len(ln) && i > 0 {
				return p.errf("sample %q has no value", clip(ln))
			}
			end = len(ln)
		}
		return p.errf("%s", badMetricName(ln[:end]))
	}
	p.lbls = p.lbls[:0]
	s := ln[i:]
	if s[0] == '{' {
		var err error
		if p.lbls, s, err = p.labels(s, p.lbls); err != nil {
			return err
		}
	}
	if s == "" || (s[0] != ' ' && s[0] != '\t') {
		if s == "" {
			return p.errf("sample %s has no value", name)
		}
		return p.errf("expected a blank after the labels of %s, found %q", name, clip(s))
	}
	vs, s := cutBlank(trimBlank(s))
	if vs == "" {
		return p.errf("sample %s has no value", name)
	}
	v, err := parseFloat(vs)
	if err != nil {
		return p.errf("invalid value %q for %s", clip(vs), name)
	}
	var ts *int64
	s = trimBlank(s)
	if s != "" && s[0] != '#' {
		var tss string
		tss, s = cutBlank(s)
		t, err := p.timestamp(tss)
		if err != nil {
			return err
		}
		ts = &t
		s = trimBlank(s)
	}
	if s != "" {
		if err := p.exemplar(s, name); err != nil {
			return err
		}
	}
	return p.add(name, v, ts)
}

func (p *parser) timestamp(s string) (int64, error) {
	if !p.om {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, p.errf("invalid timestamp %q (text format wants integer milliseconds)", clip(s))
		}
		return t, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 9e15 {
		return 0, p.errf("invalid timestamp %q (OpenMetrics wants seconds)", clip(s))
	}
	return int64(math.Round(f * 1000)), nil
}

// exemplar checks an OpenMetrics exemplar, which is then ignored: text
// 0.0.4 has no place for it.
func (p *parser) exemplar(s, name string) error {
	if !p.om {
		return p.errf("unexpected %q after the value of %s", clip(s), name)
	}
	if !strings.HasPrefix(s, "# {") {
		return p.errf("unexpected %q after the value of %s", clip(s), name)
	}
	lbls, rest, err := p.labels(s[2:], nil)
	if err != nil {
		return err
	}
	n := 0
	for _, l := range lbls {
		n += len(l.name) + len(l.value)
	}
	if n > 128 {
		return p.errf("exemplar labels of %s are longer than 128 characters", name)
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || len(fields) > 2 || rest[0] != ' ' {
		return p.errf("invalid exemplar on %s: want # {labels} value [timestamp]", name)
	}
	if _, err := parseFloat(fields[0]); err != nil {
		return p.errf("invalid exemplar value %q on %s", clip(fields[0]), name)
	}
	if len(fields) == 2 {
		if _, err := p.timestamp(fields[1]); err != nil {
			return err
		}
	}
	return nil
}

// labels parses "{a="b",...}" at the start of s into dst and returns what
// follows the closing brace.
func (p *parser) labels(s string, dst []label) ([]label, string, error) {
	s = s[1:]
	for {
		s = trimBlank(s)
		if s == "" {
			return nil, "", p.errf("unclosed label set")
		}
		if s[0] == '}' {
			return dst, s[1:], nil
		}
		if s[0] == '"' {
			return nil, "", p.errf("quoted (UTF-8) label names are not supported")
		}
		i := scanLabelName(s)
		if i == 0 || i < len(s) && strings.IndexByte(" \t=,}", s[i]) < 0 {
			end := strings.IndexAny(s, " \t=,}")
			if end <= 0 {
				end = len(s)
			}
			return nil, "", p.errf("%s", badLabelName(s[:end]))
		}
		name := s[:i]
		s = trimBlank(s[i:])
		if s == "" || s[0] != '=' {
			return nil, "", p.errf("expected = after label name %q", name)
		}
		s = trimBlank(s[1:])
		if s == "" || s[0] != '"' {
			return nil, "", p.errf("expected a quoted value for label %q", name)
		}
		value, rest, err := unquote(s[1:])
		if err != nil {
			return nil, "", p.errf("label %q: %v", name, err)
		}
		for _, l := range dst {
			if l.name == name {
				return nil, "", p.errf("duplicate label name %q", name)
			}
		}
		dst = append(dst, label{name, value})
		s = trimBlank(rest)
		switch {
		case s == "":
			return nil, "", p.errf("unclosed label set")
		case s[0] == ',':
			s = s[1:]
		case s[0] != '}':
			return nil, "", p.errf("expected , or } after the value of label %q", name)
		}
	}
}

// route finds the family and role of a sample called name, starting an
// untyped family when it belongs to none.
func (p *parser) route(name string) (*family, role, error) {
	if f := p.cur; f != nil {
		r, ok, err := p.roleOf(f, name)
		if err != nil || ok {
			return f, r, err
		}
		if f.typed && f.kind != kindUntyped && strings.HasPrefix(name, f.name+"_") {
			return nil, 0, p.errf("sample %s does not belong to %s %s", name, kindNames[f.kind], f.name)
		}
	}
	f, err := p.begin(name)
	return f, roleValue, err
}

func (p *parser) roleOf(f *family, name string) (role, bool, error) {
	suffix, ok := strings.CutPrefix(name, f.name)
	if !ok {
		return 0, false, nil
	}
	switch f.kind {
	case kindUntyped, kindGauge, kindStateset:
		return roleValue, suffix == "", nil
	case kindInfo:
		return roleValue, suffix == "_info", nil
	case kindCounter:
		var form int8
		switch suffix {
		case "":
			form = 1
		case "_total":
			form = 2
		case "_created":
			return roleCreated, true, nil
		default:
			return 0, false, nil
		}
		if p.om && form == 1 {
			return 0, false, p.errf("counter sample %s must be named %s_total in OpenMetrics", name, name)
		}
		if f.total != 0 && f.total != form {
			return 0, false, p.errf("counter %s mixes samples named %s and %s_total", f.name, f.name, f.name)
		}
		if f.total == 0 {
			f.total = form
			if form == 2 {
				f.mf.Name = p.str(name)
			}
		}
		return roleValue, true, nil
	case kindSummary:
		switch suffix {
		case "":
			return roleValue, true, nil
		case "_sum":
			return roleSum, true, nil
		case "_count":
			return roleCount, true, nil
		case "_created":
			return roleCreated, true, nil
		}
	case kindHistogram, kindGaugeHistogram:
		switch suffix {
		case "_bucket":
			return roleBucket, true, nil
		case "_sum", "_gsum":
			return roleSum, true, nil
		case "_count", "_gcount":
			return roleCount, true, nil
		case "_created":
			return roleCreated, f.kind == kindHistogram, nil
		}
	}
	return 0, false, nil
}

// add puts one parsed sample into its family.
func (p *parser) add(name string, v float64, ts *int64) error {
	f, r, err := p.route(name)
	if err != nil {
		return err
	}
	if r == roleCreated {
		return nil
	}
	lbls := p.lbls
	sortLabels(lbls)
	switch f.kind {
	case kindSummary, kindHistogram, kindGaugeHistogram:
		return p.addGrouped(f, r, name, v, ts)
	case kindStateset:
		if !hasLabel(lbls, f.name) {
			return p.errf("stateset sample %s needs a label named %s", name, f.name)
		}
		if v != 0 && v != 1 {
			return p.errf("stateset sample %s must be 0 or 1, not %v", name, v)
		}
	case kindInfo:
		if v != 1 {
			return p.errf("info sample %s must be 1, not %v", name, v)
		}
	}
	m := p.newMetric(f, lbls, ts)
	val := p.floats.one()
	*val = v
	switch f.mf.GetType() {
	case dto.MetricType_COUNTER:
		c := p.counters.one()
		c.Value = val
		m.Counter = c
	case dto.MetricType_GAUGE:
		g := p.gauges.one()
		g.Value = val
		m.Gauge = g
	default:
		u := p.untypeds.one()
		u.Value = val
		m.Untyped = u
	}
	return nil
}

// addGrouped adds a sample of a summary or histogram to the series it
// shares labels with (le and quantile aside).
func (p *parser) addGrouped(f *family, r role, name string, v float64, ts *int64) error {
	special := "quantile"
	if f.kind != kindSummary {
		special = "le"
	}
	lbls := p.lbls
	sv, has := "", false
	for i, l := range lbls {
		if l.name == special {
			sv, has = l.value, true
			lbls = append(lbls[:i:i], lbls[i+1:]...)
			break
		}
	}
	wantSpecial := r == roleValue || r == roleBucket
	if has != wantSpecial {
		if has {
			return p.errf("label %q is not allowed on %s", special, name)
		}
		return p.errf("%s needs a %q label", name, special)
	}
	var bound float64
	if has {
		var err error
		if bound, err = parseFloat(sv); err != nil || math.IsNaN(bound) {
			return p.errf("invalid %s value %q on %s", special, clip(sv), name)
		}
	}
	idx := p.group(f, lbls, ts)
	m, g := f.mf.Metric[idx], &f.groups[idx]
	switch r {
	case roleSum:
		if g.sum {
			return p.errf("duplicate series %s", seriesOf(name, lbls))
		}
		g.sum = true
		if m.Summary != nil {
			m.Summary.SampleSum = p.float(v)
		} else {
			m.Histogram.SampleSum = p.float(v)
		}
	case roleCount:
		if g.count {
			return p.errf("duplicate series %s", seriesOf(name, lbls))
		}
		g.count = true
		if m.Summary != nil {
			c, err := p.count(name, v)
			if err != nil {
				return err
			}
			m.Summary.SampleCount = &c
		} else {
			m.Histogram.SampleCount, m.Histogram.SampleCountFloat = p.counts(v)
		}
	case roleValue:
		m.Summary.Quantile = append(m.Summary.Quantile, &dto.Quantile{Quantile: p.float(bound), Value: p.float(v)})
	case roleBucket:
		if math.IsInf(bound, 1) {
			g.inf = true
		}
		b := &dto.Bucket{UpperBound: p.float(bound)}
		b.CumulativeCount, b.CumulativeCountFloat = p.counts(v)
		m.Histogram.Bucket = append(m.Histogram.Bucket, b)
	}
	return nil
}

// group returns the index of the metric holding lbls, creating it.
func (p *parser) group(f *family, lbls []label, ts *int64) int {
	ms := f.mf.Metric
	if n := len(ms); n > 0 && sameLabels(lbls, ms[n-1].Label) {
		return n - 1
	}
	h := hashLabels(p.seed, lbls)
	if f.index == nil {
		f.index = map[uint64]int32{}
	}
	if i, ok := f.index[h]; ok {
		if sameLabels(lbls, ms[i].Label) {
			return int(i)
		}
		for j, m := range ms { // a hash collision: look at every series
			if sameLabels(lbls, m.Label) {
				return j
			}
		}
	} else {
		f.index[h] = int32(len(ms))
	}
	m := p.newMetric(f, lbls, ts)
	if f.kind == kindSummary {
		m.Summary = &dto.Summary{}
	} else {
		m.Histogram = &dto.Histogram{}
	}
	f.groups = append(f.groups, group{})
	return len(f.mf.Metric) - 1
}

func (p *parser) newMetric(f *family, lbls []label, ts *int64) *dto.Metric {
	m := p.metrics.one()
	if len(lbls) > 0 {
		ptrs := p.ptrs.many(len(lbls))
		for i, l := range lbls {
			ptrs[i] = p.pair(l)
		}
		m.Label = ptrs
	}
	if ts != nil {
		t := *ts
		m.TimestampMs = &t
	}
	f.mf.Metric = append(f.mf.Metric, m)
	f.lines = append(f.lines, int32(p.line))
	return m
}

// pair returns the shared LabelPair for l, with its strings cloned out of
// the document.
func (p *parser) pair(l label) *dto.LabelPair {
	if lp, ok := p.interned[l]; ok {
		return lp
	}
	name, ok := p.names[l.name]
	if !ok {
		name = p.str(l.name)
		p.names[*name] = name
	}
	lp := &dto.LabelPair{Name: name, Value: p.str(l.value)}
	p.interned[label{*name, *lp.Value}] = lp
	return lp
}

// str clones s out of the document.
func (p *parser) str(s string) *string {
	v := p.strs.one()
	*v = strings.Clone(s)
	return v
}

func (p *parser) float(f float64) *float64 {
	v := p.floats.one()
	*v = f
	return v
}

// count converts a summary count, which dto keeps as an integer.
func (p *parser) count(name string, v float64) (uint64, error) {
	if v < 0 || v != math.Trunc(v) || v >= 1<<63 {
		return 0, p.errf("%s must be a whole number of at least 0, not %v", name, v)
	}
	return uint64(v), nil
}

// counts stores a histogram count as an integer when it is one, else as
// a float (negative counts are left for Validate to report).
func (p *parser) counts(v float64) (*uint64, *float64) {
	if v >= 0 && v == math.Trunc(v) && v < 1<<63 {
		u := uint64(v)
		return &u, nil
	}
	return nil, p.float(v)
}
