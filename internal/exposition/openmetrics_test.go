package exposition

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// omRule is one OpenMetrics 1.0 rule shown by a document of our own: want
// is "" when the document is valid, else a piece of our error. python is
// false where we deliberately refuse what prometheus_client accepts.
type omRule struct {
	name, doc, want string
	notPython       bool
}

var omRules = []omRule{
	// Documents and lines.
	{"only EOF", "# EOF\n", "", false},
	{"EOF without newline", "a 1\n# EOF", "", false},
	{"missing EOF", "a 1\n", "missing # EOF", false},
	{"line after EOF", "# EOF\na 1\n", "nothing may follow # EOF", false},
	{"junk glued to EOF", "a 1\n# EOFx\n# EOF\n", "unexpected comment", false},
	{"empty line", "a 1\n\n# EOF\n", "empty line", false},
	{"free comment", "# just a note\n# EOF\n", "unexpected comment", false},
	// Metadata.
	{"HELP needs the space after the name", "# HELP a\n# EOF\n", "needs a space after the name", false},
	{"empty HELP and UNIT texts", "# HELP a \n# UNIT a \n# EOF\n", "", false},
	{"second HELP", "# HELP a x\n# HELP a y\n# EOF\n", "second HELP", false},
	{"second TYPE", "# TYPE a gauge\n# TYPE a gauge\n# EOF\n", "second TYPE", false},
	{"second UNIT", "# UNIT a_s s\n# UNIT a_s s\n# EOF\n", "second UNIT", false},
	{"untyped is text's word", "# TYPE a untyped\n# EOF\n", "unknown type \"untyped\"", false},
	{"metadata after samples", "# TYPE a gauge\na 1\n# HELP a late\n# EOF\n", "after its samples", false},
	{"unit is the name's suffix", "# TYPE a_bytes gauge\n# UNIT a_bytes bytes\na_bytes 1\n# EOF\n", "", false},
	{"unit not in the name", "# UNIT a seconds\n# EOF\n", "must end in its unit", false},
	{"unit with a trailing space", "# UNIT a_s s \n# EOF\n", "must end in its unit", false},
	{"no unit on info", "# TYPE b_u info\n# UNIT b_u u\n# EOF\n", "cannot have a UNIT", false},
	{"no unit on stateset", "# TYPE b_u stateset\n# UNIT b_u u\n# EOF\n", "cannot have a UNIT", false},
	{"families clash by sample name", "# TYPE a_created gauge\n# TYPE a counter\n# EOF\n", "would use the sample name a_created", false},
	{"family in two pieces", "a 1\nb 1\na 2\n# EOF\n", "the lines of one family must be together", false},
	// Sample syntax.
	{"one space before the value", "a  1\n# EOF\n", "after one space", false},
	{"no tab before the value", "a\t1\n# EOF\n", "expected one space", false},
	{"no trailing space", "a 1 \n# EOF\n", "trailing space after the value", false},
	{"no trailing space after the timestamp", "a 1 2 \n# EOF\n", "trailing space after the timestamp", false},
	{"no tab after the value", "a 1\t\n# EOF\n", "invalid value", false},
	{"no digit separators", "a 1_000\n# EOF\n", "invalid value", false},
	{"no hex values", "a 0x1p3\n# EOF\n", "invalid value", false},
	{"no hex timestamps", "a 1 0x1p3\n# EOF\n", "invalid timestamp", false},
	{"no NaN timestamps", "a 1 NaN\n# EOF\n", "invalid timestamp", false},
	{"timestamp spellings", "a{x=\"1\"} 1 000\na{x=\"2\"} 1 1.5e3\na{x=\"3\"} 1 -2.25\n# EOF\n", "", false},
	{"a timestamp beyond int64 milliseconds", "a 1 12345678901234567890.5\n# EOF\n", "", false},
	{"a value beyond float64 is infinite", "a 1e999\n# EOF\n", "", false},
	{"empty label set", "a{} 1\n# EOF\n", "", false},
	{"no trailing comma in labels", "a{x=\"1\",} 1\n# EOF\n", "trailing comma", false},
	{"no blanks in labels", "a{x=\"1\", y=\"2\"} 1\n# EOF\n", "invalid label name", false},
	{"duplicate label", "a{x=\"1\",x=\"2\"} 1\n# EOF\n", "duplicate label name", false},
	{"unknown escapes are kept", "a{x=\"\\z\\f\"} 1\n# EOF\n", "", false},
	{"__name__ is refused", "a{__name__=\"b\"} 1\n# EOF\n", "reserved for the metric name", true},
	{"control characters are refused", "a{x=\"a\x01b\"} 1\n# EOF\n", "control character U+0001", true},
	// Repeated series.
	{"one series at several timestamps", "a{x=\"1\"} 1 1\na{x=\"1\"} 2 2\na{x=\"2\"} 3 1\n# EOF\n", "", false},
	{"an exact repeat is dropped", "a 1 5\na 1 5\n# EOF\n", "", false},
	{"a group comes back", "a{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"1\"} 2\n# EOF\n", "comes back to a series group", false},
	{"timestamps go backwards", "a 1 5\na 2 4\n# EOF\n", "timestamps go backwards", false},
	{"timestamps all or none", "a 1 5\na 2\n# EOF\n", "all have a timestamp or all have none", false},
	// Counters.
	{"counter samples end in _total", "# TYPE c counter\nc_total 1\nc_created 1\n# EOF\n", "", false},
	{"counter without _total", "# TYPE c counter\nc 1\n# EOF\n", "must be named c_total", false},
	{"counter NaN", "# TYPE c counter\nc_total NaN\n# EOF\n", "cannot be NaN", false},
	{"counter negative", "# TYPE c counter\nc_total -1\n# EOF\n", "cannot be negative", false},
	// Summaries.
	{"summary negative sum", "# TYPE s summary\ns_sum -1\ns_count 1\n# EOF\n", "cannot be negative", false},
	{"summary fractional count", "# TYPE s summary\ns_sum 1\ns_count 1.5\n# EOF\n", "whole number", false},
	{"summary negative quantile value", "# TYPE s summary\ns{quantile=\"0.5\"} -1\n# EOF\n", "cannot be negative", false},
	{"summary quantile above 1", "# TYPE s summary\ns{quantile=\"2\"} 1\n# EOF\n", "outside 0..1", false},
	{"summary without quantile", "# TYPE s summary\ns 1\n# EOF\n", "needs a \"quantile\" label", false},
	// Histograms.
	{"histogram of buckets only", "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\n# EOF\n", "", false},
	{"histogram without +Inf", "# TYPE h histogram\nh_bucket{le=\"1\"} 0\n# EOF\n", "no le=\"+Inf\" bucket", false},
	{"+Inf has one spelling", "# TYPE h histogram\nh_bucket{le=\"+inf\"} 0\n# EOF\n", "spells it +Inf", false},
	{"le is not NaN", "# TYPE h histogram\nh_bucket{le=\"NaN\"} 0\n# EOF\n", "invalid le value", false},
	{"bucket without le", "# TYPE h histogram\nh_bucket 0\n# EOF\n", "needs a \"le\" label", false},
	{"buckets in le order", "# TYPE h histogram\nh_bucket{le=\"2\"} 0\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\n# EOF\n", "increasing le order", false},
	{"buckets cumulative", "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n# EOF\n", "buckets are cumulative", false},
	{"bucket counts whole", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0.5\n# EOF\n", "whole number", false},
	{"count is the +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n# EOF\n", "differs from the le=\"+Inf\" bucket", false},
	{"sum needs count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\n# EOF\n", "has _sum but no _count", false},
	{"count needs sum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n# EOF\n", "has _count but no _sum", false},
	{"negative buckets go without _sum", "# TYPE h histogram\nh_bucket{le=\"-1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n# EOF\n", "negative buckets and a _sum", false},
	{"gauge histogram with negative buckets", "# TYPE g gaugehistogram\ng_bucket{le=\"-1\"} 1\ng_bucket{le=\"+Inf\"} 2\ng_gsum -3\ng_gcount 2\n# EOF\n", "", false},
	{"negative _gsum needs negative buckets", "# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 2\ng_gsum -3\ng_gcount 2\n# EOF\n", "negative _gsum but no negative bucket", false},
	{"histogram groups apart", "# TYPE h histogram\nh_bucket{a=\"1\",le=\"+Inf\"} 0\nh_bucket{a=\"2\",le=\"+Inf\"} 0\nh_count{a=\"1\"} 0\n# EOF\n", "comes back to a series group", false},
	// Info and stateset.
	{"info is 1", "# TYPE i info\ni_info{v=\"1\"} 2\n# EOF\n", "must be 1", false},
	{"stateset is 0 or 1", "# TYPE s stateset\ns{s=\"a\"} 2\n# EOF\n", "must be 0 or 1", false},
	{"stateset names its label", "# TYPE s stateset\ns{t=\"a\"} 1\n# EOF\n", "needs a label named s", false},
	// Exemplars.
	{"exemplar on a counter and a bucket", "# TYPE c counter\nc_total 1 # {t=\"1\"} 1 2\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {} 0.5\n# EOF\n", "", false},
	{"no exemplar on a gauge", "# TYPE g gauge\ng 1 # {t=\"1\"} 1\n# EOF\n", "only counters' _total and histograms' _bucket", false},
	{"no exemplar on _created", "# TYPE c counter\nc_created 1 # {t=\"1\"} 1\n# EOF\n", "only counters' _total and histograms' _bucket", false},
	{"exemplar trailing space", "# TYPE c counter\nc_total 1 # {} 1 \n# EOF\n", "invalid", false},
	{"exemplar hex value", "# TYPE c counter\nc_total 1 # {} 0x1p3\n# EOF\n", "invalid exemplar value", false},
	{"exemplar labels of 128 characters, not bytes", "# TYPE c counter\nc_total 1 # {t=\"" + strings.Repeat("é", 127) + "\"} 1\n# EOF\n", "", false},
	{"exemplar labels over 128 characters", "# TYPE c counter\nc_total 1 # {t=\"" + strings.Repeat("x", 128) + "\"} 1\n# EOF\n", "longer than 128 characters", false},
}

// TestOpenMetricsRules holds each rule of OpenMetrics 1.0 to a document
// of its own.
func TestOpenMetricsRules(t *testing.T) {
	for _, r := range omRules {
		t.Run(r.name, func(t *testing.T) {
			_, err := Parse([]byte(r.doc), FormatOpenMetrics)
			switch {
			case r.want == "" && err != nil:
				t.Errorf("Parse() = %v, want it accepted", err)
			case r.want != "" && err == nil:
				t.Errorf("Parse() accepted it, want an error with %q", r.want)
			case r.want != "" && !strings.Contains(err.Error(), r.want):
				t.Errorf("Parse() = %v, want an error with %q", err, r.want)
			}
		})
	}
}

// TestOpenMetricsRulesAgreeWithPython checks the verdicts above against
// prometheus_client's OpenMetrics parser, which passes the whole
// OpenMetrics test suite, so that the table itself cannot be wrong.
func TestOpenMetricsRulesAgreeWithPython(t *testing.T) {
	py := testenv.Python(t)
	docs := make([]string, len(omRules))
	for i, r := range omRules {
		docs[i] = r.doc
	}
	// What we write from each valid document must be valid too.
	var written []string
	for _, r := range omRules {
		if r.want != "" {
			continue
		}
		fams, err := Parse([]byte(r.doc), FormatOpenMetrics)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		var b bytes.Buffer
		if err := Encode(&b, fams, expfmt.FmtOpenMetrics_1_0_0); err != nil {
			t.Fatalf("%s: Encode() = %v", r.name, err)
		}
		written = append(written, b.String())
	}
	docs = append(docs, written...)
	in, _ := json.Marshal(docs)
	cmd := exec.Command(py, "-c", `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse
out = []
for d in json.load(sys.stdin):
    try:
        list(parse(d))
        out.append(True)
    except Exception:
        out.append(False)
print(json.dumps(out))
`)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var ok []bool
	if err := json.Unmarshal(out, &ok); err != nil || len(ok) != len(docs) {
		t.Fatalf("python answered %q", out)
	}
	for i, doc := range written {
		if !ok[len(omRules)+i] {
			t.Errorf("prometheus_client refuses what we wrote:\n%s", doc)
		}
	}
	for i, r := range omRules {
		if want := r.want == "" != r.notPython; ok[i] != want {
			t.Errorf("%s: prometheus_client accepts = %v, the table says %v", r.name, ok[i], want)
		}
	}
}
