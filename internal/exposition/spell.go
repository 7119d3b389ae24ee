package exposition

import (
	"math"
	"slices"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A number's spelling is the text an exporter wrote for it ("1.0", "1e3",
// "0.50"), which a float64 forgets. Prometheus 2 keys series on label
// text, so le="1.0" re-encoded as le="1" is a new series; metricwrap
// forwards the spelling instead. Parse records, per family, the origin
// format and every number whose text differs from the origin format's
// canonical form (what expfmt would write), and Encode writes the recorded
// text back wherever it still reads as the very same float64 in the
// target format. Anything that changes the number (a template, a
// registry) simply loses the spelling for that number.
//
// The record travels with the family as an unknown protobuf field, so it
// survives proto.Clone and the spool's encoding and needs no side table;
// expfmt and every other reader ignore it.
const spellField protowire.Number = 536_000_001

// Slots of a metric that hold a number.
const (
	slotTime  = 0 // the timestamp
	slotValue = 1 // a counter, gauge or untyped value; a summary or histogram _sum
	slotCount = 2 // a summary or histogram _count
	slotFirst = 3 // quantile or bucket k: its bound at 3+2k, its value at 4+2k

	slotExemplar     = 1 << 20 // plus the slot of the value it follows: the exemplar's value
	slotExemplarTime = 1 << 21 // plus the same: the exemplar's timestamp
	slotCreated      = 1 << 22 // the _created sample's value
)

// Origins of a family, stored as the record's first byte.
const (
	originNone byte = iota
	originText
	originOpenMetrics
)

// spell is one recorded spelling of the family being parsed.
type spell struct {
	metric, slot int32
	text         string // a view of the document until the family is closed
}

// numberKind says how a slot's number is written canonically.
type numberKind uint8

const (
	kindFloat   numberKind = iota
	kindUint               // counts that dto keeps as integers
	kindTime               // milliseconds (text) or seconds (OpenMetrics)
	kindSeconds            // OpenMetrics seconds kept as a protobuf timestamp (created, exemplar)
)

// appendCanonical appends v as expfmt writes it: text's shortest float,
// OpenMetrics' with ".0" on integral values, counts as integers.
func appendCanonical(b []byte, v float64, om bool, k numberKind) []byte {
	switch {
	case k == kindTime && !om:
		return strconv.AppendInt(b, int64(v), 10)
	case k == kindTime:
		v /= 1000
	case k == kindSeconds:
		om = true
	case k == kindUint && om && v >= 0 && v < 1<<63 && v == math.Trunc(v):
		return strconv.AppendUint(b, uint64(v), 10)
	}
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == 0:
		if om {
			return append(b, "0.0"...)
		}
		return append(b, '0')
	}
	if v == math.Trunc(v) && v > -1e6 && v < 1e6 {
		// What %g writes for an integer below its exponent threshold,
		// at a fraction of AppendFloat's cost.
		b = strconv.AppendInt(b, int64(v), 10)
		if om {
			b = append(b, ".0"...)
		}
		return b
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	if om {
		for _, c := range b[start:] {
			if c == '.' || c == 'e' {
				return b
			}
		}
		b = append(b, ".0"...)
	}
	return b
}

// note records the spelling s of v in slot of the current family's last
// metric, when s is not what the origin format writes anyway.
func (p *parser) note(f *family, metric int, slot int32, s string, v float64, k numberKind) {
	if !p.keep {
		return
	}
	if k != kindTime && k != kindSeconds {
		if canonical, known := quickCanonical(s, p.om, k); known {
			if !canonical {
				f.spells = append(f.spells, spell{int32(metric), slot, s})
			}
			return
		}
	}
	p.scratch = appendCanonical(p.scratch[:0], v, p.om, k)
	if string(p.scratch) == s {
		return
	}
	f.spells = append(f.spells, spell{int32(metric), slot, s})
}

// quickCanonical answers, without formatting a float, whether s is what
// the format writes for its value, for the common spellings: a plain
// decimal with at most 15 significant digits (which no shorter decimal
// reads as) and an exponent %g writes without "e": an integral part of 1
// to 6 digits, or "0." and at most three more zeros. Integers are
// canonical in text and as OpenMetrics counts, while OpenMetrics writes
// other integral values with ".0". known is false for anything else.
func quickCanonical(s string, om bool, k numberKind) (canonical, known bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	intStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intLen := i - intStart
	if intLen == 0 || intLen > 6 || intLen > 1 && s[intStart] == '0' {
		return false, false
	}
	zeroInt := s[intStart] == '0'
	if i == len(s) {
		if zeroInt {
			return false, false // 0 and -0: left to the slow path
		}
		return !om || k == kindUint && s[0] != '-', true
	}
	if s[i] != '.' {
		return false, false
	}
	i++
	fracStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i != len(s) || i == fracStart {
		return false, false
	}
	if s[i-1] == '0' {
		// No shortest form ends in a zero after the point; OpenMetrics
		// adds ".0" to integral floats only.
		integral := i-fracStart == 1
		if om && k == kindUint && s[0] == '-' {
			return false, false
		}
		return integral && om && k == kindFloat && !(zeroInt && s[0] == '-'), true
	}
	sig := intLen + (i - fracStart)
	if zeroInt {
		z := 0
		for s[fracStart+z] == '0' {
			z++
		}
		if z > 3 {
			return false, false
		}
		sig = i - fracStart - z
	}
	return sig <= 15, sig <= 15
}

// storeSpells attaches the family's record to its dto family: bucket
// slots follow the buckets' order after sorting (perm maps a metric's
// sorted bucket position to its parsed one).
func (p *parser) storeSpells(f *family) {
	if !p.keep {
		return
	}
	origin := originText
	if p.om {
		origin = originOpenMetrics
	}
	sp := f.spells
	bySlot := func(a, b spell) int {
		if a.metric != b.metric {
			return int(a.metric - b.metric)
		}
		return int(a.slot - b.slot)
	}
	if !slices.IsSortedFunc(sp, bySlot) { // they come in order but for interleaved text series
		slices.SortStableFunc(sp, bySlot)
	}
	n := 1
	for _, s := range sp {
		n += protowire.SizeVarint(uint64(s.metric)) + protowire.SizeVarint(uint64(s.slot)) + protowire.SizeBytes(len(s.text))
	}
	b := make([]byte, 0, n+protowire.SizeTag(spellField)+protowire.SizeVarint(uint64(n)))
	b = protowire.AppendTag(b, spellField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = append(b, origin)
	for _, s := range sp {
		b = protowire.AppendVarint(b, uint64(s.metric))
		b = protowire.AppendVarint(b, uint64(s.slot))
		b = protowire.AppendString(b, s.text)
	}
	f.mf.ProtoReflect().SetUnknown(protoreflect.RawFields(b))
}

// spellings is a family's record as Encode reads it.
type spellings struct {
	origin byte
	rest   []byte // records not yet consumed
	cur    int    // metric of the records in held
	held   []spell
}

func readSpellings(mf *dto.MetricFamily) spellings {
	raw := mf.ProtoReflect().GetUnknown()
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			break
		}
		raw = raw[n:]
		if num == spellField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(raw)
			if m < 0 || len(v) == 0 {
				break
			}
			return spellings{origin: v[0], rest: v[1:], cur: -1}
		}
		m := protowire.ConsumeFieldValue(num, typ, raw)
		if m < 0 {
			break
		}
		raw = raw[m:]
	}
	return spellings{cur: -1}
}

// at loads the records of metric i; metrics are visited in order.
func (s *spellings) at(i int) {
	s.held = s.held[:0]
	s.cur = i
	for len(s.rest) > 0 {
		m, n1 := protowire.ConsumeVarint(s.rest)
		if n1 < 0 || int(m) > i {
			return
		}
		slot, n2 := protowire.ConsumeVarint(s.rest[n1:])
		text, n3 := protowire.ConsumeString(s.rest[n1+n2:])
		if n2 < 0 || n3 < 0 {
			s.rest = nil
			return
		}
		s.rest = s.rest[n1+n2+n3:]
		if int(m) == i {
			s.held = append(s.held, spell{int32(m), int32(slot), text})
		}
	}
}

func (s *spellings) get(slot int32) string {
	for _, h := range s.held {
		if h.slot == slot {
			return h.text
		}
	}
	return ""
}
