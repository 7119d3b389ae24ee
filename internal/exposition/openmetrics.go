package exposition

// The rules OpenMetrics adds to what both formats share: its strict line
// grammar, exemplars, series groups, and the checks on a family and a
// histogram as a whole. The parser calls them when p.om is set.

import (
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// omSuffixes are the sample names each OpenMetrics type claims, besides
// the family's own name.
var omSuffixes = [...][]string{
	kindCounter:        {"_total", "_created"},
	kindSummary:        {"_count", "_sum", "_created"},
	kindHistogram:      {"_count", "_sum", "_bucket", "_created"},
	kindGaugeHistogram: {"_gcount", "_gsum", "_bucket"},
	kindInfo:           {"_info"},
	kindUntyped:        nil,
	kindGauge:          nil,
	kindStateset:       nil,
}

// omClose checks what OpenMetrics asks of a whole family, samples or not:
// its UNIT, and that no two families can produce the same sample name.
func (p *parser) omClose(f *family) error {
	line := p.line
	defer func() { p.line = line }()
	p.line = f.line
	if u := f.unitName; u != "" {
		if f.kind == kindInfo || f.kind == kindStateset {
			return p.errf("%s %s cannot have a UNIT", kindNames[f.kind], f.name)
		}
		if !strings.HasSuffix(f.name, "_"+u) {
			return p.errf("the name of %s must end in its unit, _%s", f.name, u)
		}
	}
	for i, s := range append([]string{""}, omSuffixes[f.kind]...) {
		n := f.name + s
		if l, ok := p.claimed[n]; ok {
			if i == 0 {
				return p.errf("%q already appeared at line %d; the lines of one family must be together", n, l)
			}
			return p.errf("%s %s would use the sample name %s, which the family at line %d has", kindNames[f.kind], f.name, n, l)
		}
		p.claimed[n] = f.line
	}
	return nil
}

// omHistogram checks one OpenMetrics histogram series as a whole.
func omHistogram(g *group, k kind) string {
	sum, count := "_sum", "_count"
	if k == kindGaugeHistogram {
		sum, count = "_gsum", "_gcount"
	}
	switch {
	case g.count && g.countV != g.lastV:
		return fmt.Sprintf("%s %v differs from the le=\"+Inf\" bucket %v", count, g.countV, g.lastV)
	case g.sum && !g.count:
		return fmt.Sprintf("has %s but no %s", sum, count)
	case g.count && !g.sum:
		return fmt.Sprintf("has %s but no %s", count, sum)
	case k == kindHistogram && g.negBucket && g.sum:
		return "has negative buckets and a _sum (only a gaugehistogram's _gsum may go with negative buckets)"
	case g.negGsum && !g.negBucket:
		return "has a negative _gsum but no negative bucket"
	}
	return ""
}

// omSample applies the OpenMetrics rules that concern one sample and its
// neighbours: values that counters, buckets and quantiles may take, where
// exemplars may go, and how repeated series follow each other. It reports
// whether the sample is kept: an exact repeat (same series, same
// timestamp) is dropped.
func (p *parser) omSample(f *family, r role, name string, v float64, hasTs bool, ts float64, exemplar bool) (bool, error) {
	counterLike := r == roleSum || r == roleCount || r == roleBucket || (f.kind == kindCounter && r == roleValue)
	switch {
	case counterLike && math.IsNaN(v):
		return false, p.errf("%s cannot be NaN", name)
	case counterLike && v < 0 && !(r == roleSum && f.kind == kindGaugeHistogram):
		return false, p.errf("%s cannot be negative, not %v", name, v)
	case (r == roleBucket || r == roleCount) && f.kind != kindSummary && v != math.Trunc(v):
		return false, p.errf("%s must be a whole number, not %v", name, v)
	case r == roleCount && f.kind == kindSummary && (v != math.Trunc(v) || math.IsInf(v, 0)):
		return false, p.errf("%s must be a whole number, not %v", name, v)
	case r == roleValue && f.kind == kindSummary && v < 0:
		return false, p.errf("quantile value of %s cannot be negative, not %v", name, v)
	case exemplar && !(r == roleBucket || f.kind == kindCounter && r == roleValue):
		return false, p.errf("exemplar on %s: only counters' _total and histograms' _bucket samples may have one", name)
	}
	special := ""
	switch {
	case r == roleBucket:
		special = "le"
	case r == roleValue && f.kind == kindSummary:
		special = "quantile"
	case f.kind == kindStateset:
		special = f.name
	}
	for _, l := range p.lbls {
		if l.name == special && special != f.name {
			if err := p.omBound(special, l.value, name); err != nil {
				return false, err
			}
		}
	}
	var g uint64
	if f.kind != kindInfo {
		g = p.groupHash(special)
	}
	if f.hasPrev && g != f.prev {
		if _, seen := f.seenGroups[g]; seen {
			return false, p.errf("%s comes back to a series group it left: the samples of one group must be together", seriesOf(name, p.lbls))
		}
	}
	if f.hasPrev && g == f.prev {
		if hasTs != f.prevHasTs {
			return false, p.errf("%s: a group's samples must all have a timestamp or all have none", seriesOf(name, p.lbls))
		}
		if hasTs && ts < f.prevTs && f.kind != kindInfo {
			return false, p.errf("%s: timestamps go backwards within the group", seriesOf(name, p.lbls))
		}
	} else {
		f.run = f.run[:0]
	}
	if !(f.hasPrev && g == f.prev && hasTs == f.prevHasTs && ts == f.prevTs) {
		f.runMetric = -1
	}
	series := hashLabels(p.seed, p.lbls) ^ hashString(p.seed, name)
	repeat := f.hasPrev && hasTs == f.prevHasTs && ts == f.prevTs && slices.Contains(f.run, series)
	f.run = append(f.run, series)
	if f.seenGroups == nil {
		f.seenGroups = map[uint64]struct{}{}
	}
	f.seenGroups[g] = struct{}{}
	f.prev, f.prevTs, f.prevHasTs, f.hasPrev = g, ts, hasTs, true
	return !repeat, nil
}

// omBound checks an le or quantile label in OpenMetrics, where +Inf has
// one spelling.
func (p *parser) omBound(special, s, name string) error {
	b, err := p.value(s)
	switch {
	case err != nil || math.IsNaN(b):
		return p.errf("invalid %s value %q on %s", special, clip(s), name)
	case math.IsInf(b, 1) && s != "+Inf":
		return p.errf("invalid %s value %q on %s: OpenMetrics spells it +Inf", special, clip(s), name)
	case special == "quantile" && !(b >= 0 && b <= 1):
		return p.errf("quantile %v of %s is outside 0..1", b, name)
	}
	return nil
}

// groupHash hashes the sample's labels (sorted), leaving out the one named
// special.
func (p *parser) groupHash(special string) uint64 {
	var h maphash.Hash
	h.SetSeed(p.seed)
	for _, l := range p.lbls {
		if l.name == special {
			continue
		}
		h.WriteString(l.name)
		h.WriteByte(0xff)
		h.WriteString(l.value)
		h.WriteByte(0xff)
	}
	return h.Sum64()
}

func hashString(seed maphash.Seed, s string) uint64 { return maphash.String(seed, s) }

// omLine splits an OpenMetrics sample line, whose grammar has exactly one
// space between tokens and none anywhere else:
// name[{labels}] value [timestamp] [# {labels} value [timestamp]].
func (p *parser) omLine(ln string, sl *sampleLine) error {
	name, s, err := p.head(ln)
	if err != nil {
		return err
	}
	sl.name = name
	if s == "" {
		return p.errf("sample %s has no value", clip(name))
	}
	if s[0] != ' ' {
		return p.errf("expected one space after %s, found %q", clip(name), clip(s))
	}
	var more bool
	sl.value, s, more = strings.Cut(s[1:], " ")
	if sl.value == "" {
		return p.errf("expected the value of %s after one space (OpenMetrics allows no other blanks)", clip(name))
	}
	if !more {
		return nil
	}
	if s == "" {
		return p.errf("trailing space after the value of %s (OpenMetrics allows none)", clip(name))
	}
	if s[0] != '#' {
		sl.ts, s, more = strings.Cut(s, " ")
		if !more {
			return nil
		}
		if s == "" {
			return p.errf("trailing space after the timestamp of %s (OpenMetrics allows none)", clip(name))
		}
	}
	if !strings.HasPrefix(s, "# {") {
		return p.errf("unexpected %q after the value of %s", clip(s), clip(name))
	}
	sl.exemplar = true
	return p.exemplar(s[2:], name, sl)
}

// exemplar reads an OpenMetrics exemplar ({labels} value [timestamp]) into
// sl, to be kept on the counter or bucket it follows: OpenMetrics out
// writes it again, text has no place for it.
func (p *parser) exemplar(s, name string, sl *sampleLine) error {
	lbls, _, rest, err := p.labels(s, nil, false)
	if err != nil {
		return err
	}
	n := 0
	for _, l := range lbls {
		n += utf8.RuneCountInString(l.name) + utf8.RuneCountInString(l.value)
	}
	if n > 128 {
		return p.errf("exemplar labels of %s are longer than 128 characters", clip(name))
	}
	if rest == "" || rest[0] != ' ' {
		return p.errf("invalid exemplar on %s: want # {labels} value [timestamp]", clip(name))
	}
	vs, ts, more := strings.Cut(rest[1:], " ")
	v, err := p.value(vs)
	if err != nil {
		return p.errf("invalid exemplar value %q on %s", clip(vs), clip(name))
	}
	ex := &dto.Exemplar{Value: p.float(v)}
	for _, l := range lbls {
		ex.Label = append(ex.Label, &dto.LabelPair{Name: p.str(l.name), Value: p.str(l.value)})
	}
	sl.exValue = vs
	if more {
		ms, sec, err := p.timestamp(ts)
		if err != nil {
			return err
		}
		ex.Timestamp = timestampOf(ms, sec)
		sl.exTs = ts
	}
	sl.ex = ex
	return nil
}

// timestampOf turns a parsed OpenMetrics timestamp into a protobuf one,
// to the nanosecond the seconds allow.
func timestampOf(ms int64, sec float64) *timestamppb.Timestamp {
	whole := math.Floor(sec)
	if math.Abs(sec) < 1<<62 {
		return &timestamppb.Timestamp{Seconds: int64(whole), Nanos: int32(math.Round((sec - whole) * 1e9))}
	}
	return &timestamppb.Timestamp{Seconds: ms / 1000}
}
