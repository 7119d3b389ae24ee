package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Bytes is a size written the way operators write sizes: a plain integer, or
// a number with a unit, 1000-based (`kB`, `MB`, `GB`, `TB`) or 1024-based
// (`KiB`, `MiB`, `GiB`, `TiB`); `B` is bytes. Examples: `1GiB`, `512MiB`,
// `10MB`, `65536`.
type Bytes int64

var byteUnits = []struct {
	suffix string
	mult   float64
}{
	// Longer suffixes first so that "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes parses a size such as `512MiB`; negative sizes are refused.
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	if t == "" {
		return 0, errors.New("missing number")
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 {
			return 0, errors.New("negative size")
		}
		if float64(n)*mult > math.MaxInt64/2 {
			return 0, errors.New("size too large")
		}
		return Bytes(n * int64(mult)), nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(t, "xXpP_") {
		return 0, fmt.Errorf("invalid number %q", t)
	}
	if f < 0 {
		return 0, errors.New("negative size")
	}
	if f*mult > math.MaxInt64/2 {
		return 0, errors.New("size too large")
	}
	return Bytes(f * mult), nil
}

// String writes the size with the largest 1024-based unit that divides it.
func (b Bytes) String() string {
	units := []string{"TiB", "GiB", "MiB", "KiB"}
	for i, u := range units {
		m := Bytes(1) << (10 * (len(units) - i))
		if b != 0 && b%m == 0 {
			return strconv.FormatInt(int64(b/m), 10) + u
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalYAML writes the size as String does, so it loads back the same.
func (b Bytes) MarshalYAML() (any, error) {
	return b.String(), nil
}

// UnmarshalYAML lets a Bytes be decoded on its own with yaml.v3.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	b.decodeNode(d, n, "")
	return d.err()
}

func (b *Bytes) decodeNode(d *decoder, n *yaml.Node, path string) {
	if !d.scalar(n, path, "a size") {
		return
	}
	v, err := ParseBytes(n.Value)
	if err != nil {
		d.addf(n.Line, path, "invalid size %q: %v", n.Value, err)
		return
	}
	*b = v
}
