package run

import (
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exposition"
)

// The outcome series every answer of /metrics/NAME ends with, as
// blackbox's probe_success and script_exporter's script_success give
// their users something to alert on.
const (
	successName  = "metricwrap_run_success"
	durationName = "metricwrap_run_duration_seconds"
	exitCodeName = "metricwrap_run_exit_code"
	cachedName   = "metricwrap_exporter_cached"
)

// encodeFamilies encodes fams in f with the exposition layer's encoder,
// without the terminator: an answer appends our own series after them.
func encodeFamilies(fams []*dto.MetricFamily, f expfmt.Format) ([]byte, error) {
	return exposition.Append(make([]byte, 0, 512), fams, f)
}

// assemble is a whole answer: body, then the extra families, then the
// terminator f needs, in one buffer.
func assemble(body []byte, f expfmt.Format, extra []*dto.MetricFamily) []byte {
	end := exposition.Terminator(f)
	out := make([]byte, 0, len(body)+256*len(extra)+len(end))
	out, err := exposition.Append(append(out, body...), extra, f)
	if err != nil {
		// Our own series are valid by construction.
		out = out[:len(body)]
	}
	return append(out, end...)
}

// repeat answers with cached entry c in format f: as a cache hit (class
// nil: the outcome is the cached run's), or in place of a failed run res
// of class *class that took took (stale_on_error: the outcome is the
// failure's, so an alert still fires). An entry encoded in another format
// is parsed again and re-encoded.
func repeat(x *exporter.Entry, c *cached, f expfmt.Format, res *exporter.Result, took time.Duration, class *Class) []byte {
	body := c.body
	if c.format != f {
		text := c.body
		if end := exposition.Terminator(c.format); end != nil {
			text = append(append([]byte(nil), text...), end...)
		}
		fams, err := exposition.Parse(text, exposition.Detect(text))
		if err == nil {
			body, err = encodeFamilies(fams, f)
		}
		if err != nil {
			body = nil
		}
	}
	if class == nil {
		return assemble(body, f, outcome(x, Success, c.dur, &exporter.Result{ExitCode: c.exit}, marker(x, true)))
	}
	return assemble(body, f, outcome(x, *class, took, res, marker(x, true)))
}

// marker is metricwrap_exporter_cached, on the answers of exporters that
// cache or serve stale results, so a dashboard can tell a fresh run from a
// repeated one.
func marker(x *exporter.Entry, repeated bool) *dto.MetricFamily {
	if x.CacheTTL <= 0 && !x.StaleOnError {
		return nil
	}
	v := 0.0
	if repeated {
		v = 1
	}
	return gauge(cachedName, "1 when this answer repeats an earlier run's result (cache_ttl or stale_on_error), 0 for a fresh run.", v, nil)
}

// outcome is the series that close an answer: the marker when there is
// one, success (with the failure's class as its reason label), duration,
// and the exit code for the process kinds when a process ran.
func outcome(x *exporter.Entry, c Class, d time.Duration, res *exporter.Result, mark *dto.MetricFamily) []*dto.MetricFamily {
	o := &outcomeSeries{}
	fams := o.fams[:0]
	if mark != nil {
		fams = append(fams, mark)
	}
	if c == Success {
		fams = append(fams, o.gauge(0, &successText, 1))
	} else {
		reason := string(c)
		o.reason = dto.LabelPair{Name: &reasonLabel, Value: &reason}
		o.labels[0] = &o.reason
		fams = append(fams, o.gauge(0, &successText, 0))
		o.metric[0].Label = o.labels[:]
	}
	fams = append(fams, o.gauge(1, &durationText, d.Seconds()))
	if k := x.Kind(); (k == exporter.KindCommand || k == exporter.KindPython) && res != nil && c != Overloaded {
		fams = append(fams, o.gauge(2, &exitCodeText, float64(res.ExitCode)))
	}
	return fams
}

// outcomeSeries holds an answer's outcome families in one allocation:
// they are made for every answer.
type outcomeSeries struct {
	fams    [4]*dto.MetricFamily
	family  [3]dto.MetricFamily
	metric  [3]dto.Metric
	metrics [3][1]*dto.Metric
	value   [3]dto.Gauge
	v       [3]float64
	reason  dto.LabelPair
	labels  [1]*dto.LabelPair
}

// gauge fills family i with one sample of value v.
func (o *outcomeSeries) gauge(i int, t *seriesText, v float64) *dto.MetricFamily {
	o.v[i] = v
	o.value[i].Value = &o.v[i]
	o.metric[i].Gauge = &o.value[i]
	o.metrics[i][0] = &o.metric[i]
	o.family[i] = dto.MetricFamily{Name: &t.name, Help: &t.help, Type: &gaugeType, Metric: o.metrics[i][:]}
	return &o.family[i]
}

// seriesText is a series' name and help, shared by every answer (the
// families point at them and never change them).
type seriesText struct{ name, help string }

var (
	successText  = seriesText{successName, "1 when the exporter's run succeeded, else 0 with the reason as a label."}
	durationText = seriesText{durationName, "How long the exporter's run took, in seconds."}
	exitCodeText = seriesText{exitCodeName, "The exporter process's exit code; -1 when a signal ended it."}
	reasonLabel  = "reason"
	gaugeType    = dto.MetricType_GAUGE
)

func gauge(name, help string, v float64, labels []*dto.LabelPair) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name:   ptr(name),
		Help:   ptr(help),
		Type:   dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Label: labels, Gauge: &dto.Gauge{Value: &v}}},
	}
}

func ptr(s string) *string { return &s }
