package exposition

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
)

// sampleLine is one sample line taken apart; the strings are views of the
// document.
type sampleLine struct {
	name     string
	value    string
	ts       string // "" when the sample has none
	exemplar bool
	ex       *dto.Exemplar // the exemplar, with its value's and timestamp's text
	exValue  string
	exTs     string
}

// sample parses one sample line and adds it to its family.
func (p *parser) sample(ln string) error {
	p.lbls = p.lbls[:0]
	var sl sampleLine
	var err error
	if p.om {
		err = p.omLine(ln, &sl)
	} else {
		err = p.textLine(ln, &sl)
	}
	if err != nil {
		return err
	}
	for _, lb := range p.lbls {
		if msg := badLabelValue(lb.name, lb.value, func() string { return seriesOf(sl.name, p.lbls) }); msg != "" {
			return p.errf("%s", msg)
		}
	}
	v, err := p.value(sl.value)
	if err != nil {
		return p.errf("invalid value %q for %s", clip(sl.value), sl.name)
	}
	var ts *int64
	tsSec := 0.0
	if sl.ts != "" {
		t, sec, err := p.timestamp(sl.ts)
		if err != nil {
			return err
		}
		ts, tsSec = &t, sec
	}
	return p.add(&sl, v, ts, tsSec)
}

// head reads the metric name and the label set at the start of a sample
// line into p.lbls, returning the name and what follows. Both formats
// allow a quoted (UTF-8) name inside the braces, {"my.metric",a="b"}.
func (p *parser) head(ln string) (string, string, error) {
	var name string
	s := ln
	switch {
	case ln[0] == '{':
	case ln[0] == '"' && !p.om: // expfmt reads a quoted name before the braces too
		var err error
		if name, s, err = p.quoted(ln[1:], "metric name"); err != nil {
			return "", "", err
		}
		if !p.om {
			s = trimBlank(s)
		}
	default:
		i := scanMetricName(ln)
		name, s = ln[:i], ln[i:]
		if i > 0 && !p.om && s != "" && s[0] != ' ' && s[0] != '\t' && s[0] != '{' {
			// expfmt reads "a-1" as a with value -1: the text format needs
			// no blank between tokens that cannot merge. Anything else
			// glued to a name is a bad name, which textLine reports.
			if v, _ := cutBlank(s); p.validValue(v) {
				return name, " " + s, nil
			}
		}
		if i == 0 || (s != "" && s[0] != ' ' && s[0] != '\t' && s[0] != '{') {
			end := strings.IndexAny(ln, " \t{")
			if end < 0 {
				end = len(ln)
			}
			return "", "", p.errf("%s", badMetricName(ln[:end]))
		}
		if !p.om && s != "" && s[0] != '{' {
			// The text format allows blanks before the label set.
			if t := trimBlank(s); t != "" && t[0] == '{' {
				s = t
			}
		}
	}
	if s != "" && s[0] == '{' {
		var err error
		var inner string
		if p.lbls, inner, s, err = p.labels(s, p.lbls, name == ""); err != nil {
			return "", "", err
		}
		if inner != "" {
			if name != "" {
				return "", "", p.errf("metric %s is named twice, before and inside its labels", clip(name))
			}
			name = inner
		}
	}
	if name == "" {
		return "", "", p.errf("sample without a metric name")
	}
	return name, s, nil
}

// textLine splits a text 0.0.4 sample line: blanks and tabs separate the
// tokens, and may lead and trail.
func (p *parser) textLine(ln string, sl *sampleLine) error {
	name, s, err := p.head(ln)
	if err != nil {
		return err
	}
	sl.name = name
	s = trimBlank(s)
	if s == "" {
		return p.errf("sample %s has no value", clip(name))
	}
	sl.value, s = cutBlank(s)
	s = trimBlank(s)
	if s == "" {
		return nil
	}
	if s[0] == '#' {
		return p.errf("unexpected %q after the value of %s (exemplars are OpenMetrics only)", clip(s), clip(name))
	}
	sl.ts, s = cutBlank(s)
	if s = trimBlank(s); s != "" {
		return p.errf("unexpected %q after the timestamp of %s", clip(s), clip(name))
	}
	return nil
}

func (p *parser) validValue(s string) bool {
	_, err := p.value(s)
	return err == nil
}

// value reads a sample value. Both formats take Go's float syntax minus
// hexadecimal numbers and digit separators (1_2), which neither allows;
// OpenMetrics also takes numbers too large for a float64 as infinite.
func (p *parser) value(s string) (float64, error) {
	if v, ok := smallInt(s); ok {
		return v, nil
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '_', 'x', 'X', 'p', 'P':
			return 0, strconv.ErrSyntax
		}
	}
	if s == "" {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && p.om && math.IsInf(v, 0) {
		err = nil
	}
	return v, err
}

// smallInt reads the most common value, a plain integer of up to 15
// digits, exactly as ParseFloat would and much faster.
func smallInt(s string) (float64, bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	v := float64(n)
	if neg {
		v = -v
	}
	return v, true
}

// timestamp reads a sample timestamp into milliseconds: integer
// milliseconds in text, float seconds in OpenMetrics. An OpenMetrics
// timestamp beyond int64 milliseconds saturates (it is valid, if odd).
func (p *parser) timestamp(s string) (int64, float64, error) {
	if !p.om {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, p.errf("invalid timestamp %q (text format wants integer milliseconds)", clip(s))
		}
		return t, float64(t) / 1000, nil
	}
	f, err := p.value(s)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, 0, p.errf("invalid timestamp %q (OpenMetrics wants seconds)", clip(s))
	}
	ms := f * 1000
	switch {
	case ms >= math.MaxInt64:
		return math.MaxInt64, f, nil
	case ms <= math.MinInt64:
		return math.MinInt64, f, nil
	}
	return int64(math.Round(ms)), f, nil
}

// labels parses "{a="b",...}" at the start of s into dst and returns what
// follows the closing brace. With nameless set, the label set may hold the
// metric name as a lone (quoted) token, returned as name.
func (p *parser) labels(s string, dst []label, nameless bool) (lbls []label, name, rest string, err error) {
	s = s[1:]
	first := true
	for {
		if !p.om {
			s = trimBlank(s)
		}
		if s == "" {
			return nil, "", "", p.errf("unclosed label set")
		}
		if s[0] == '}' && (first || !p.om) {
			return dst, name, s[1:], nil
		}
		var ln string
		if s[0] == '"' {
			if ln, s, err = p.quoted(s[1:], "label name"); err != nil {
				return nil, "", "", err
			}
		} else {
			i := scanLabelName(s)
			if i == 0 || i < len(s) && strings.IndexByte(" \t=,}", s[i]) < 0 {
				end := strings.IndexAny(s, " \t=,}")
				if end <= 0 {
					end = len(s)
				}
				return nil, "", "", p.errf("%s", badLabelName(s[:end]))
			}
			ln, s = s[:i], s[i:]
		}
		first = false
		if !p.om {
			s = trimBlank(s)
		}
		if nameless && s != "" && (s[0] == ',' || s[0] == '}') {
			// The metric name, as in {"my.metric",a="b"}.
			if name != "" {
				return nil, "", "", p.errf("label set names the metric twice")
			}
			name, nameless = ln, false
			if s[0] == ',' {
				s = s[1:]
			} else if p.om {
				return dst, name, s[1:], nil
			}
			continue
		}
		if s == "" || s[0] != '=' {
			return nil, "", "", p.errf("expected = after label name %q", clip(ln))
		}
		s = s[1:]
		if !p.om {
			s = trimBlank(s)
		}
		if s == "" || s[0] != '"' {
			return nil, "", "", p.errf("expected a quoted value for label %q", clip(ln))
		}
		value, after, err := p.unquote(s[1:])
		if err != nil {
			return nil, "", "", p.errf("label %q: %v", clip(ln), err)
		}
		if ln == "__name__" {
			return nil, "", "", p.errf("label name __name__ is reserved for the metric name")
		}
		for _, l := range dst {
			if l.name == ln {
				return nil, "", "", p.errf("duplicate label name %q", clip(ln))
			}
		}
		dst = append(dst, label{ln, value})
		s = after
		if !p.om {
			s = trimBlank(s)
		}
		switch {
		case s == "":
			return nil, "", "", p.errf("unclosed label set")
		case s[0] == ',':
			s = s[1:]
			if p.om && (s == "" || s[0] == '}') {
				return nil, "", "", p.errf("trailing comma in the label set (OpenMetrics allows none)")
			}
		case s[0] == '}':
			return dst, name, s[1:], nil
		default:
			return nil, "", "", p.errf("expected , or } after the value of label %q", clip(ln))
		}
	}
}

// quoted reads a quoted metric or label name that follows its opening
// quote: any valid UTF-8, with the escapes of label values.
func (p *parser) quoted(s, what string) (string, string, error) {
	v, rest, err := unquote(s, true)
	if err != nil {
		return "", "", p.errf("quoted %s: %v", what, err)
	}
	if v == "" || !utf8.ValidString(v) {
		return "", "", p.errf("quoted %s %q is empty or not valid UTF-8", what, clip(v))
	}
	return v, rest, nil
}

// unquote reads a label value in the document's format.
func (p *parser) unquote(s string) (string, string, error) {
	return unquote(s, !p.om)
}
