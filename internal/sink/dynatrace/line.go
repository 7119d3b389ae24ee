package dynatrace

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// The limits of the Dynatrace metric ingestion protocol (Metrics API v2).
// Every protocol rule the serializer applies lives in this file, so that a
// change of the protocol is a change of one file; the strict fake (dtfake)
// shares these numbers but checks lines with its own grammar.
const (
	// MinKeyLen and MaxKeyLen bound a metric key. Newer documentation says
	// 255; the older 250 is accepted everywhere.
	MinKeyLen = 3
	MaxKeyLen = 250
	// MaxDimKeyLen bounds a dimension key.
	MaxDimKeyLen = 100
	// MaxDimValueLen bounds a dimension value, in characters (not bytes),
	// before escaping.
	MaxDimValueLen = 250
	// MaxDims is the number of dimensions one line may carry.
	MaxDims = 50
	// MaxLineLen bounds a whole line, in characters.
	MaxLineLen = 50000
	// MaxLinesPerRequest is what every Dynatrace library sends at most per
	// request and what the OneAgent endpoint accepts.
	MaxLinesPerRequest = 1000
	// MaxBytesPerRequest is the request body limit (413 above).
	MaxBytesPerRequest = 1000000
	// TimestampMaxAge and TimestampMaxAhead bound a line's timestamp
	// relative to the receiver's clock.
	TimestampMaxAge   = 60 * 60 * 1000 // ms
	TimestampMaxAhead = 10 * 60 * 1000 // ms
	// ReservedKeyPrefix starts keys only Dynatrace itself may use.
	ReservedKeyPrefix = "dt."
)

// sendTimestampMaxAge and sendTimestampMaxAhead bound the batch start
// times the sink sends as line timestamps; a batch outside (an old spooled
// one) is sent without, so Dynatrace stamps it on arrival instead of
// rejecting it. The margins cover the time in flight and clock skew.
const (
	sendTimestampMaxAge   = 55 * time.Minute
	sendTimestampMaxAhead = 5 * time.Minute
)

// timestampWidth is the most a timestamp adds to a line (" " + 13 digits);
// lines are length-checked as if they carried one, so whether a redelivered
// batch still gets timestamps never changes which lines it holds.
const timestampWidth = 14

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// keyChar reports whether c may appear in a metric key section.
func keyChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' || c == '-' }

// dimKeyChar reports whether c may appear in a (lower-cased) dimension key
// section.
func dimKeyChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || isDigit(c) || c == '_' || c == '-' || c == ':'
}

// NormalizeKey turns a Prometheus metric name (optionally joined to a
// prefix) into a valid metric key, or returns "" when nothing usable is
// left. Characters outside [A-Za-z0-9_-] become '_' (a run of them one '_'),
// empty sections are dropped, a section that starts with a digit or '-' gets
// a leading '_' (the live service rejects such sections even where the docs
// allow them), a reserved "dt" first section becomes "_dt", keys are cut to
// MaxKeyLen at a section boundary when possible and padded with '_' to
// MinKeyLen.
func NormalizeKey(name string) string {
	if validKey(name) {
		return name
	}
	out := make([]byte, 0, len(name)+2)
	section := 0 // length of the current output section
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '.' {
			if section > 0 {
				out = append(out, '.')
				section = 0
			}
			continue
		}
		if !keyChar(c) {
			if section > 0 && out[len(out)-1] == '_' {
				continue
			}
			c = '_'
		}
		if section == 0 && (isDigit(c) || c == '-') {
			out = append(out, '_')
			section++
		}
		out = append(out, c)
		section++
	}
	if len(out) > 0 && out[len(out)-1] == '.' {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return ""
	}
	if len(out) >= 2 && out[0] == 'd' && out[1] == 't' && (len(out) == 2 || out[2] == '.') {
		out = append([]byte{'_'}, out...)
	}
	if len(out) > MaxKeyLen {
		out = out[:MaxKeyLen]
		for len(out) > 0 && out[len(out)-1] == '.' {
			out = out[:len(out)-1]
		}
	}
	for len(out) < MinKeyLen {
		out = append(out, '_')
	}
	return string(out)
}

// validKey is NormalizeKey's fast path: true when name needs no change.
func validKey(name string) bool {
	if len(name) < MinKeyLen || len(name) > MaxKeyLen {
		return false
	}
	if name[0] == 'd' && name[1] == 't' && name[2] == '.' {
		return false
	}
	start := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
		case start:
			if !isLetter(c) && c != '_' {
				return false
			}
			start = false
		case !keyChar(c):
			return false
		}
	}
	return !start
}

// NormalizeDimKey turns a label name into a valid dimension key, or returns
// "" when nothing usable is left (the dimension is then dropped). Upper case
// is folded to lower case (the protocol rejects it rather than folding),
// other characters outside [a-z0-9_:-] become '_', a section starting with a
// digit, '-' or ':' gets a leading '_', and the key is cut to MaxDimKeyLen.
func NormalizeDimKey(name string) string {
	if validDimKey(name) {
		return name
	}
	out := make([]byte, 0, len(name)+2)
	section := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '.' {
			if section > 0 {
				out = append(out, '.')
				section = 0
			}
			continue
		}
		if !dimKeyChar(c) {
			if section > 0 && out[len(out)-1] == '_' {
				continue
			}
			c = '_'
		}
		if section == 0 && !isLetter(c) && c != '_' {
			out = append(out, '_')
			section++
		}
		out = append(out, c)
		section++
	}
	if len(out) > MaxDimKeyLen {
		out = out[:MaxDimKeyLen]
	}
	for len(out) > 0 && out[len(out)-1] == '.' {
		out = out[:len(out)-1]
	}
	return string(out)
}

// validDimKey is NormalizeDimKey's fast path.
func validDimKey(name string) bool {
	if name == "" || len(name) > MaxDimKeyLen {
		return false
	}
	start := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
		case start:
			if !(c >= 'a' && c <= 'z') && c != '_' {
				return false
			}
			start = false
		case !dimKeyChar(c):
			return false
		}
	}
	return !start
}

// needsEscape lists the bytes an unquoted dimension value escapes.
func needsEscape(c byte) bool {
	return c == ',' || c == '=' || c == ' ' || c == '\\' || c == '"'
}

// appendDimValue appends v as an unquoted, escaped dimension value: control
// characters and invalid UTF-8 removed, cut to MaxDimValueLen characters
// without splitting one. It reports false, appending nothing, when nothing
// is left (empty values are dropped, not sent).
func appendDimValue(dst []byte, v string) ([]byte, bool) {
	// Fast path: short printable ASCII with nothing to escape.
	simple := len(v) <= MaxDimValueLen && v != ""
	for i := 0; simple && i < len(v); i++ {
		c := v[i]
		simple = c >= 0x20 && c < 0x7f && !needsEscape(c)
	}
	if simple {
		return append(dst, v...), true
	}
	start := len(dst)
	chars := 0
	for i := 0; i < len(v) && chars < MaxDimValueLen; {
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size <= 1 || unicode.IsControl(r) {
			i += size
			continue
		}
		if size == 1 && needsEscape(v[i]) {
			dst = append(dst, '\\')
		}
		dst = append(dst, v[i:i+size]...)
		i += size
		chars++
	}
	return dst, len(dst) > start
}

// appendFloat appends v in the shortest form that parses back to v. The
// caller has excluded NaN and ±Inf, which the protocol cannot carry.
func appendFloat(dst []byte, v float64) []byte {
	if v > -1e15 && v < 1e15 && v == float64(int64(v)) {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// lineChars counts the characters of a line; only lines whose byte length
// exceeds the limit need counting.
func lineChars(line []byte) int {
	if len(line) <= MaxLineLen-timestampWidth {
		return len(line)
	}
	return utf8.RuneCount(line)
}

// unitFor derives dt.meta.unit from a Prometheus base-unit suffix; "" when
// the name says nothing.
func unitFor(name string) string {
	for _, s := range [...]struct{ suffix, unit string }{
		{"_seconds", "Second"}, {"_seconds_total", "Second"},
		{"_bytes", "Byte"}, {"_bytes_total", "Byte"},
	} {
		if len(name) > len(s.suffix) && name[len(name)-len(s.suffix):] == s.suffix {
			return s.unit
		}
	}
	return ""
}
