package exposition

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
)

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

func formatName(om bool) string {
	if om {
		return FormatOpenMetrics.String()
	}
	return FormatText.String()
}

// clip shortens s for an error message, so that one bad line of a 16 MiB
// document does not produce a 16 MiB error.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func trimBlank(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// cutBlank splits s at its first blank.
func cutBlank(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			return s[:i], s[i:]
		}
	}
	return s, ""
}

func isNameChar(c byte, first, colon bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' ||
		colon && c == ':' || !first && c >= '0' && c <= '9'
}

// scanMetricName returns the length of the legacy metric name at s's start.
func scanMetricName(s string) int {
	i := 0
	for i < len(s) && isNameChar(s[i], i == 0, true) {
		i++
	}
	return i
}

func scanLabelName(s string) int {
	i := 0
	for i < len(s) && isNameChar(s[i], i == 0, false) {
		i++
	}
	return i
}

// legacyMetricName reports whether s needs no quotes: [a-zA-Z_:][a-zA-Z0-9_:]*.
func legacyMetricName(s string) bool { return s != "" && scanMetricName(s) == len(s) }

func legacyLabelName(s string) bool { return s != "" && scanLabelName(s) == len(s) }

// validName is the rule for metric and label names since Prometheus 3:
// any non-empty UTF-8; legacy names are the ones written without quotes.
func validName(s string) bool { return s != "" && utf8.ValidString(s) }

func badMetricName(s string) string {
	return fmt.Sprintf("invalid metric name %q: write [a-zA-Z_:][a-zA-Z0-9_:]*, or quote a UTF-8 name inside the braces: {\"my.metric\"}", clip(s))
}

func badLabelName(s string) string {
	return fmt.Sprintf("invalid label name %q: write [a-zA-Z_][a-zA-Z0-9_]*, or quote a UTF-8 name: {\"my.label\"=\"value\"}", clip(s))
}

// unquote reads a quoted string that follows its opening quote, returning
// it and what follows the closing quote. \\, \" and \n are the escapes of
// both formats; strict (text 0.0.4, names) refuses any other, while
// OpenMetrics keeps it as written, backslash and all.
func unquote(s string, strict bool) (string, string, error) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			return s[:i], s[i+1:], nil
		case '\\':
			return unquoteEscaped(s, i, strict)
		}
	}
	return "", "", errors.New("unterminated quoted value")
}

func unquoteEscaped(s string, i int, strict bool) (string, string, error) {
	var b strings.Builder
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", errors.New("unterminated quoted value")
			}
			i++
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			default:
				if strict {
					return "", "", fmt.Errorf("invalid escape sequence %q", s[i-1:i+1])
				}
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated quoted value")
}

// unescapeHelp undoes \\, \n and \" in HELP text. Any other backslash
// is an error when strict (text 0.0.4, as expfmt reads it) and stays as it
// is otherwise (OpenMetrics).
func unescapeHelp(s string, strict bool) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '\\', '"':
				b.WriteByte(s[i+1])
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		if s[i] == '\\' && strict {
			if i+1 == len(s) {
				return "", errors.New("a lone backslash ends the line (write \\\\)")
			}
			return "", fmt.Errorf("invalid escape sequence %q (write \\\\ for a backslash)", s[i:i+2])
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// sortLabels sorts by name; label sets are short, so insertion sort wins.
func sortLabels(ls []label) {
	if len(ls) > 12 {
		slices.SortFunc(ls, func(a, b label) int { return strings.Compare(a.name, b.name) })
		return
	}
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].name < ls[j-1].name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

func hasLabel(ls []label, name string) bool {
	for _, l := range ls {
		if l.name == name {
			return true
		}
	}
	return false
}

// sameLabels compares parsed labels with a metric's, both sorted.
func sameLabels(ls []label, ps []*dto.LabelPair) bool {
	if len(ls) != len(ps) {
		return false
	}
	for i, l := range ls {
		if l.name != ps[i].GetName() || l.value != ps[i].GetValue() {
			return false
		}
	}
	return true
}

func hashLabels(seed maphash.Seed, ls []label) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, l := range ls {
		h.WriteString(l.name)
		h.WriteByte(0xff)
		h.WriteString(l.value)
		h.WriteByte(0xff)
	}
	return h.Sum64()
}

// seriesOf formats a series for messages.
func seriesOf(name string, ls []label) string {
	if len(ls) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(clip(l.value)))
	}
	b.WriteByte('}')
	return b.String()
}

func seriesName(name string, m *dto.Metric) string {
	ls := make([]label, len(m.GetLabel()))
	for i, p := range m.GetLabel() {
		ls[i] = label{p.GetName(), p.GetValue()}
	}
	return seriesOf(name, ls)
}
