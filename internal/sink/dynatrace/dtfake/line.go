package dtfake

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
)

// The checks below are written from the protocol description, not from the
// serializer: only the numeric limits are shared.

var number = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// CheckLine reports why Dynatrace would reject line, or nil. now is the
// receiver's clock for the timestamp window.
func CheckLine(line string, now time.Time) error {
	if !utf8.ValidString(line) {
		return errors.New("line is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(line); n > dynatrace.MaxLineLen {
		return fmt.Errorf("line has %d characters, more than %d", n, dynatrace.MaxLineLen)
	}
	if strings.HasPrefix(line, "#") {
		return checkMetadata(line[1:])
	}
	end := strings.IndexAny(line, ", ")
	if end < 0 {
		return errors.New("no payload")
	}
	if err := checkKey(line[:end]); err != nil {
		return err
	}
	rest := line[end:]
	dims := 0
	for strings.HasPrefix(rest, ",") {
		var err error
		if rest, err = dimension(rest[1:]); err != nil {
			return err
		}
		if dims++; dims > dynatrace.MaxDims {
			return fmt.Errorf("more than %d dimensions", dynatrace.MaxDims)
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return errors.New("missing space before the payload")
	}
	payload, ts, hasTS := strings.Cut(rest[1:], " ")
	if err := checkPayload(payload); err != nil {
		return err
	}
	if hasTS {
		return checkTimestamp(ts, now)
	}
	return nil
}

// checkKey applies the metric key rules, including the live service's
// refusal of any section that starts with a digit or '-'.
func checkKey(key string) error {
	if len(key) < dynatrace.MinKeyLen || len(key) > dynatrace.MaxKeyLen {
		return fmt.Errorf("metric key %q must have %d to %d characters", key, dynatrace.MinKeyLen, dynatrace.MaxKeyLen)
	}
	if strings.HasPrefix(key, dynatrace.ReservedKeyPrefix) {
		return fmt.Errorf("metric key %q uses the reserved prefix %q", key, dynatrace.ReservedKeyPrefix)
	}
	for _, sec := range strings.Split(key, ".") {
		if sec == "" {
			return fmt.Errorf("metric key %q has an empty section", key)
		}
		if c := sec[0]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '_' {
			return fmt.Errorf("metric key %q has a section starting with %q", key, c)
		}
		for _, r := range sec {
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-' {
				return fmt.Errorf("metric key %q has invalid character %q", key, r)
			}
		}
	}
	return nil
}

func checkDimKey(key string) error {
	if key == "" || len(key) > dynatrace.MaxDimKeyLen {
		return fmt.Errorf("dimension key %q must have 1 to %d characters", key, dynatrace.MaxDimKeyLen)
	}
	for _, sec := range strings.Split(key, ".") {
		if sec == "" {
			return fmt.Errorf("dimension key %q has an empty section", key)
		}
		if c := sec[0]; !(c >= 'a' && c <= 'z' || c == '_') {
			return fmt.Errorf("dimension key %q has a section starting with %q", key, c)
		}
		for _, r := range sec {
			if r >= 'A' && r <= 'Z' {
				return fmt.Errorf("dimension key %q must be lower case", key)
			}
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == ':') {
				return fmt.Errorf("dimension key %q has invalid character %q", key, r)
			}
		}
	}
	return nil
}

// dimension parses "key=value" at the start of s and returns what follows.
func dimension(s string) (string, error) {
	eq := strings.IndexAny(s, "=, ")
	if eq < 0 || s[eq] != '=' {
		return "", errors.New("dimension without '='")
	}
	if err := checkDimKey(s[:eq]); err != nil {
		return "", err
	}
	_, rest, err := value(s[eq+1:])
	return rest, err
}

// value parses a quoted or unquoted dimension value at the start of s,
// returning it unescaped and what follows it.
func value(s string) (string, string, error) {
	var b strings.Builder
	quoted := strings.HasPrefix(s, `"`)
	i := 0
	if quoted {
		i = 1
	}
	closed := false
loop:
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsControl(r):
			return "", "", fmt.Errorf("dimension value has control character %q", r)
		case r == '\\':
			if i+1 >= len(s) {
				return "", "", errors.New("dimension value ends in a backslash")
			}
			e := s[i+1]
			if !(e == '"' || e == '\\' || !quoted && (e == ',' || e == '=' || e == ' ')) {
				return "", "", fmt.Errorf("dimension value has invalid escape \\%c", e)
			}
			b.WriteByte(e)
			i += 2
			continue
		case quoted && r == '"':
			i++
			closed = true
			break loop
		case !quoted && (r == ',' || r == ' '):
			break loop
		case !quoted && (r == '"' || r == '='):
			return "", "", fmt.Errorf("dimension value has unescaped %q", r)
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	if quoted && !closed {
		return "", "", errors.New("dimension value has no closing quote")
	}
	v := b.String()
	if v == "" {
		return "", "", errors.New("dimension value is empty")
	}
	if n := utf8.RuneCountInString(v); n > dynatrace.MaxDimValueLen {
		return "", "", fmt.Errorf("dimension value has %d characters, more than %d", n, dynatrace.MaxDimValueLen)
	}
	rest := s[i:]
	if rest != "" && rest[0] != ',' && rest[0] != ' ' {
		return "", "", errors.New("dimension value followed by garbage")
	}
	return v, rest, nil
}

func parseNumber(s string) (float64, error) {
	if !number.MatchString(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return v, nil
}

func checkPayload(p string) error {
	switch {
	case strings.HasPrefix(p, "count,"):
		d, ok := strings.CutPrefix(p[len("count,"):], "delta=")
		if !ok {
			return fmt.Errorf("count payload %q is not count,delta=D (cumulative counts are not accepted)", p)
		}
		v, err := parseNumber(d)
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("negative count delta %s", d)
		}
		return nil
	case strings.HasPrefix(p, "gauge,"):
		body := p[len("gauge,"):]
		if !strings.Contains(body, "=") {
			_, err := parseNumber(body)
			return err
		}
		return checkSummary(body)
	}
	_, err := parseNumber(p) // a bare value is a gauge
	return err
}

func checkSummary(body string) error {
	vals := map[string]float64{}
	for _, kv := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("gauge field %q has no '='", kv)
		}
		if k != "min" && k != "max" && k != "sum" && k != "count" {
			return fmt.Errorf("unknown gauge field %q", k)
		}
		if _, dup := vals[k]; dup {
			return fmt.Errorf("gauge field %q repeated", k)
		}
		n, err := parseNumber(v)
		if err != nil {
			return err
		}
		vals[k] = n
	}
	if len(vals) != 4 {
		return errors.New("gauge summary needs min, max, sum and count")
	}
	count := vals["count"]
	if count < 1 || count != math.Trunc(count) {
		return fmt.Errorf("gauge count %v must be an integer >= 1", count)
	}
	if mean := vals["sum"] / count; !(vals["min"] <= mean && mean <= vals["max"]) {
		return fmt.Errorf("gauge needs min <= sum/count <= max, got min=%v avg=%v max=%v", vals["min"], mean, vals["max"])
	}
	return nil
}

func checkTimestamp(ts string, now time.Time) error {
	for _, c := range ts {
		if c < '0' || c > '9' {
			return fmt.Errorf("timestamp %q is not UTC milliseconds", ts)
		}
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts == "" {
		return fmt.Errorf("timestamp %q is not UTC milliseconds", ts)
	}
	nowMS := now.UnixMilli()
	if ms < nowMS-dynatrace.TimestampMaxAge || ms > nowMS+dynatrace.TimestampMaxAhead {
		return fmt.Errorf("timestamp %d is outside [now-1h, now+10m]", ms)
	}
	return nil
}

// checkMetadata checks "key gauge|count dt.meta.x=v,..." (without '#').
func checkMetadata(s string) error {
	parts := strings.SplitN(s, " ", 3)
	if len(parts) != 3 {
		return errors.New("metadata line needs key, type and properties")
	}
	if err := checkKey(parts[0]); err != nil {
		return err
	}
	if parts[1] != "gauge" && parts[1] != "count" {
		return fmt.Errorf("metadata type %q is not gauge or count", parts[1])
	}
	rest := "," + parts[2]
	for rest != "" {
		if rest[0] != ',' {
			return errors.New("metadata properties must be separated by ','")
		}
		k, v, ok := strings.Cut(rest[1:], "=")
		if !ok {
			return errors.New("metadata property without '='")
		}
		switch k {
		case "dt.meta.displayName", "dt.meta.description", "dt.meta.unit":
		default:
			return fmt.Errorf("unknown metadata property %q", k)
		}
		var err error
		if _, rest, err = value(v); err != nil {
			return err
		}
		if strings.HasPrefix(rest, " ") {
			return errors.New("metadata line has trailing data")
		}
	}
	return nil
}
