package config

import (
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// JobConfig is one entry of `jobs:`, used by `exec --job NAME`.
type JobConfig struct {
	// Labels are added to every metric of the job; values may use templates.
	Labels map[string]string `yaml:"labels,omitempty"`
	Sinks  []string          `yaml:"sinks,omitempty"`
	// Prefix makes every metric name PREFIX_NAME.
	Prefix  string      `yaml:"prefix,omitempty"`
	Metrics []JobMetric `yaml:"metrics,omitempty"`
}

// JobMetric is a custom metric in the Argo Workflows style. Exactly one of
// Counter, Gauge and Histogram is set.
type JobMetric struct {
	Name   string        `yaml:"name"`
	Help   string        `yaml:"help"`
	Labels []MetricLabel `yaml:"labels,omitempty"`
	// When, if set, is a condition (see CheckWhen) that must hold for the
	// metric to be recorded.
	When      string          `yaml:"when,omitempty"`
	Counter   *MetricValue    `yaml:"counter,omitempty"`
	Gauge     *MetricValue    `yaml:"gauge,omitempty"`
	Histogram *HistogramValue `yaml:"histogram,omitempty"`
}

// MetricLabel is one label of a job metric; Value may use templates.
type MetricLabel struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// MetricValue is a counter's increment or a gauge's value: a number, or a
// template that expands to one.
type MetricValue struct {
	Value string `yaml:"value"`
}

// HistogramValue is a histogram observation and its bucket bounds.
type HistogramValue struct {
	Value   string    `yaml:"value"`
	Buckets []float64 `yaml:"buckets"`
}

// Metric types of a JobMetric.
const (
	MetricCounter   = "counter"
	MetricGauge     = "gauge"
	MetricHistogram = "histogram"
)

// Type is MetricCounter, MetricGauge or MetricHistogram; empty if none is set.
func (m *JobMetric) Type() string {
	switch {
	case m.Counter != nil:
		return MetricCounter
	case m.Gauge != nil:
		return MetricGauge
	case m.Histogram != nil:
		return MetricHistogram
	}
	return ""
}

// BuiltinJobMetrics are the metrics exec always records; custom metrics may
// not reuse their names.
var BuiltinJobMetrics = []string{
	"job_duration_seconds", "job_exit_code", "job_last_run_timestamp_seconds",
	"job_last_success_timestamp_seconds", "job_runs_total",
}

var metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// UnmarshalYAML decodes and validates one job on its own.
func (j *JobConfig) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	j.decodeNode(d, n, "")
	return d.err()
}

func (j *JobConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	*j = JobConfig{}
	d.decodeFields(n, path, reflect.ValueOf(j).Elem())
	if d.has(join(path, "prefix")) && !metricNameRE.MatchString(j.Prefix) {
		d.errorf(join(path, "prefix"), "invalid metric name prefix %q", j.Prefix)
	}
	checkLabelNames(d, join(path, "labels"), j.Labels)
	for _, k := range sortedKeys(j.Labels) {
		if err := CheckTemplate(j.Labels[k]); err != nil {
			d.errorf(join(join(path, "labels"), k), "%v", err)
		}
	}
}

// UnmarshalYAML decodes and validates one job metric on its own.
func (m *JobMetric) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	m.decodeNode(d, n, "")
	return d.err()
}

func (m *JobMetric) decodeNode(d *decoder, n *yaml.Node, path string) {
	*m = JobMetric{}
	d.decodeFields(n, path, reflect.ValueOf(m).Elem())
	switch {
	case m.Name == "":
		d.errorf(path, "name is required")
	case !metricNameRE.MatchString(m.Name):
		d.errorf(join(path, "name"), "invalid metric name %q", m.Name)
	case isBuiltinJobMetric(m.Name):
		d.errorf(join(path, "name"), "%q is a metric exec records itself", m.Name)
	}
	if m.Help == "" {
		d.errorf(path, "help is required")
	}
	var types []string
	for _, t := range []string{MetricCounter, MetricGauge, MetricHistogram} {
		if d.has(join(path, t)) {
			types = append(types, t)
		}
	}
	switch len(types) {
	case 0:
		d.errorf(path, "one of counter, gauge or histogram is required")
	case 1:
	default:
		d.errorf(join(path, types[1]), "%s and %s exclude each other: set only one", types[0], types[1])
	}
	if m.When != "" {
		if err := CheckWhen(m.When); err != nil {
			d.errorf(join(path, "when"), "%v", err)
		}
	}
	seen := map[string]bool{}
	for i, l := range m.Labels {
		lp := index(join(path, "labels"), i)
		switch {
		case !labelNameRE.MatchString(l.Key) || strings.HasPrefix(l.Key, "__"):
			d.errorf(lp, "invalid label name %q", l.Key)
		case seen[l.Key]:
			d.errorf(lp, "label %q given twice", l.Key)
		case l.Key == "le" && m.Histogram != nil:
			d.errorf(lp, `label "le" is reserved in a histogram`)
		}
		seen[l.Key] = true
		if err := CheckTemplate(l.Value); err != nil {
			d.errorf(join(lp, "value"), "%v", err)
		}
	}
	switch {
	case m.Counter != nil:
		checkValue(d, join(path, "counter"), m.Counter.Value, true)
	case m.Gauge != nil:
		checkValue(d, join(path, "gauge"), m.Gauge.Value, false)
	case m.Histogram != nil:
		hp := join(path, "histogram")
		checkValue(d, hp, m.Histogram.Value, false)
		b := m.Histogram.Buckets
		if len(b) == 0 {
			d.errorf(hp, "buckets are required")
		}
		for i, v := range b {
			switch {
			case math.IsNaN(v):
				d.errorf(index(join(hp, "buckets"), i), "bucket is NaN")
			case i > 0 && v <= b[i-1]:
				d.errorf(index(join(hp, "buckets"), i), "buckets must be strictly increasing (%g after %g)", v, b[i-1])
			}
		}
	}
}

// checkValue checks a metric value: a template, or a literal number (not
// negative for a counter).
func checkValue(d *decoder, path, v string, counter bool) {
	vp := join(path, "value")
	if v == "" {
		d.errorf(path, "value is required")
		return
	}
	if strings.Contains(v, "{{") || strings.Contains(v, "}}") {
		if err := CheckTemplate(v); err != nil {
			d.errorf(vp, "%v", err)
		}
		return
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	switch {
	case err != nil:
		d.errorf(vp, "%q is neither a number nor a template", v)
	case counter && f < 0:
		d.errorf(vp, "a counter cannot go down (%q)", v)
	}
}

func isBuiltinJobMetric(name string) bool {
	for _, b := range BuiltinJobMetrics {
		if name == b {
			return true
		}
	}
	return false
}

// checkJobMetricConflicts refuses one metric name with two helps or types,
// across all jobs: a Pushgateway refuses such pushes.
func checkJobMetricConflicts(d *decoder, jobs map[string]*JobConfig) {
	type first struct{ help, typ, path string }
	seen := map[string]first{}
	for _, name := range sortedKeys(jobs) {
		j := jobs[name]
		for i := range j.Metrics {
			m := &j.Metrics[i]
			if m.Name == "" || m.Type() == "" {
				continue
			}
			full := m.Name
			if j.Prefix != "" {
				full = j.Prefix + "_" + m.Name
			}
			p := index(join(join("jobs", name), "metrics"), i)
			f, ok := seen[full]
			switch {
			case !ok:
				seen[full] = first{m.Help, m.Type(), p}
			case f.typ != m.Type():
				d.errorf(p, "metric %q is a %s here but a %s at %s", full, m.Type(), f.typ, f.path)
			case f.help != m.Help:
				d.errorf(p, "metric %q has a different help than at %s", full, f.path)
			}
		}
	}
}
