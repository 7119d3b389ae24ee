package remotewrite

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Field keys (field number << 3 | wire type) of the remote write 1.0
// messages in prometheus/prompb: WriteRequest{repeated TimeSeries
// timeseries = 1}, TimeSeries{repeated Label labels = 1; repeated Sample
// samples = 2}, Label{string name = 1; string value = 2}, Sample{double
// value = 1; int64 timestamp = 2}. Writing the few bytes by hand keeps the
// encoder free of a protobuf runtime and of per-series allocations.
const (
	keyTimeseries  = 1<<3 | 2
	keyLabels      = 1<<3 | 2
	keySamples     = 2<<3 | 2
	keyLabelName   = 1<<3 | 2
	keyLabelValue  = 2<<3 | 2
	keySampleValue = 1<<3 | 1
	keySampleTime  = 2 << 3 // wire type 0 (varint)
)

// encoder turns metric families into serialized WriteRequests of at most
// max series each (one sample per series), handing each to flush. flush
// must not keep the slice.
type encoder struct {
	max   int
	ts    int64 // the run's timestamp, for samples without their own
	flush func(req []byte, series int) error

	buf    []byte
	n      int
	sorted []*dto.LabelPair // scratch for labels that need sorting
	num    []byte           // scratch for le and quantile values
}

// encode writes all families and flushes the last, partial request.
func (e *encoder) encode(fams []*dto.MetricFamily) error {
	for _, mf := range fams {
		if err := e.family(mf); err != nil {
			return err
		}
	}
	if e.n > 0 {
		return e.send()
	}
	return nil
}

func (e *encoder) send() error {
	err := e.flush(e.buf, e.n)
	e.buf, e.n = e.buf[:0], 0
	return err
}

// family writes one family the way Prometheus stores a scrape of it:
// counters, gauges and untyped as one series each, summaries as quantile
// series plus _sum and _count, histograms as cumulative _bucket series
// (with +Inf) plus _sum and _count (_gsum and _gcount for gauge
// histograms). Native histogram data has no place in 1.0 and is left out.
func (e *encoder) family(mf *dto.MetricFamily) error {
	name := mf.GetName()
	for _, m := range mf.Metric {
		ls := e.labels(m.Label)
		ts := e.ts
		if m.TimestampMs != nil {
			ts = *m.TimestampMs
		}
		var err error
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			err = e.series(name, "", ls, "", nil, m.GetCounter().GetValue(), ts)
		case dto.MetricType_GAUGE:
			err = e.series(name, "", ls, "", nil, m.GetGauge().GetValue(), ts)
		case dto.MetricType_SUMMARY:
			err = e.summary(name, ls, m.GetSummary(), ts)
		case dto.MetricType_HISTOGRAM:
			err = e.histogram(name, "_sum", "_count", ls, m.GetHistogram(), ts)
		case dto.MetricType_GAUGE_HISTOGRAM:
			err = e.histogram(name, "_gsum", "_gcount", ls, m.GetHistogram(), ts)
		default:
			err = e.series(name, "", ls, "", nil, m.GetUntyped().GetValue(), ts)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) summary(name string, ls []*dto.LabelPair, s *dto.Summary, ts int64) error {
	for _, q := range s.GetQuantile() {
		e.num = appendFloat(e.num[:0], q.GetQuantile())
		if err := e.series(name, "", ls, "quantile", e.num, q.GetValue(), ts); err != nil {
			return err
		}
	}
	if err := e.series(name, "_sum", ls, "", nil, s.GetSampleSum(), ts); err != nil {
		return err
	}
	return e.series(name, "_count", ls, "", nil, float64(s.GetSampleCount()), ts)
}

func (e *encoder) histogram(name, sum, count string, ls []*dto.LabelPair, h *dto.Histogram, ts int64) error {
	total := float64(h.GetSampleCount())
	if h.SampleCountFloat != nil {
		total = h.GetSampleCountFloat()
	}
	inf := false
	for _, b := range h.GetBucket() {
		bound := b.GetUpperBound()
		inf = math.IsInf(bound, +1)
		v := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			v = b.GetCumulativeCountFloat()
		}
		e.num = appendFloat(e.num[:0], bound)
		if err := e.series(name, "_bucket", ls, "le", e.num, v, ts); err != nil {
			return err
		}
	}
	if !inf && len(h.GetBucket()) > 0 {
		e.num = append(e.num[:0], "+Inf"...)
		if err := e.series(name, "_bucket", ls, "le", e.num, total, ts); err != nil {
			return err
		}
	}
	if err := e.series(name, sum, ls, "", nil, h.GetSampleSum(), ts); err != nil {
		return err
	}
	return e.series(name, count, ls, "", nil, total, ts)
}

// labels returns ls sorted by name and without empty values (which
// Prometheus treats as absent), copying only when it must.
func (e *encoder) labels(ls []*dto.LabelPair) []*dto.LabelPair {
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
	e.sorted = e.sorted[:0]
	for _, l := range ls {
		if l.GetValue() != "" {
			e.sorted = append(e.sorted, l)
		}
	}
	slices.SortFunc(e.sorted, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return e.sorted
}

// series appends one TimeSeries with labels __name__=name+suffix, ls and,
// when xName is set, xName=xValue, all in name order, and one sample.
func (e *encoder) series(name, suffix string, ls []*dto.LabelPair, xName string, xValue []byte, v float64, ts int64) error {
	size := labelSize("__name__", name, suffix)
	if xName != "" {
		size += labelSize(xName, "", xValue)
	}
	for _, l := range ls {
		size += labelSize(l.GetName(), l.GetValue(), "")
	}
	sample := 1 + 8 + 1 + uvarintLen(uint64(ts))
	size += 1 + uvarintLen(uint64(sample)) + sample

	b := append(e.buf, keyTimeseries)
	b = binary.AppendUvarint(b, uint64(size))
	// "__name__" sorts before "le" and "quantile" but after names that
	// start with an upper-case letter: merge the extra labels into ls.
	extra := 0
	for _, l := range ls {
		ln := l.GetName()
		if extra == 0 && "__name__" < ln {
			b = appendLabel(b, "__name__", name, suffix)
			extra++
		}
		if extra == 1 && xName != "" && xName < ln {
			b = appendLabel(b, xName, "", xValue)
			extra++
		}
		b = appendLabel(b, ln, l.GetValue(), "")
	}
	if extra == 0 {
		b = appendLabel(b, "__name__", name, suffix)
		extra++
	}
	if extra == 1 && xName != "" {
		b = appendLabel(b, xName, "", xValue)
	}
	b = append(b, keySamples, byte(sample))
	b = append(b, keySampleValue)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	b = append(b, keySampleTime)
	b = binary.AppendUvarint(b, uint64(ts))
	e.buf = b
	e.n++
	if e.n >= e.max {
		return e.send()
	}
	return nil
}

// labelSize is the encoded size of a Label entry (key, length and
// message) whose value is v1 followed by v2.
func labelSize[V string | []byte](name, v1 string, v2 V) int {
	vl := len(v1) + len(v2)
	inner := 1 + uvarintLen(uint64(len(name))) + len(name)
	if vl > 0 {
		inner += 1 + uvarintLen(uint64(vl)) + vl
	}
	return 1 + uvarintLen(uint64(inner)) + inner
}

func appendLabel[V string | []byte](b []byte, name, v1 string, v2 V) []byte {
	vl := len(v1) + len(v2)
	inner := 1 + uvarintLen(uint64(len(name))) + len(name)
	if vl > 0 {
		inner += 1 + uvarintLen(uint64(vl)) + vl
	}
	b = append(b, keyLabels)
	b = binary.AppendUvarint(b, uint64(inner))
	b = append(b, keyLabelName)
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	if vl > 0 {
		b = append(b, keyLabelValue)
		b = binary.AppendUvarint(b, uint64(vl))
		b = append(b, v1...)
		b = append(b, v2...)
	}
	return b
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendFloat formats le and quantile values as the text exposition does
// (client_golang's expfmt), so the series match a scrape of the same
// metrics.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
