package exposition

import (
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

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
				return p.errf("sample %s has no value", clip(ln))
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
			lbls = slices.Delete(lbls, i, i+1) // in place: p.lbls is scratch
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
