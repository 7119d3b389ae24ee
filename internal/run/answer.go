package run

import (
	"bytes"
	"strconv"
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

// omEOF ends an OpenMetrics document; bodies are kept without it so that
// the outcome series can follow.
var omEOF = []byte("# EOF\n")

func isOpenMetrics(f expfmt.Format) bool { return f.FormatType() == expfmt.TypeOpenMetrics }

// encodeFamilies encodes fams in f with the exposition layer's encoder,
// without OpenMetrics' terminator.
func encodeFamilies(fams []*dto.MetricFamily, f expfmt.Format) ([]byte, error) {
	var b bytes.Buffer
	if err := exposition.Encode(&b, fams, f); err != nil {
		return nil, err
	}
	out := b.Bytes()
	if isOpenMetrics(f) {
		out = bytes.TrimSuffix(out, omEOF)
	}
	return out, nil
}

// assemble is a whole answer: body, then the extra families, then the
// terminator f needs.
func assemble(body []byte, f expfmt.Format, extra []*dto.MetricFamily) []byte {
	if t := f.FormatType(); t == expfmt.TypeTextPlain || t == expfmt.TypeOpenMetrics {
		out := make([]byte, 0, len(body)+128*len(extra)+len(omEOF))
		out = appendGauges(append(out, body...), extra)
		if isOpenMetrics(f) {
			out = append(out, omEOF...)
		}
		return out
	}
	tail, err := encodeFamilies(extra, f)
	if err != nil {
		// Our own series are valid by construction.
		tail = nil
	}
	return append(append(make([]byte, 0, len(body)+len(tail)), body...), tail...)
}

// appendGauges writes our own gauges (one sample, plain label values) in
// the syntax text 0.0.4 and OpenMetrics share, without going through the
// encoder for a few lines on every answer.
func appendGauges(b []byte, fams []*dto.MetricFamily) []byte {
	for _, mf := range fams {
		name := mf.GetName()
		b = append(append(append(append(b, "# HELP "...), name...), ' '), mf.GetHelp()...)
		b = append(append(append(b, "\n# TYPE "...), name...), " gauge\n"...)
		for _, m := range mf.GetMetric() {
			b = append(b, name...)
			for i, l := range m.GetLabel() {
				if i == 0 {
					b = append(b, '{')
				} else {
					b = append(b, ',')
				}
				b = strconv.AppendQuote(append(append(b, l.GetName()...), '='), l.GetValue())
			}
			if len(m.GetLabel()) > 0 {
				b = append(b, '}')
			}
			b = strconv.AppendFloat(append(b, ' '), m.GetGauge().GetValue(), 'g', -1, 64)
			b = append(b, '\n')
		}
	}
	return b
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
		if isOpenMetrics(c.format) {
			text = append(append([]byte(nil), text...), omEOF...)
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
	var fams []*dto.MetricFamily
	if mark != nil {
		fams = append(fams, mark)
	}
	if c == Success {
		fams = append(fams, gauge(successName, "1 when the exporter's run succeeded, else 0 with the reason as a label.", 1, nil))
	} else {
		fams = append(fams, gauge(successName, "1 when the exporter's run succeeded, else 0 with the reason as a label.", 0,
			[]*dto.LabelPair{{Name: ptr("reason"), Value: ptr(string(c))}}))
	}
	fams = append(fams, gauge(durationName, "How long the exporter's run took, in seconds.", d.Seconds(), nil))
	if k := x.Kind(); (k == exporter.KindCommand || k == exporter.KindPython) && res != nil && c != Overloaded {
		fams = append(fams, gauge(exitCodeName, "The exporter process's exit code; -1 when a signal ended it.", float64(res.ExitCode), nil))
	}
	return fams
}

func gauge(name, help string, v float64, labels []*dto.LabelPair) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name:   ptr(name),
		Help:   ptr(help),
		Type:   dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Label: labels, Gauge: &dto.Gauge{Value: &v}}},
	}
}

func ptr(s string) *string { return &s }
