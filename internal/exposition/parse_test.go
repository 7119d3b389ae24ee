package exposition

import (
	"errors"
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestParseErrors holds one document per rule, each with the exact message
// and line a user sees.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		line   int
		msg    string
	}{
		// Syntax.
		{"no value", FormatText, "a 1\nb\n", 2, `sample b has no value`},
		{"no value after labels", FormatText, "a{x=\"1\"}\n", 1, `sample a has no value`},
		{"bad value", FormatText, "a 1x\n", 1, `invalid value "1x" for a`},
		{"bad timestamp text", FormatText, "a 1 1.5\n", 1, `invalid timestamp "1.5" (text format wants integer milliseconds)`},
		{"junk after timestamp", FormatText, "a 1 2 3\n", 1, `unexpected "3" after the timestamp of a`},
		{"exemplar in text", FormatText, "a 1 # {x=\"y\"} 1\n", 1, `unexpected "# {x=\"y\"} 1" after the value of a (exemplars are OpenMetrics only)`},
		{"unclosed labels", FormatText, "a{x=\"1\" 1\n", 1, `expected , or } after the value of label "x"`},
		{"unterminated value", FormatText, "a{x=\"1} 1\n", 1, `label "x": unterminated quoted value`},
		{"bad escape", FormatText, "a{x=\"\\t\"} 1\n", 1, `label "x": invalid escape sequence "\\t"`},
		{"unquoted label value", FormatText, "a{x=1} 1\n", 1, `expected a quoted value for label "x"`},
		{"missing equals", FormatText, "a{x} 1\n", 1, `expected = after label name "x"`},
		// Names.
		{"utf8 metric name", FormatText, "café 1\n", 1, `invalid metric name "café": write [a-zA-Z_:][a-zA-Z0-9_:]*, or quote a UTF-8 name inside the braces: {"my.metric"}`},
		{"dotted metric name", FormatText, "my.metric 1\n", 1, `invalid metric name "my.metric": write [a-zA-Z_:][a-zA-Z0-9_:]*, or quote a UTF-8 name inside the braces: {"my.metric"}`},
		{"digit first", FormatText, "1abc 1\n", 1, `invalid metric name "1abc": write [a-zA-Z_:][a-zA-Z0-9_:]*, or quote a UTF-8 name inside the braces: {"my.metric"}`},
		{"label name with colon", FormatText, "a{x:y=\"1\"} 1\n", 1, `invalid label name "x:y": write [a-zA-Z_][a-zA-Z0-9_]*, or quote a UTF-8 name: {"my.label"="value"}`},
		{"bad name in TYPE", FormatText, "# TYPE a-b gauge\n", 1, `invalid metric name "a-b": write [a-zA-Z_:][a-zA-Z0-9_:]*, or quote a UTF-8 name inside the braces: {"my.metric"}`},
		{"duplicate label name", FormatText, "a{x=\"1\",x=\"2\"} 1\n", 1, `duplicate label name "x"`},
		// Families and metadata.
		{"unknown type", FormatText, "# TYPE a info\na_info 1\n", 1, `unknown type "info" for "a" in the text format`},
		{"second TYPE", FormatText, "# TYPE a gauge\n# TYPE a gauge\na 1\n", 2, `second TYPE line for "a"`},
		{"second HELP", FormatText, "# HELP a x\n# HELP a y\na 1\n", 2, `second HELP line for "a"`},
		{"TYPE after samples", FormatText, "a 1\n# TYPE a gauge\n", 2, `TYPE line for "a" after its samples`},
		{"family not contiguous", FormatText, "a 1\nb 1\na 2\n", 3, `"a" already appeared at line 1; the lines of one family must be together`},
		{"conflicting TYPE later", FormatText, "# TYPE a gauge\na 1\n# TYPE a counter\na 2\n", 3, `TYPE line for "a" after its samples`},
		{"family declared twice", FormatText, "# TYPE a gauge\na 1\nb 1\n# TYPE a counter\na 2\n", 4, `"a" already appeared at line 1; the lines of one family must be together`},
		{"counter mixes names", FormatText, "# TYPE c counter\nc 1\nc_total{a=\"b\"} 1\n", 3, `counter c mixes samples named c and c_total`},
		{"counter name clash", FormatText, "# TYPE c counter\nc_total 1\n# TYPE c_total gauge\nc_total 2\n", 3, `"c_total" already appeared at line 1; the lines of one family must be together`},
		// Values and series.
		{"duplicate series", FormatText, "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", 2, `duplicate series a{x="1",y="2"}`},
		{"duplicate plain series", FormatText, "# TYPE a gauge\na 1\na 2\n", 3, `duplicate series a`},
		{"negative counter", FormatText, "# TYPE c_total counter\nc_total{a=\"b\"} -1\n", 2, `counter c_total{a="b"} has negative value -1`},
		{"invalid utf8 label value", FormatText, "a{x=\"\xff\"} 1\n", 1, `value of label "x" in series a{x="\xff"} is not valid UTF-8`},
		{"invalid utf8 help", FormatText, "# HELP a \xff\na 1\n", 1, `HELP of "a" is not valid UTF-8`},
		{"name clash across families", FormatText, "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n# TYPE h_sum gauge\nh_sum 1\n", 5, `series name h_sum of gauge "h_sum" clashes with histogram "h"`},
		// Histograms.
		{"no +Inf bucket", FormatText, "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", 2, `histogram h has no le="+Inf" bucket`},
		{"no +Inf bucket labelled", FormatText, "# TYPE h histogram\nh_bucket{a=\"x\",le=\"+Inf\"} 1\nh_bucket{a=\"y\",le=\"1\"} 1\n", 3, `histogram h{a="y"} has no le="+Inf" bucket`},
		{"non-monotonic buckets", FormatText, "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\nh_bucket{le=\"+Inf\"} 5\n", 2, `bucket le="2" of histogram h counts 3, less than the bucket before it (5): buckets are cumulative`},
		{"duplicate bucket", FormatText, "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\n", 2, `duplicate bucket le="1" in histogram h`},
		{"negative bucket", FormatText, "# TYPE h histogram\nh_bucket{le=\"1\"} -1\nh_bucket{le=\"+Inf\"} 1\n", 2, `bucket le="1" of histogram h has negative count -1`},
		{"bucket without le", FormatText, "# TYPE h histogram\nh_bucket 1\n", 2, `h_bucket needs a "le" label`},
		{"bad le", FormatText, "# TYPE h histogram\nh_bucket{le=\"big\"} 1\n", 2, `invalid le value "big" on h_bucket`},
		{"le on sum", FormatText, "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum{le=\"1\"} 1\n", 3, `label "le" is not allowed on h_sum`},
		{"duplicate sum", FormatText, "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_sum 2\n", 4, `duplicate series h_sum`},
		// Summaries.
		{"quantile missing", FormatText, "# TYPE s summary\ns 1\n", 2, `s needs a "quantile" label`},
		{"quantile on count", FormatText, "# TYPE s summary\ns_count{quantile=\"0.5\"} 1\n", 2, `label "quantile" is not allowed on s_count`},
		{"quantile out of range", FormatText, "# TYPE s summary\ns{quantile=\"1.5\"} 1\n", 2, `quantile 1.5 of summary s is outside 0..1`},
		{"fractional summary count", FormatText, "# TYPE s summary\ns_count 1.5\n", 2, `s_count must be a whole number of at least 0, not 1.5`},
		// OpenMetrics.
		{"om missing EOF", FormatOpenMetrics, "a 1\n", 1, `missing # EOF at the end of the OpenMetrics document`},
		{"om after EOF", FormatOpenMetrics, "a 1\n# EOF\nb 1\n", 3, `nothing may follow # EOF`},
		{"om empty line", FormatOpenMetrics, "a 1\n\n# EOF\n", 2, `empty line (OpenMetrics allows none)`},
		{"om comment", FormatOpenMetrics, "# hello\na 1\n# EOF\n", 1, `unexpected comment "# hello" (OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF)`},
		{"om counter without _total", FormatOpenMetrics, "# TYPE c counter\nc 1\n# EOF\n", 2, `counter sample c must be named c_total in OpenMetrics`},
		{"om untyped", FormatOpenMetrics, "# TYPE a untyped\na 1\n# EOF\n", 1, `unknown type "untyped" for "a" in the OpenMetrics format`},
		{"om bad timestamp", FormatOpenMetrics, "a 1 abc\n# EOF\n", 1, `invalid timestamp "abc" (OpenMetrics wants seconds)`},
		{"om bad exemplar", FormatOpenMetrics, "# TYPE c counter\nc_total 1 # {a=\"b\"}\n# EOF\n", 2, `invalid exemplar on c_total: want # {labels} value [timestamp]`},
		{"om info value", FormatOpenMetrics, "# TYPE i info\ni_info{v=\"1\"} 2\n# EOF\n", 2, `info sample i_info must be 1, not 2`},
		{"om stateset label", FormatOpenMetrics, "# TYPE s stateset\ns{x=\"a\"} 1\n# EOF\n", 2, `stateset sample s needs a label named s`},
		{"om second UNIT", FormatOpenMetrics, "# TYPE a_seconds gauge\n# UNIT a_seconds seconds\n# UNIT a_seconds seconds\na_seconds 1\n# EOF\n", 3, `second UNIT line for "a_seconds"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fams, err := Parse([]byte(tt.in), tt.format)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse() = %v, %v; want a *ParseError", fams, err)
			}
			if pe.Line != tt.line || pe.Msg != tt.msg {
				t.Errorf("Parse() error:\n got line %d: %s\nwant line %d: %s", pe.Line, pe.Msg, tt.line, tt.msg)
			}
			if fams != nil {
				t.Errorf("Parse() returned families with an error")
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	err := error(&ParseError{Line: 7, Msg: "bad"})
	if got := err.Error(); got != "line 7: bad" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&ParseError{Msg: "bad"}).Error(); got != "bad" {
		t.Errorf("Error() without line = %q", got)
	}
}

// TestParseAccepts checks what the parser makes of valid input.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		check  func(t *testing.T, fams []*dto.MetricFamily)
	}{
		{"order, untyped and escapes", FormatText,
			"# a free comment\nz{b=\"2\",a=\"x\\\\y\\\"z\\n\"} +Inf\n\n  # HELP y  a \\\\ b\\nc \\\"q\n# TYPE y gauge\ny -Inf 1700000000000\nx NaN\n",
			func(t *testing.T, fams []*dto.MetricFamily) {
				wantNames(t, fams, "z", "y", "x")
				z := fams[0].Metric[0]
				if fams[0].GetType() != dto.MetricType_UNTYPED || !math.IsInf(z.GetUntyped().GetValue(), 1) {
					t.Errorf("z = %v", fams[0])
				}
				if z.Label[0].GetName() != "a" || z.Label[0].GetValue() != "x\\y\"z\n" || z.Label[1].GetName() != "b" {
					t.Errorf("labels of z not sorted or unescaped: %v", z.Label)
				}
				if fams[1].GetHelp() != "a \\ b\nc \"q" {
					t.Errorf("help = %q", fams[1].GetHelp())
				}
				if y := fams[1].Metric[0]; !math.IsInf(y.GetGauge().GetValue(), -1) || y.GetTimestampMs() != 1700000000000 {
					t.Errorf("y = %v", y)
				}
				if !math.IsNaN(fams[2].Metric[0].GetUntyped().GetValue()) {
					t.Errorf("x = %v", fams[2].Metric[0])
				}
			}},
		{"text counter typed without _total", FormatText, "# HELP x h\n# TYPE x counter\nx_total 1\n",
			func(t *testing.T, fams []*dto.MetricFamily) {
				wantNames(t, fams, "x_total")
				if fams[0].GetType() != dto.MetricType_COUNTER || fams[0].GetHelp() != "h" {
					t.Errorf("family = %v", fams[0])
				}
			}},
		{"histogram out of order and grouped", FormatText,
			"# TYPE h histogram\nh_bucket{a=\"1\",le=\"+Inf\"} 4\nh_bucket{a=\"2\",le=\"+Inf\"} 1\nh_bucket{a=\"1\",le=\"0.5\"} 2\nh_sum{a=\"1\"} 3\nh_count{a=\"2\"} 1\n",
			func(t *testing.T, fams []*dto.MetricFamily) {
				h := fams[0].Metric[0].GetHistogram()
				if len(fams[0].Metric) != 2 || len(h.Bucket) != 2 || h.Bucket[0].GetUpperBound() != 0.5 || h.GetSampleCount() != 4 || h.GetSampleSum() != 3 {
					t.Errorf("histogram = %v", fams[0])
				}
			}},
		{"summary", FormatText, "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.9\"} 2\ns_sum 10\ns_count 5\n",
			func(t *testing.T, fams []*dto.MetricFamily) {
				s := fams[0].Metric[0].GetSummary()
				if len(s.Quantile) != 2 || s.GetSampleCount() != 5 || s.GetSampleSum() != 10 {
					t.Errorf("summary = %v", s)
				}
			}},
		{"metadata without samples is dropped", FormatText, "# HELP a x\n# TYPE a gauge\n# TYPE b counter\nb 1\n",
			func(t *testing.T, fams []*dto.MetricFamily) { wantNames(t, fams, "b") }},
		{"openmetrics types", FormatOpenMetrics,
			"# TYPE c_seconds counter\n# UNIT c_seconds seconds\n# HELP c_seconds with \\\"quotes\\\"\nc_seconds_total 1 1.5 # {trace=\"a\"} 1 2\nc_seconds_created 17 1.5\n" +
				"# TYPE i info\ni_info{v=\"1\"} 1\n# TYPE st stateset\nst{st=\"a\"} 1\nst{st=\"b\"} 0\n# TYPE u unknown\nu 3\n" +
				"# TYPE gh gaugehistogram\ngh_bucket{le=\"+Inf\"} 2\ngh_gcount 2\ngh_gsum 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_created 5\n# EOF\n",
			func(t *testing.T, fams []*dto.MetricFamily) {
				wantNames(t, fams, "c_seconds_total", "i_info", "st", "u", "gh", "h")
				c := fams[0]
				if c.GetHelp() != `with "quotes"` || c.GetUnit() != "seconds" || len(c.Metric) != 1 || c.Metric[0].GetTimestampMs() != 1500 {
					t.Errorf("counter = %v", c)
				}
				types := []dto.MetricType{dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_GAUGE, dto.MetricType_UNTYPED, dto.MetricType_GAUGE_HISTOGRAM, dto.MetricType_HISTOGRAM}
				for i, f := range fams {
					if f.GetType() != types[i] {
						t.Errorf("%s type = %v, want %v", f.GetName(), f.GetType(), types[i])
					}
				}
				if h := fams[5].Metric[0].GetHistogram(); h.GetSampleCount() != 2 {
					t.Errorf("histogram without _count should count its +Inf bucket: %v", h)
				}
			}},
		{"openmetrics without final newline", FormatOpenMetrics, "a 1\n# EOF",
			func(t *testing.T, fams []*dto.MetricFamily) { wantNames(t, fams, "a") }},
		{"empty document", FormatText, "",
			func(t *testing.T, fams []*dto.MetricFamily) { wantNames(t, fams) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fams, err := Parse([]byte(tt.in), tt.format)
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			tt.check(t, fams)
		})
	}
}

func wantNames(t *testing.T, fams []*dto.MetricFamily, names ...string) {
	t.Helper()
	var got []string
	for _, f := range fams {
		got = append(got, f.GetName())
	}
	if len(got) != len(names) {
		t.Fatalf("families = %q, want %q", got, names)
	}
	for i := range got {
		if got[i] != names[i] {
			t.Fatalf("families = %q, want %q", got, names)
		}
	}
}

// TestParseKeepsNoReference makes sure families survive the caller reusing
// its buffer: Parse reads data through an unsafe view.
func TestParseKeepsNoReference(t *testing.T) {
	data := []byte("# HELP a some help\n# TYPE a gauge\na{x=\"value\"} 1\n")
	fams, err := Parse(data, FormatText)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = '!'
	}
	m := fams[0].Metric[0]
	if fams[0].GetName() != "a" || fams[0].GetHelp() != "some help" || m.Label[0].GetName() != "x" || m.Label[0].GetValue() != "value" {
		t.Errorf("families changed with the input buffer: %v", fams[0])
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Format
	}{
		{"text", "# TYPE a gauge\na 1\n", FormatText},
		{"empty", "", FormatText},
		{"eof with junk", "a 1\n# EOFblah", FormatOpenMetrics},
		{"eof", "a 1\n# EOF\n", FormatOpenMetrics},
		{"eof without newline", "a 1\n# EOF", FormatOpenMetrics},
		{"only eof", "# EOF\n", FormatOpenMetrics},
		{"unit alone is text", "# TYPE a gauge\n# UNIT a seconds\na 1\n", FormatText},
		{"info type", "# TYPE a info\na_info 1\n", FormatOpenMetrics},
		{"info in help is text", "# HELP a about info\na 1\n", FormatText},
		{"info type after info in help", "# HELP a about info\n# TYPE a info\na_info 1\n", FormatOpenMetrics},
		{"eof in the middle is text", "# EOF\na 1\n", FormatText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect([]byte(tt.in)); got != tt.want {
				t.Errorf("Detect() = %v, want %v", got, tt.want)
			}
		})
	}
}
