package exposition

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Encode writes families in format f: text 0.0.4 or OpenMetrics 1.0 (which
// ends with "# EOF") by our own writer, any other format (protobuf) by
// expfmt. The families should have passed Validate.
//
// The writer produces what expfmt's would, with two differences that are
// the point of having it:
//   - numbers are written as the exporter spelled them (see spellField),
//     so that le="1.0" stays le="1.0" and 1.0 stays 1.0;
//   - names follow f's escaping term, as client_golang negotiates it:
//     escaping=allow-utf-8 writes UTF-8 names quoted ({"my.metric"}),
//     any other scheme (underscores when f has none) escapes them to
//     legacy names with model.EscapeName.
func Encode(w io.Writer, fams []*dto.MetricFamily, f expfmt.Format) error {
	return encode(w, fams, f, true)
}

// Append is Encode into b, without the terminator f may need (Terminator
// gives it), so that an answer can be put together from parts in one
// buffer: an exporter's families, then metricwrap's own, then the end.
func Append(b []byte, fams []*dto.MetricFamily, f expfmt.Format) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	err := encode(buf, fams, f, false)
	return buf.Bytes(), err
}

// Terminator is what a document in f ends with: "# EOF\n" in OpenMetrics,
// nothing in the other formats.
func Terminator(f expfmt.Format) []byte {
	if infoOf(f).typ == expfmt.TypeOpenMetrics {
		return omEOF
	}
	return nil
}

var omEOF = []byte("# EOF\n")

func encode(w io.Writer, fams []*dto.MetricFamily, f expfmt.Format, terminate bool) error {
	fi := infoOf(f)
	om := false
	switch fi.typ {
	case expfmt.TypeTextPlain:
	case expfmt.TypeOpenMetrics:
		if v := fi.version; v != expfmt.OpenMetricsVersion_1_0_0 && v != expfmt.OpenMetricsVersion_0_0_1 {
			return encodeExpfmt(w, fams, f, terminate)
		}
		om = true
	case expfmt.TypeUnknown:
		return fmt.Errorf("encode: unknown format %q", f)
	default:
		return encodeExpfmt(w, fams, f, terminate)
	}
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		writers.Put(bw)
	}()
	e := &encoder{w: out{bw}, om: om, scheme: fi.scheme}
	var created map[string]bool
	if om {
		created = createdNames(fams)
	}
	for _, mf := range fams {
		if created[mf.GetName()] {
			continue
		}
		if err := e.family(mf); err != nil {
			return fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	if om && terminate {
		e.w.raw(omEOF)
	}
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return nil
}

// writers are Encode's buffers, reused: the server encodes every answer,
// and a fresh 64 KiB buffer each time was cleared memory on every run.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// createdNames finds the families OpenMetrics has no room for: a text
// document may carry "x_created" as a gauge family of its own (the Python
// client's text output does), a name that OpenMetrics reserves for the
// created line of counter, summary or histogram x.
func createdNames(fams []*dto.MetricFamily) map[string]bool {
	var reserved, found map[string]bool
	for _, mf := range fams {
		base := mf.GetName()
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			base = strings.TrimSuffix(base, "_total")
		case dto.MetricType_SUMMARY, dto.MetricType_HISTOGRAM:
		default:
			continue
		}
		if reserved == nil {
			reserved = map[string]bool{}
		}
		reserved[base+"_created"] = true
	}
	for _, mf := range fams {
		if reserved[mf.GetName()] && mf.GetType() != dto.MetricType_COUNTER && mf.GetType() != dto.MetricType_SUMMARY && mf.GetType() != dto.MetricType_HISTOGRAM {
			if found == nil {
				found = map[string]bool{}
			}
			found[mf.GetName()] = true
		}
	}
	return found
}

func encodeExpfmt(w io.Writer, fams []*dto.MetricFamily, f expfmt.Format, terminate bool) error {
	enc := expfmt.NewEncoder(w, f)
	for _, mf := range fams {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok && terminate {
		if err := c.Close(); err != nil {
			return fmt.Errorf("encode: %w", err)
		}
	}
	return nil
}

// Text is Encode to text 0.0.4 for tests, logs and debug output. It stops
// at the first family it cannot write (one that fails Validate), so use
// Encode when the families may be invalid.
func Text(fams []*dto.MetricFamily) []byte {
	var b bytes.Buffer
	_ = Encode(&b, fams, expfmt.FmtText)
	return b.Bytes()
}

type encoder struct {
	w       out
	om      bool
	scheme  model.EscapingScheme
	num     []byte
	sp      spellings
	name    string // the family's name as its samples write it
	comment string // and as its HELP, TYPE and UNIT lines do
	quoted  bool   // the name goes inside the braces, quoted
	m       *dto.Metric
	ex      *dto.Exemplar // of the sample being written
}

func (e *encoder) family(mf *dto.MetricFamily) error {
	if len(mf.Metric) == 0 {
		return fmt.Errorf("family has no metrics")
	}
	typ := mf.GetType()
	name := mf.GetName()
	comment := name // OpenMetrics names a counter family without _total
	if name == "" {
		return fmt.Errorf("family has no name")
	}
	typeName := ""
	switch typ {
	case dto.MetricType_COUNTER:
		typeName = "counter"
		if e.om {
			if base, ok := strings.CutSuffix(name, "_total"); ok {
				comment = base
			} else {
				typeName = "unknown"
			}
		}
	case dto.MetricType_GAUGE:
		typeName = "gauge"
	case dto.MetricType_SUMMARY:
		typeName = "summary"
	case dto.MetricType_UNTYPED:
		typeName = "untyped"
		if e.om {
			typeName = "unknown"
		}
	case dto.MetricType_HISTOGRAM:
		typeName = "histogram"
	case dto.MetricType_GAUGE_HISTOGRAM:
		typeName = "histogram"
		if e.om {
			typeName = "gaugehistogram"
		}
	default:
		return fmt.Errorf("unknown metric type %s", typ)
	}
	e.sp = readSpellings(mf)
	e.name, e.quoted = e.metricName(name)
	e.comment, _ = e.metricName(comment)
	w := e.w
	if help := mf.GetHelp(); mf.Help != nil && (help != "" || e.om) {
		w.str("# HELP ")
		e.commentName()
		w.char(' ')
		writeEscaped(w, help, e.om)
		w.char('\n')
	}
	w.str("# TYPE ")
	e.commentName()
	w.char(' ')
	w.str(typeName)
	w.char('\n')
	if e.om && mf.Unit != nil {
		w.str("# UNIT ")
		e.commentName()
		w.char(' ')
		writeEscaped(w, mf.GetUnit(), true)
		w.char('\n')
	}
	for i, m := range mf.Metric {
		e.m = m
		if e.sp.cur < i {
			e.sp.at(i)
		}
		if err := e.metric(typ); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) metric(typ dto.MetricType) error {
	m := e.m
	sumName, countName := "_sum", "_count"
	switch typ {
	case dto.MetricType_COUNTER:
		if m.Counter == nil {
			return fmt.Errorf("metric without a counter value")
		}
		e.ex = m.Counter.Exemplar
		e.sample("", "", 0, 0, m.Counter.GetValue(), kindFloat)
		e.ex = nil
		e.created(m.Counter.CreatedTimestamp, true)
	case dto.MetricType_GAUGE:
		if m.Gauge == nil {
			return fmt.Errorf("metric without a gauge value")
		}
		e.sample("", "", 0, 0, m.Gauge.GetValue(), kindFloat)
	case dto.MetricType_UNTYPED:
		if m.Untyped == nil {
			return fmt.Errorf("metric without an untyped value")
		}
		e.sample("", "", 0, 0, m.Untyped.GetValue(), kindFloat)
	case dto.MetricType_SUMMARY:
		s := m.Summary
		if s == nil {
			return fmt.Errorf("metric without a summary value")
		}
		for k, q := range s.Quantile {
			e.sample("", "quantile", slotFirst+2*int32(k), q.GetQuantile(), q.GetValue(), kindFloat)
		}
		e.sampleAt(sumName, slotValue, s.GetSampleSum(), kindFloat)
		e.sampleAt(countName, slotCount, float64(s.GetSampleCount()), kindUint)
		e.created(s.CreatedTimestamp, false)
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := m.Histogram
		if h == nil {
			return fmt.Errorf("metric without a histogram value")
		}
		if e.om && typ == dto.MetricType_GAUGE_HISTOGRAM {
			sumName, countName = "_gsum", "_gcount"
		}
		if e.om && (h.SampleCountFloat != nil || hasFloatBucket(h)) {
			return fmt.Errorf("OpenMetrics 1.0 has no histograms with fractional counts")
		}
		inf := false
		for k, b := range h.Bucket {
			e.ex = b.Exemplar
			e.sample("_bucket", "le", slotFirst+2*int32(k), b.GetUpperBound(), bucketCount(b), kindUint)
			e.ex = nil
			inf = inf || math.IsInf(b.GetUpperBound(), 1)
		}
		count := float64(h.GetSampleCount())
		if h.SampleCountFloat != nil {
			count = h.GetSampleCountFloat()
		}
		if !inf {
			e.sample("_bucket", "le", -1, math.Inf(1), count, kindUint)
		}
		e.sampleAt(sumName, slotValue, h.GetSampleSum(), kindFloat)
		e.sampleAt(countName, slotCount, count, kindUint)
		if typ == dto.MetricType_HISTOGRAM {
			e.created(h.CreatedTimestamp, false)
		}
	}
	return nil
}

// created writes the OpenMetrics _created line of the current metric, the
// counter's named without _total; text has none.
func (e *encoder) created(ts *timestamppb.Timestamp, counter bool) {
	if !e.om || ts == nil {
		return
	}
	name := e.name
	if counter {
		e.name = strings.TrimSuffix(name, "_total")
	}
	e.sampleSlots("_created", "", -1, 0, slotCreated, seconds(ts), kindSeconds)
	e.name = name
}

func seconds(ts *timestamppb.Timestamp) float64 {
	return float64(ts.GetSeconds()) + float64(ts.GetNanos())/1e9
}

// exemplar writes " # {labels} value [timestamp]" after a counter or
// bucket sample in OpenMetrics.
func (e *encoder) exemplar(vslot int32) {
	w := e.w
	w.str(" # {")
	for i, lp := range e.ex.Label {
		if i > 0 {
			w.char(',')
		}
		e.labelName(lp.GetName())
		w.str(`="`)
		writeEscaped(w, lp.GetValue(), true)
		w.char('"')
	}
	w.str("} ")
	e.number(slotExemplar+vslot, e.ex.GetValue(), kindFloat, false)
	if e.ex.Timestamp != nil {
		w.char(' ')
		e.number(slotExemplarTime+vslot, seconds(e.ex.Timestamp), kindSeconds, false)
	}
}

func hasFloatBucket(h *dto.Histogram) bool {
	for _, b := range h.Bucket {
		if b.CumulativeCountFloat != nil {
			return true
		}
	}
	return false
}

func (e *encoder) sampleAt(suffix string, slot int32, v float64, k numberKind) {
	e.sampleSlots(suffix, "", -1, 0, slot, v, k)
}

// sample writes a sample with value slot slotValue, or, with a bound
// label (le, quantile), the bound at slot and the value at slot+1.
func (e *encoder) sample(suffix, bound string, slot int32, b, v float64, k numberKind) {
	if bound == "" {
		e.sampleSlots(suffix, "", -1, 0, slotValue, v, k)
		return
	}
	vs := slot + 1
	if slot < 0 {
		vs = -1
	}
	e.sampleSlots(suffix, bound, slot, b, vs, v, k)
}

func (e *encoder) sampleSlots(suffix, bound string, bslot int32, b float64, vslot int32, v float64, k numberKind) {
	w := e.w
	sep := byte('{')
	if e.quoted {
		w.str(`{"`)
		writeEscaped(w, e.name+suffix, true)
		w.char('"')
		sep = ','
	} else {
		w.str(e.name)
		w.str(suffix)
	}
	for _, lp := range e.m.Label {
		w.char(sep)
		sep = ','
		e.labelName(lp.GetName())
		w.str(`="`)
		writeEscaped(w, lp.GetValue(), true)
		w.char('"')
	}
	if bound != "" {
		w.char(sep)
		sep = ','
		w.str(bound)
		w.str(`="`)
		e.number(bslot, b, kindFloat, true)
		w.char('"')
	}
	if sep == ',' {
		w.char('}')
	}
	w.char(' ')
	e.number(vslot, v, k, false)
	if e.m.TimestampMs != nil {
		w.char(' ')
		e.number(slotTime, float64(e.m.GetTimestampMs()), kindTime, false)
	}
	if e.ex != nil && e.om {
		e.exemplar(vslot)
	}
	w.char('\n')
}

// number writes the number in slot: as the exporter spelled it when that
// still reads as v in the target format, else canonically, in the form of
// the format the family came from (so "1.0" from OpenMetrics stays "1.0"
// in text too) or of the target when it came from no document.
func (e *encoder) number(slot int32, v float64, k numberKind, bound bool) {
	om := e.om
	switch {
	case e.sp.origin == originNone || k == kindTime:
	case k == kindUint:
		om = om || e.sp.origin == originOpenMetrics
	default:
		om = e.sp.origin == originOpenMetrics
	}
	if slot >= 0 && e.sp.cur >= 0 {
		if s := e.sp.get(slot); s != "" && e.sameNumber(s, v, k, bound) {
			e.w.str(s)
			return
		}
	}
	if bound && e.om && math.IsInf(v, 1) {
		om = true
	}
	e.num = appendCanonical(e.num[:0], v, om, k)
	e.w.raw(e.num)
}

// sameNumber reports whether the spelling s reads as exactly v in the
// target format.
func (e *encoder) sameNumber(s string, v float64, k numberKind, bound bool) bool {
	if k == kindTime {
		if (e.sp.origin == originOpenMetrics) != e.om {
			return false // milliseconds in text, seconds in OpenMetrics
		}
		p := parser{om: e.om}
		t, _, err := p.timestamp(s)
		return err == nil && float64(t) == v
	}
	f, ok := readNumber(s)
	if !ok {
		return false
	}
	if k == kindSeconds {
		// A protobuf timestamp holds nanoseconds, not the float: the
		// spelling is right when it rounds to the same instant.
		return math.Abs(f-v) <= 1e-9+math.Abs(v)*0x1p-50
	}
	if bound && e.om && math.IsInf(f, 1) && s != "+Inf" {
		return false
	}
	return f == v || math.IsNaN(f) && math.IsNaN(v)
}

// metricName returns name as the target writes it, and whether it goes
// inside the braces quoted.
func (e *encoder) metricName(name string) (string, bool) {
	if legacyMetricName(name) {
		return name, false
	}
	if e.scheme == model.NoEscaping {
		return name, true
	}
	return model.EscapeName(name, e.scheme), false
}

func (e *encoder) commentName() {
	if e.quoted {
		e.w.char('"')
		writeEscaped(e.w, e.comment, true)
		e.w.char('"')
		return
	}
	e.w.str(e.comment)
}

func (e *encoder) labelName(n string) {
	switch {
	case legacyLabelName(n):
		e.w.str(n)
	case e.scheme == model.NoEscaping:
		e.w.char('"')
		writeEscaped(e.w, n, true)
		e.w.char('"')
	default:
		e.w.str(model.EscapeName(n, e.scheme))
	}
}

// writeEscaped escapes \ and newline, and " when quote is set (label
// values, OpenMetrics HELP).
func writeEscaped(w out, s string, quote bool) {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '"':
			if !quote {
				continue
			}
			esc = `\"`
		default:
			continue
		}
		w.str(s[start:i])
		w.str(esc)
		start = i + 1
	}
	w.str(s[start:])
}

// out is the encoder's buffered writer. bufio.Writer keeps its first
// error and returns it from every later call and from Flush, which Encode
// checks, so the single writes need not.
type out struct{ *bufio.Writer }

func (o out) str(s string) { _, _ = o.WriteString(s) }
func (o out) char(c byte)  { _ = o.WriteByte(c) }
func (o out) raw(b []byte) { _, _ = o.Write(b) }

// readNumber reads a recorded spelling as the parser did: plain integers
// and integers with ".0" (the Python client's) quickly, anything else by
// strconv without the syntax neither format allows.
func readNumber(s string) (float64, bool) {
	if v, ok := smallInt(s); ok {
		return v, true
	}
	if n := len(s); n > 2 && s[n-2] == '.' && s[n-1] == '0' {
		if v, ok := smallInt(s[:n-2]); ok {
			return v, true
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '_', 'x', 'X', 'p', 'P':
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
