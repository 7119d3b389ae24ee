package exposition

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"

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

func validMetricName(s string) bool { return s != "" && scanMetricName(s) == len(s) }

func validLabelName(s string) bool { return s != "" && scanLabelName(s) == len(s) }

func badMetricName(s string) string {
	return fmt.Sprintf("invalid metric name %q: only [a-zA-Z_:][a-zA-Z0-9_:]* is supported", clip(s))
}

func badLabelName(s string) string {
	return fmt.Sprintf("invalid label name %q: only [a-zA-Z_][a-zA-Z0-9_]* is supported", clip(s))
}

// parseFloat reads a sample value, including +Inf, -Inf and NaN.
func parseFloat(s string) (float64, error) {
	return strconv.ParseFloat(s, 64)
}

// unquote reads a label value that follows its opening quote, returning it
// and what follows the closing quote. Only \\, \" and \n are escapes, as in
// both formats (and in the Pushgateway's parser).
func unquote(s string) (string, string, error) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			return s[:i], s[i+1:], nil
		case '\\':
			return unquoteEscaped(s, i)
		}
	}
	return "", "", errors.New("unterminated quoted value")
}

func unquoteEscaped(s string, i int) (string, string, error) {
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
				return "", "", fmt.Errorf("invalid escape sequence %q", s[i-1:i+1])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated quoted value")
}

// unescapeHelp undoes \\, \n and \" in HELP text. Other backslashes stay as
// they are: Prometheus itself reads them so, and HELP is only prose.
func unescapeHelp(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
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
		b.WriteByte(s[i])
	}
	return b.String()
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
