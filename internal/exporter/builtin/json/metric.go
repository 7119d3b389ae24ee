package jsonexporter

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// What a metric does with a value it cannot use (`missing:`).
const (
	MissingSkip  = "skip"
	MissingZero  = "zero"
	MissingError = "error"
)

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// MetricOptions is one entry of `metrics:`; the package documentation
// describes each key.
type MetricOptions struct {
	Name     string             `yaml:"name"`
	Help     string             `yaml:"help"`
	Type     string             `yaml:"type"`
	Path     string             `yaml:"path"`
	Value    string             `yaml:"value"`
	Count    bool               `yaml:"count"`
	Labels   map[string]string  `yaml:"labels"`
	ValueMap map[string]float64 `yaml:"value_map"`
	Scale    string             `yaml:"scale"`
	Missing  string             `yaml:"missing"`
}

type metric struct {
	name, help string
	counter    bool
	path       Path
	// value is relative to each element; without steps it is the element.
	value      Path
	count      bool
	labelNames []string
	labelPaths []Path
	valueMap   map[string]float64
	// scale multiplies numbers taken from the document (not value_map
	// results or counts), e.g. 0.001 for milliseconds to seconds; nil is 1.
	// It is exact, so 65210 ms is 65.21 s and not 65.21000000000001.
	scale   *big.Rat
	missing string
}

func newMetric(o MetricOptions) (*metric, error) {
	if !metricNameRE.MatchString(o.Name) {
		return nil, fmt.Errorf("name: %q is not a metric name", o.Name)
	}
	m := &metric{name: o.Name, help: o.Help, count: o.Count, valueMap: o.ValueMap, missing: cmpOr(o.Missing, MissingSkip)}
	if o.Scale != "" {
		r, ok := new(big.Rat).SetString(o.Scale)
		if !ok || r.Sign() == 0 || len(o.Scale) > 32 {
			return nil, fmt.Errorf("scale: %q is not a non-zero number", o.Scale)
		}
		m.scale = r
	}
	switch o.Type {
	case "", "gauge":
	case "counter":
		m.counter = true
	default:
		return nil, fmt.Errorf("type: %q is neither gauge nor counter", o.Type)
	}
	switch m.missing {
	case MissingSkip, MissingZero, MissingError:
	default:
		return nil, fmt.Errorf("missing: %q is none of skip, zero and error", o.Missing)
	}
	if o.Path == "" {
		return nil, errors.New("path: required")
	}
	var err error
	if m.path, err = ParsePath(o.Path); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if m.help == "" {
		m.help = "Value at " + m.path.String() + " in the JSON document."
	}
	switch {
	case o.Count && o.Value != "":
		return nil, errors.New("value and count exclude each other")
	case o.Count && len(o.ValueMap) > 0:
		return nil, errors.New("value_map has no use with count")
	case o.Count && o.Scale != "":
		return nil, errors.New("scale has no use with count")
	case o.Value != "":
		if m.value, err = singular(o.Value); err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(o.Labels)) {
		if !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__") {
			return nil, fmt.Errorf("labels: %q is not a label name", name)
		}
		p, err := singular(o.Labels[name])
		if err != nil {
			return nil, fmt.Errorf("labels.%s: %w", name, err)
		}
		m.labelNames = append(m.labelNames, name)
		m.labelPaths = append(m.labelPaths, p)
	}
	return m, nil
}

// singular parses a path that must select one value per element.
func singular(s string) (Path, error) {
	p, err := ParsePath(s)
	if err != nil {
		return p, err
	}
	if !p.Singular() {
		return p, fmt.Errorf("%s may select several values, but value and labels take one per element: use only keys and indexes", s)
	}
	return p, nil
}

type sample struct {
	labels []string
	value  float64
}

// evaluate turns doc into this metric's samples and counts what it
// skipped under its missing policy.
func (m *metric) evaluate(doc any) (samples []sample, skipped int, err error) {
	elems, missing := m.path.Eval(doc)
	if missing > 0 {
		switch {
		case m.missing == MissingError:
			return nil, 0, fmt.Errorf("path %s: %d value(s) missing or null", m.path, missing)
		case m.missing == MissingZero && m.path.Singular():
			samples = append(samples, sample{labels: make([]string, len(m.labelNames))})
		default:
			skipped += missing
		}
	}
	seen := map[string]bool{}
	for _, el := range elems {
		labels := make([]string, len(m.labelPaths))
		for i, lp := range m.labelPaths {
			if labels[i], err = labelValue(lp, el); err != nil {
				return nil, 0, fmt.Errorf("label %s (%s): %w", m.labelNames[i], lp, err)
			}
		}
		v, problem, err := m.valueOf(el)
		if err != nil {
			return nil, 0, fmt.Errorf("%s%s: %w", m.name, m.describe(labels), err)
		}
		if problem != "" {
			switch m.missing {
			case MissingError:
				return nil, 0, fmt.Errorf("%s%s: %s", m.name, m.describe(labels), problem)
			case MissingZero:
				v = 0
			default:
				skipped++
				continue
			}
		}
		if m.counter && v < 0 {
			return nil, 0, fmt.Errorf("%s%s: a counter cannot be %v", m.name, m.describe(labels), v)
		}
		key := strings.Join(labels, "\xff")
		if seen[key] {
			return nil, 0, fmt.Errorf("%s%s selected twice; add a label that tells the elements apart", m.name, m.describe(labels))
		}
		seen[key] = true
		samples = append(samples, sample{labels: labels, value: v})
	}
	return samples, skipped, nil
}

// valueOf is the number an element stands for. A value the missing policy
// handles comes back as a problem; a value that can never be a number (an
// object or array where a scalar belongs) is an error.
func (m *metric) valueOf(el any) (v float64, problem string, err error) {
	if m.count {
		switch t := el.(type) {
		case []any:
			return float64(len(t)), "", nil
		case map[string]any:
			return float64(len(t)), "", nil
		}
		return 0, fmt.Sprintf("%s is not an array or object to count", m.path), nil
	}
	vals, _ := m.value.Eval(el)
	if len(vals) == 0 {
		return 0, fmt.Sprintf("value %s missing or null", m.value), nil
	}
	switch t := vals[0].(type) {
	case json.Number:
		f, err := strconv.ParseFloat(t.String(), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Sprintf("value %s: %s is not a number", m.value, t), nil
		}
		return m.scaled(t.String(), f), "", nil
	case float64:
		return m.scaled(strconv.FormatFloat(t, 'g', -1, 64), t), "", nil
	case bool:
		if t {
			return 1, "", nil
		}
		return 0, "", nil
	case string:
		if f, ok := m.valueMap[t]; ok {
			return f, "", nil
		}
		text := strings.TrimSpace(t)
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return 0, fmt.Sprintf("value %s: %q is neither a number nor in value_map", m.value, printable(t)), nil
		}
		return m.scaled(text, f), "", nil
	}
	return 0, "", fmt.Errorf("value %s selects an object or array; count: true counts one", m.value)
}

// scaled is f, whose decimal text is text, times the scale: computed
// exactly and rounded once. Infinities, NaN, zero and long texts are only
// multiplied: their text may be "Inf" or "1e999999999", which must not
// become a billion-digit rational.
func (m *metric) scaled(text string, f float64) float64 {
	if m.scale == nil {
		return f
	}
	scale, _ := m.scale.Float64()
	if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) || len(text) > 64 {
		return f * scale
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return f * scale
	}
	out, _ := r.Mul(r, m.scale).Float64()
	return out
}

// labelValue is the text of a label; missing or null is the empty value,
// which Prometheus treats as no label at all.
func labelValue(p Path, el any) (string, error) {
	vals, _ := p.Eval(el)
	if len(vals) == 0 {
		return "", nil
	}
	switch t := vals[0].(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(t), nil
	}
	return "", errors.New("selects an object or array, not a value")
}

// describe writes labels the way an exposition line does, for messages.
func (m *metric) describe(labels []string) string {
	if len(labels) == 0 {
		return ""
	}
	parts := make([]string, len(labels))
	for i, v := range labels {
		parts[i] = fmt.Sprintf("%s=%q", m.labelNames[i], printable(v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// printable shortens document text for a message.
func printable(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		s = strings.ToValidUTF8(s[:maxLen], "") + "..."
	}
	return s
}

func (m *metric) collector(samples []sample) prometheus.Collector {
	if m.counter {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.name, Help: m.help}, m.labelNames)
		for _, s := range samples {
			c.WithLabelValues(s.labels...).Add(s.value)
		}
		return c
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: m.name, Help: m.help}, m.labelNames)
	for _, s := range samples {
		g.WithLabelValues(s.labels...).Set(s.value)
	}
	return g
}
