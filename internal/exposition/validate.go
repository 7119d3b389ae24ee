package exposition

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
)

// issue is a validation failure; Parse turns family and metric (-1 when
// not known) into a line number.
type issue struct {
	family, metric int
	msg            string
}

// Validate checks families that did not come from Parse (a built-in
// exporter's registry, a template) by the same rules, so that whatever
// metricwrap serves or pushes is something Prometheus and the Pushgateway
// accept. The error is a *ParseError without a line.
//
// One difference from Parse: dto histograms may leave the +Inf bucket
// implicit (client_golang does), while a document must write it.
func Validate(fams []*dto.MetricFamily) error {
	if is := validate(fams, maphash.MakeSeed(), true, false); is != nil {
		return &ParseError{Msg: is.msg}
	}
	return nil
}

// validate checks fams; dups says whether to look for repeated series
// (same labels, same timestamp), and parsed that the families come from
// Parse, which checked every label already (names, duplicates, values,
// le and quantile), line by line.
func validate(fams []*dto.MetricFamily, seed maphash.Seed, dups, parsed bool) *issue {
	byName := make(map[string]int, len(fams))
	sampleNames := make(map[string]int, 2*len(fams))
	var keys []keyed
	for fi, mf := range fams {
		fail := func(format string, args ...any) *issue {
			return &issue{family: fi, metric: -1, msg: fmt.Sprintf(format, args...)}
		}
		if mf == nil {
			return fail("family %d is nil", fi)
		}
		name := mf.GetName()
		if !validName(name) {
			return fail("%s", badMetricName(name))
		}
		if j, ok := byName[name]; ok {
			other := fams[j]
			switch {
			case other.GetType() != mf.GetType():
				return fail("family %q appears twice, with conflicting types %s and %s", name, typeName(other.GetType()), typeName(mf.GetType()))
			case other.GetHelp() != mf.GetHelp():
				return fail("family %q appears twice, with conflicting HELP", name)
			}
			return fail("family %q appears twice", name)
		}
		byName[name] = fi
		if !utf8.ValidString(mf.GetHelp()) {
			return fail("HELP of %q is not valid UTF-8", name)
		}
		if len(mf.Metric) == 0 {
			return fail("family %q has no samples", name)
		}
		var suffixes []string
		switch mf.GetType() {
		case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
			suffixes = []string{""}
		case dto.MetricType_SUMMARY:
			suffixes = []string{"", "_sum", "_count"}
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			suffixes = []string{"_bucket", "_sum", "_count"}
		default:
			return fail("family %q has unsupported type %s", name, mf.GetType())
		}
		for _, s := range suffixes {
			if j, ok := sampleNames[name+s]; ok {
				return fail("series name %s of %s %q clashes with %s %q", name+s,
					typeName(mf.GetType()), name, typeName(fams[j].GetType()), fams[j].GetName())
			}
			sampleNames[name+s] = fi
		}
		if is := validateMetrics(mf, seed, &keys, dups, parsed); is != nil {
			is.family = fi
			return is
		}
	}
	return nil
}

func typeName(t dto.MetricType) string {
	if t == dto.MetricType_GAUGE_HISTOGRAM {
		return "gaugehistogram"
	}
	return strings.ToLower(t.String())
}

// keyed is a metric's label-set hash, for finding duplicate series by
// sorting instead of a map per family.
type keyed struct {
	hash  uint64
	index int32
}

func validateMetrics(mf *dto.MetricFamily, seed maphash.Seed, keys *[]keyed, dups, parsed bool) *issue {
	var scratch []label
	ks := (*keys)[:0]
	for mi, m := range mf.Metric {
		if m == nil {
			return &issue{metric: mi, msg: fmt.Sprintf("metric %d of %q is nil", mi, mf.GetName())}
		}
		if msg := checkMetric(mf, m, parsed); msg != "" {
			return &issue{metric: mi, msg: msg}
		}
		if !dups {
			continue
		}
		scratch = scratch[:0]
		for _, p := range m.Label {
			scratch = append(scratch, label{p.GetName(), p.GetValue()})
		}
		sortLabels(scratch)
		h := hashLabels(seed, scratch)
		if m.TimestampMs != nil {
			h ^= uint64(m.GetTimestampMs())*0x9e3779b97f4a7c15 + 1
		}
		ks = append(ks, keyed{h, int32(mi)})
	}
	*keys = ks
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.hash != b.hash {
			return cmp.Compare(a.hash, b.hash)
		}
		return cmp.Compare(a.index, b.index)
	})
	dup := -1 // the earliest metric that repeats an earlier one
	for i := 1; i < len(ks); i++ {
		for j := i - 1; j >= 0 && ks[j].hash == ks[i].hash; j-- {
			a, b := mf.Metric[ks[j].index].Label, mf.Metric[ks[i].index].Label
			same := mf.Metric[ks[j].index].TimestampMs == nil && mf.Metric[ks[i].index].TimestampMs == nil ||
				mf.Metric[ks[j].index].TimestampMs != nil && mf.Metric[ks[i].index].TimestampMs != nil &&
					mf.Metric[ks[j].index].GetTimestampMs() == mf.Metric[ks[i].index].GetTimestampMs()
			if same && sameSet(a, b) && (dup < 0 || int(ks[i].index) < dup) {
				dup = int(ks[i].index)
			}
		}
	}
	if dup >= 0 {
		return &issue{metric: dup, msg: "duplicate series " + seriesName(mf.GetName(), mf.Metric[dup])}
	}
	return nil
}

// sameSet reports whether two label lists hold the same pairs, in any order.
func sameSet(a, b []*dto.LabelPair) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = sortedPairs(a), sortedPairs(b)
	for i := range a {
		if a[i].GetName() != b[i].GetName() || a[i].GetValue() != b[i].GetValue() {
			return false
		}
	}
	return true
}

func sortedPairs(ps []*dto.LabelPair) []*dto.LabelPair {
	if slices.IsSortedFunc(ps, comparePairs) {
		return ps
	}
	ps = slices.Clone(ps)
	slices.SortFunc(ps, comparePairs)
	return ps
}

func comparePairs(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }

// checkMetric returns what is wrong with one metric, or "".
func checkMetric(mf *dto.MetricFamily, m *dto.Metric, parsed bool) string {
	name, typ := mf.GetName(), mf.GetType()
	series := func() string { return seriesName(name, m) }
	if !parsed {
		if msg := checkLabels(name, typ, m); msg != "" {
			return msg
		}
	}
	return checkValue(typ, m, series)
}

// checkLabels returns what is wrong with a metric's labels, or "".
func checkLabels(name string, typ dto.MetricType, m *dto.Metric) string {
	series := func() string { return seriesName(name, m) }
	for i, p := range m.Label {
		ln := p.GetName()
		if !validName(ln) {
			return badLabelName(ln) + " in series " + series()
		}
		for _, q := range m.Label[:i] {
			if q.GetName() == ln {
				return fmt.Sprintf("duplicate label name %q in series %s", ln, series())
			}
		}
		if msg := badLabelValue(ln, p.GetValue(), series); msg != "" {
			return msg
		}
		if ln == "__name__" {
			return fmt.Sprintf("label name __name__ in series %s is reserved for the metric name", series())
		}
		switch {
		case ln == "le" && (typ == dto.MetricType_HISTOGRAM || typ == dto.MetricType_GAUGE_HISTOGRAM):
			return fmt.Sprintf("label \"le\" is reserved for the buckets of histogram %s", series())
		case ln == "quantile" && typ == dto.MetricType_SUMMARY:
			return fmt.Sprintf("label \"quantile\" is reserved for the quantiles of summary %s", series())
		}
	}
	return ""
}

// checkValue returns what is wrong with a metric's value, or "".
func checkValue(typ dto.MetricType, m *dto.Metric, series func() string) string {
	switch typ {
	case dto.MetricType_COUNTER:
		if m.Counter == nil {
			return "series " + series() + " has no counter value"
		}
		if v := m.Counter.GetValue(); v < 0 {
			return fmt.Sprintf("counter %s has negative value %v", series(), v)
		}
	case dto.MetricType_GAUGE:
		if m.Gauge == nil {
			return "series " + series() + " has no gauge value"
		}
	case dto.MetricType_UNTYPED:
		if m.Untyped == nil {
			return "series " + series() + " has no untyped value"
		}
	case dto.MetricType_SUMMARY:
		if m.Summary == nil {
			return "series " + series() + " has no summary value"
		}
		return checkSummary(m.Summary, series)
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		if m.Histogram == nil {
			return "series " + series() + " has no histogram value"
		}
		return checkHistogram(m.Histogram, series)
	}
	return ""
}

func checkSummary(s *dto.Summary, series func() string) string {
	for i, q := range s.Quantile {
		v := q.GetQuantile()
		if !(v >= 0 && v <= 1) {
			return fmt.Sprintf("quantile %v of summary %s is outside 0..1", v, series())
		}
		for _, o := range s.Quantile[:i] {
			if o.GetQuantile() == v {
				return fmt.Sprintf("duplicate quantile %v in summary %s", v, series())
			}
		}
	}
	return ""
}

func bucketCount(b *dto.Bucket) float64 {
	if b.CumulativeCountFloat != nil {
		return b.GetCumulativeCountFloat()
	}
	return float64(b.GetCumulativeCount())
}

func checkHistogram(h *dto.Histogram, series func() string) string {
	prevLe, prevCount := math.Inf(-1), 0.0
	for i, b := range h.Bucket {
		le, c := b.GetUpperBound(), bucketCount(b)
		leText := strconv.FormatFloat(le, 'g', -1, 64)
		switch {
		case math.IsNaN(le):
			return "bucket le=\"NaN\" in histogram " + series()
		case i > 0 && le == prevLe:
			return fmt.Sprintf("duplicate bucket le=%q in histogram %s", leText, series())
		case i > 0 && le < prevLe:
			return "buckets of histogram " + series() + " are not in increasing le order"
		case !(c >= 0):
			return fmt.Sprintf("bucket le=%q of histogram %s has negative count %v", leText, series(), c)
		case c < prevCount:
			return fmt.Sprintf("bucket le=%q of histogram %s counts %v, less than the bucket before it (%v): buckets are cumulative",
				leText, series(), c, prevCount)
		}
		prevLe, prevCount = le, c
	}
	count := float64(h.GetSampleCount())
	if h.SampleCountFloat != nil {
		count = h.GetSampleCountFloat()
	}
	if !(count >= 0) {
		return fmt.Sprintf("histogram %s has negative count %v", series(), count)
	}
	if !math.IsInf(prevLe, 1) && count < prevCount {
		return fmt.Sprintf("count %v of histogram %s is less than its largest bucket (%v)", count, series(), prevCount)
	}
	return ""
}

// labelValueProblem checks a label value in one pass: valid UTF-8, and no
// C0 control character but tab and newline, no DEL. It returns "" or what
// is wrong.
func labelValueProblem(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
				return fmt.Sprintf("holds the control character U+%04X", c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return "is not valid UTF-8"
		}
		i += n
	}
	return ""
}

// badLabelValue is the message for a label value that is not UTF-8 or
// holds a control character, or "".
func badLabelValue(name, value string, series func() string) string {
	switch problem := labelValueProblem(value); problem {
	case "":
		return ""
	case "is not valid UTF-8":
		return fmt.Sprintf("value of label %q in series %s is not valid UTF-8", name, series())
	default:
		return fmt.Sprintf("value of label %q in series %s %s: promtool and many receivers refuse "+
			"control characters; only tab and newline (written \\n) may appear", name, series(), problem)
	}
}
