package job

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/config"
)

// Vars are the values of the template variables of one finished run. The
// language (`{{status}}`, `{{duration}}`, `{{exitCode}}`, `{{job.name}}`,
// `{{env.NAME}}`, `{{=EXPR}}`, and Argo's `when` conditions evaluated by
// expr-lang/expr) is config's, which compiled every template and condition
// at load time; this only supplies the values.
type Vars struct {
	Status   string
	Duration float64 // seconds
	ExitCode int
	JobName  string
	// Getenv reads {{env.NAME}}; an unset variable expands to "".
	Getenv func(string) string
}

// Lookup answers a variable by name, as config.ExpandTemplate asks.
func (v Vars) Lookup(name string) (string, bool) {
	switch name {
	case "status":
		return v.Status, true
	case "duration":
		return strconv.FormatFloat(v.Duration, 'f', -1, 64), true
	case "exitCode":
		return strconv.Itoa(v.ExitCode), true
	case "job.name":
		return v.JobName, true
	}
	if env, ok := strings.CutPrefix(name, "env."); ok {
		if v.Getenv == nil {
			return "", true
		}
		return v.Getenv(env), true
	}
	return "", false
}

// CustomMetrics evaluates the Argo-style metrics of a job after its run:
// each metric whose `when` holds becomes a family of one series, named
// prefix_name when prefix is set. A counter carries this run's increment,
// a histogram this run's one observation (pushgateway.Accumulate continues
// both from what the group holds). A metric that cannot be evaluated (a value
// that does not expand to a number) is left out and reported in the
// returned error; the others are still returned.
func CustomMetrics(metrics []config.JobMetric, prefix string, vars Vars) ([]*dto.MetricFamily, error) {
	var fams []*dto.MetricFamily
	var errs []string
	for i := range metrics {
		mf, err := customMetric(&metrics[i], prefix, vars)
		if err != nil {
			errs = append(errs, fmt.Sprintf("metric %s: %v", metrics[i].Name, err))
			continue
		}
		if mf != nil {
			fams = append(fams, mf)
		}
	}
	if len(errs) > 0 {
		return fams, fmt.Errorf("custom metrics: %s", strings.Join(errs, "; "))
	}
	return fams, nil
}

// customMetric is one metric's family, or nil when its `when` is false.
func customMetric(m *config.JobMetric, prefix string, vars Vars) (*dto.MetricFamily, error) {
	ok, err := config.EvalWhen(m.When, vars.Lookup)
	if err != nil {
		return nil, fmt.Errorf("when: %w", err)
	}
	if !ok {
		return nil, nil
	}
	metric := &dto.Metric{}
	for _, l := range m.Labels {
		v, err := config.ExpandTemplate(l.Value, vars.Lookup)
		if err != nil {
			return nil, fmt.Errorf("label %s: %w", l.Key, err)
		}
		metric.Label = append(metric.Label, pair(l.Key, v))
	}
	sortPairs(metric.Label)
	mf := &dto.MetricFamily{Name: ptr(prefixed(prefix, m.Name)), Help: ptr(m.Help), Metric: []*dto.Metric{metric}}
	switch {
	case m.Counter != nil:
		v, err := value(m.Counter.Value, vars)
		if err != nil {
			return nil, err
		}
		if v < 0 {
			return nil, fmt.Errorf("a counter cannot go down (%g)", v)
		}
		mf.Type = dto.MetricType_COUNTER.Enum()
		metric.Counter = &dto.Counter{Value: &v}
	case m.Gauge != nil:
		v, err := value(m.Gauge.Value, vars)
		if err != nil {
			return nil, err
		}
		mf.Type = dto.MetricType_GAUGE.Enum()
		metric.Gauge = &dto.Gauge{Value: &v}
	case m.Histogram != nil:
		v, err := value(m.Histogram.Value, vars)
		if err != nil {
			return nil, err
		}
		mf.Type = dto.MetricType_HISTOGRAM.Enum()
		metric.Histogram = observe(m.Histogram.Buckets, v)
	default:
		return nil, fmt.Errorf("no counter, gauge or histogram")
	}
	return mf, nil
}

// value expands a metric value and reads it as a number.
func value(tmpl string, vars Vars) (float64, error) {
	s, err := config.ExpandTemplate(tmpl, vars.Lookup)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) {
		return 0, fmt.Errorf("value %q (from %q) is not a number", s, tmpl)
	}
	return v, nil
}

// observe is a histogram holding the single observation v.
func observe(bounds []float64, v float64) *dto.Histogram {
	h := &dto.Histogram{SampleCount: ptr(uint64(1)), SampleSum: ptr(v)}
	for _, b := range bounds {
		n := uint64(0)
		if v <= b {
			n = 1
		}
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: ptr(b), CumulativeCount: ptr(n)})
	}
	return h
}

func prefixed(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "_" + name
}
