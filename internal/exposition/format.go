// Package exposition is metricwrap's one format layer: it parses the
// Prometheus text (0.0.4) and OpenMetrics (1.0) documents that exporters
// write, validates them as a whole, adds constant labels and encodes them
// again. Nothing is served or pushed that did not pass through Parse or
// Validate here. docs/exposition.md is the user's view of the rules.
//
// The parser is hand-written because expfmt's text parser loses the order
// of families, accepts interleaved families and has no OpenMetrics mode
// suited to validation with line numbers. Text is held to expfmt's
// verdicts (TestExpfmtScenarios, FuzzDifferentialExpfmt), OpenMetrics to
// the specification as prometheus_client reads it (TestOpenMetricsRules).
//
// The encoder is ours too, so that numbers leave as the exporter spelled
// them (see spellField) and names follow the negotiated escaping.
//
// Choices a user may notice:
//   - A counter declared as "# TYPE x counter" whose samples are "x_total"
//     (OpenMetrics, and the Python client's OpenMetrics output) becomes the
//     family "x_total". Encoded as text it reads "# TYPE x_total counter" /
//     "x_total 1", which is what client_golang produces and what the
//     Pushgateway and Prometheus accept; as OpenMetrics, "# TYPE x counter".
//   - OpenMetrics "_created" samples and exemplars are kept in the dto
//     fields for them (CreatedTimestamp, Exemplar) and written again only
//     as OpenMetrics: text 0.0.4 has no place for them. A "_created" gauge
//     family (the Python client's text output) is an ordinary gauge.
//   - OpenMetrics info "x" becomes the gauge family "x_info"; stateset
//     becomes a gauge; unknown becomes untyped; gaugehistogram keeps the
//     GAUGE_HISTOGRAM type (text renders it as a histogram).
//   - Names may be any UTF-8, quoted in the document ({"my.metric"}).
//   - Label pairs are sorted by name, as client_golang keeps them.
package exposition

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Format says which grammar a document follows; the two differ in comments,
// timestamps, types and the closing "# EOF".
type Format int

const (
	// FormatText is the Prometheus text exposition format 0.0.4.
	FormatText Format = iota
	// FormatOpenMetrics is OpenMetrics 1.0 text.
	FormatOpenMetrics
)

// String names the format for messages.
func (f Format) String() string {
	if f == FormatOpenMetrics {
		return "OpenMetrics"
	}
	return "text"
}

// Detect tells the format of a document that comes without a content
// type (a metrics file, an exporter's stdout) the way a reader can: a
// document whose last line starts with "# EOF" means to be OpenMetrics
// (so "# EOFx" fails as OpenMetrics rather than passing as a text comment),
// and so does one that declares a type only OpenMetrics has (info,
// stateset, gaugehistogram, unknown). Everything else is text: a "# UNIT"
// line alone is no sign, as text allows any comment. An empty document is
// empty text; whether a run may produce nothing is the exporter package's
// rule (ErrNoMetrics), not a format's.
func Detect(data []byte) Format {
	if len(data) > 0 && bytes.HasPrefix([]byte(lastLine(string(data))), []byte("# EOF")) {
		return FormatOpenMetrics
	}
	for _, sign := range [][]byte{
		[]byte(" info\n"), []byte(" stateset\n"),
		[]byte(" gaugehistogram\n"), []byte(" unknown\n"),
	} {
		for off := 0; ; {
			i := bytes.Index(data[off:], sign)
			if i < 0 {
				break
			}
			if lineIsType(data, off+i) {
				return FormatOpenMetrics
			}
			off += i + len(sign)
		}
	}
	return FormatText
}

// DetectContentType tells the format as a scraper does: by the response's
// Content-Type when it names one (application/openmetrics-text, or
// text/plain for text 0.0.4), else by the document as Detect does.
func DetectContentType(contentType string, data []byte) Format {
	mt, _, _ := strings.Cut(contentType, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "application/openmetrics-text":
		return FormatOpenMetrics
	case "text/plain":
		return FormatText
	}
	return Detect(data)
}

// lineIsType reports whether the line holding data[i] is a "# TYPE" line.
func lineIsType(data []byte, i int) bool {
	start := bytes.LastIndexByte(data[:i], '\n') + 1
	return bytes.HasPrefix(data[start:], []byte("# TYPE "))
}

// ParseError is a document that does not parse or validate, with the line
// (1-based) that the exporter's author has to look at; Line is 0 when the
// problem belongs to no single line.
type ParseError struct {
	Line int
	Msg  string
}

// Error reads "line N: msg".
func (e *ParseError) Error() string {
	if e.Line <= 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// formatInfo is what the encoder needs of an expfmt.Format. Format's own
// methods split the string anew on every call, and the server asks on
// every answer, so each distinct format is parsed once.
type formatInfo struct {
	typ     expfmt.FormatType
	version string
	scheme  model.EscapingScheme
}

var (
	formatInfos     sync.Map // expfmt.Format -> formatInfo
	formatInfoCount atomic.Int32
)

// maxFormatInfos bounds the formats remembered: a format comes from a
// client's Accept header, and a hostile client could send a new one every
// time. Past the bound, formats are parsed on every use.
const maxFormatInfos = 64

func infoOf(f expfmt.Format) formatInfo {
	if v, ok := formatInfos.Load(f); ok {
		return v.(formatInfo)
	}
	fi := formatInfo{typ: f.FormatType(), version: f.Version(), scheme: f.ToEscapingScheme()}
	if formatInfoCount.Add(1) <= maxFormatInfos {
		formatInfos.Store(f, fi)
	}
	return fi
}
