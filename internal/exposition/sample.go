package exposition

import (
	"math"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// route finds the family and role of a sample called name, starting an
// untyped family when it belongs to none.
func (p *parser) route(name string) (*family, role, error) {
	if f := p.cur; f != nil {
		r, ok, err := p.roleOf(f, name)
		if err != nil || ok {
			return f, r, err
		}
	}
	if !p.om {
		if l, ok := p.grouped[groupedBase(name)]; ok {
			// expfmt files x_sum, x_count and x_bucket under an earlier
			// summary or histogram x wherever they appear.
			return nil, 0, p.errf("%s belongs to the family at line %d; the lines of one family must be together", name, l)
		}
	}
	f, err := p.begin(name)
	return f, roleValue, err
}

// groupedBase is name without the suffix a summary or histogram sample
// has, or "" when it has none.
func groupedBase(name string) string {
	for _, s := range [...]string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, s); ok {
			return b
		}
	}
	return ""
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
		gauge := f.kind == kindGaugeHistogram
		switch suffix {
		case "_bucket":
			return roleBucket, true, nil
		case "_sum":
			return roleSum, !p.om || !gauge, nil
		case "_count":
			return roleCount, !p.om || !gauge, nil
		case "_gsum":
			return roleSum, p.om && gauge, nil
		case "_gcount":
			return roleCount, p.om && gauge, nil
		case "_created":
			return roleCreated, !gauge, nil
		}
	}
	return 0, false, nil
}

// add puts one parsed sample into its family.
func (p *parser) add(sl *sampleLine, v float64, ts *int64, tsSec float64) error {
	name := sl.name
	f, r, err := p.route(name)
	if err != nil {
		return err
	}
	f.samples++
	lbls := p.lbls
	sortLabels(lbls)
	if p.om {
		keep, err := p.omSample(f, r, name, v, ts != nil, tsSec, sl.exemplar)
		if err != nil || !keep {
			return err
		}
	}
	if r == roleCreated {
		if p.om {
			p.addCreated(f, sl, v, ts)
		}
		return nil
	}
	switch f.kind {
	case kindSummary, kindHistogram, kindGaugeHistogram:
		return p.addGrouped(f, r, sl, v, ts)
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
	idx := len(f.mf.Metric) - 1
	if ts != nil {
		p.note(f, idx, slotTime, sl.ts, float64(*ts), kindTime)
	}
	p.note(f, idx, slotValue, sl.value, v, kindFloat)
	val := p.floats.one()
	*val = v
	switch f.mf.GetType() {
	case dto.MetricType_COUNTER:
		c := p.counters.one()
		c.Value = val
		m.Counter = c
		if sl.ex != nil {
			c.Exemplar = sl.ex
			p.noteExemplar(f, idx, slotValue, sl)
		}
		if pc := f.pendingCreated; pc != nil && pc.hash == hashLabels(p.seed, lbls) {
			c.CreatedTimestamp = pc.ts
			p.note(f, idx, slotCreated, pc.text, pc.v, kindSeconds)
		}
		f.pendingCreated = nil
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
func (p *parser) addGrouped(f *family, r role, sl *sampleLine, v float64, ts *int64) error {
	name := sl.name
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
		if bound, err = p.value(sv); err != nil || math.IsNaN(bound) {
			return p.errf("invalid %s value %q on %s", special, clip(sv), name)
		}
	}
	n := len(f.mf.Metric)
	idx := p.group(f, lbls, ts)
	m, g := f.mf.Metric[idx], &f.groups[idx]
	if ts != nil && len(f.mf.Metric) > n {
		p.note(f, idx, slotTime, sl.ts, float64(*ts), kindTime)
	}
	switch r {
	case roleSum:
		if g.sum {
			return p.errf("duplicate series %s", seriesOf(name, lbls))
		}
		g.sum = true
		if name == f.name+"_gsum" {
			g.gsum, g.negGsum = true, v < 0
		}
		p.note(f, idx, slotValue, sl.value, v, kindFloat)
		if m.Summary != nil {
			m.Summary.SampleSum = p.float(v)
		} else {
			m.Histogram.SampleSum = p.float(v)
		}
	case roleCount:
		if g.count {
			return p.errf("duplicate series %s", seriesOf(name, lbls))
		}
		g.count, g.countV = true, v
		p.note(f, idx, slotCount, sl.value, v, kindUint)
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
		k := int32(len(m.Summary.Quantile))
		p.note(f, idx, slotFirst+2*k, sv, bound, kindFloat)
		p.note(f, idx, slotFirst+2*k+1, sl.value, v, kindFloat)
		m.Summary.Quantile = append(m.Summary.Quantile, &dto.Quantile{Quantile: p.float(bound), Value: p.float(v)})
	case roleBucket:
		if p.om && g.buckets > 0 {
			switch {
			case bound <= g.lastLe:
				return p.errf("buckets of %s are not in increasing le order", seriesOf(name, lbls))
			case v < g.lastV:
				return p.errf("bucket le=%q of %s counts %v, less than the bucket before it (%v): buckets are cumulative", sv, seriesOf(name, lbls), v, g.lastV)
			}
		}
		g.buckets++
		g.lastLe, g.lastV = bound, v
		if bound < 0 {
			g.negBucket = true
		}
		if math.IsInf(bound, 1) {
			g.inf = true
		}
		k := int32(len(m.Histogram.Bucket))
		p.note(f, idx, slotFirst+2*k, sv, bound, kindFloat)
		p.note(f, idx, slotFirst+2*k+1, sl.value, v, kindUint)
		b := &dto.Bucket{UpperBound: p.float(bound), Exemplar: sl.ex}
		if sl.ex != nil {
			p.noteExemplar(f, idx, slotFirst+2*k+1, sl)
		}
		b.CumulativeCount, b.CumulativeCountFloat = p.counts(v)
		m.Histogram.Bucket = append(m.Histogram.Bucket, b)
	}
	return nil
}

// group returns the index of the metric holding lbls, creating it.
func (p *parser) group(f *family, lbls []label, ts *int64) int {
	ms := f.mf.Metric
	switch n := len(ms); {
	case p.om:
		// A group's samples are together in OpenMetrics, and a group that
		// repeats with another timestamp is another metric.
		if f.runMetric >= 0 {
			return int(f.runMetric)
		}
		f.runMetric = int32(n)
	case n > 0 && sameLabels(lbls, ms[n-1].Label):
		return n - 1
	default:
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
			f.index[h] = int32(n)
		}
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

// pendingCreated is a counter's _created sample that came before its
// _total, waiting for it.
type pendingCreated struct {
	hash uint64
	ts   *timestamppb.Timestamp
	text string
	v    float64
}

// addCreated keeps an OpenMetrics _created sample as the created timestamp
// of its series, which OpenMetrics out writes again. A counter's _created
// without a _total of the same labels next to it is dropped.
func (p *parser) addCreated(f *family, sl *sampleLine, v float64, ts *int64) {
	if math.IsNaN(v) || math.Abs(v) >= 1<<53 {
		return // no instant; checked, and not worth keeping
	}
	created := timestampOf(int64(v*1000), v)
	switch f.kind {
	case kindCounter:
		ms := f.mf.Metric
		if n := len(ms); n > 0 && ms[n-1].Counter != nil && ms[n-1].Counter.CreatedTimestamp == nil && sameLabels(p.lbls, ms[n-1].Label) {
			ms[n-1].Counter.CreatedTimestamp = created
			p.note(f, n-1, slotCreated, sl.value, v, kindSeconds)
			return
		}
		f.pendingCreated = &pendingCreated{hashLabels(p.seed, p.lbls), created, sl.value, v}
	case kindSummary, kindHistogram:
		n := len(f.mf.Metric)
		idx := p.group(f, p.lbls, ts)
		if ts != nil && len(f.mf.Metric) > n {
			p.note(f, idx, slotTime, sl.ts, float64(*ts), kindTime)
		}
		m := f.mf.Metric[idx]
		if m.Summary != nil {
			m.Summary.CreatedTimestamp = created
		} else {
			m.Histogram.CreatedTimestamp = created
		}
		p.note(f, idx, slotCreated, sl.value, v, kindSeconds)
	}
}

// noteExemplar records the spellings of the exemplar on the sample in
// value slot vslot.
func (p *parser) noteExemplar(f *family, idx int, vslot int32, sl *sampleLine) {
	p.note(f, idx, slotExemplar+vslot, sl.exValue, sl.ex.GetValue(), kindFloat)
	if sl.exTs != "" {
		p.note(f, idx, slotExemplarTime+vslot, sl.exTs, seconds(sl.ex.Timestamp), kindSeconds)
	}
}
