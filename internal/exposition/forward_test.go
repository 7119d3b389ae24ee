package exposition

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func encodeString(t *testing.T, doc string, f expfmt.Format, labels map[string]string) string {
	t.Helper()
	fams, err := Parse([]byte(doc), Detect([]byte(doc)))
	if err != nil {
		t.Fatalf("Parse(%q) = %v", doc, err)
	}
	AddLabels(fams, labels)
	var b bytes.Buffer
	if err := Encode(&b, fams, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestForwardKeepsSpelling: numbers leave as the exporter wrote them, in
// the format they came in, and through the conversions metricwrap makes.
func TestForwardKeepsSpelling(t *testing.T) {
	text := "# TYPE h histogram\nh_bucket{le=\"0.50\"} 1\nh_bucket{le=\"1.0\"} 2.0\nh_bucket{le=\"+Inf\"} 2e0\n" +
		"h_sum 1.500\nh_count 2.0\n# TYPE s summary\ns{quantile=\"0.50\"} 0.10\ns_sum 3.0\ns_count 7.0\n" +
		"# TYPE g gauge\ng{a=\"1\"} 00012 0001700000000000\ng{a=\"2\"} 1E3\ng{a=\"3\"} +Inf\ng{a=\"4\"} -0.0\n"
	if got := encodeString(t, text, expfmt.FmtText, nil); got != text {
		t.Errorf("text to text changed the document:\n%s\nwant\n%s", got, text)
	}
	om := "# TYPE c counter\nc_total{a=\"x\"} 1 1.500\nc_total{a=\"y\"} 2.0 17e8\n# TYPE h histogram\n" +
		"h_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n# EOF\n"
	if got := encodeString(t, om, expfmt.FmtOpenMetrics_1_0_0, nil); got != om {
		t.Errorf("OpenMetrics to OpenMetrics changed the document:\n%s\nwant\n%s", got, om)
	}
	// Constant labels and a format conversion change what they must and
	// keep every number.
	got := encodeString(t, om, expfmt.FmtText, map[string]string{"instance": "i1"})
	for _, want := range []string{
		`c_total{a="x",instance="i1"} 1 1500`, `c_total{a="y",instance="i1"} 2.0 1700000000000`,
		`h_bucket{instance="i1",le="1.0"} 1`, `h_sum{instance="i1"} 1.5`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("OpenMetrics to text with a label lacks %q:\n%s", want, got)
		}
	}
	// A spelling that no longer reads as the value (the value changed
	// after parsing) is not used.
	fams, err := Parse([]byte("a 1.0\n"), FormatText)
	if err != nil {
		t.Fatal(err)
	}
	*fams[0].Metric[0].Untyped.Value = 2
	if got := string(Text(fams)); got != "# TYPE a untyped\na 2\n" {
		t.Errorf("changed value: %q", got)
	}
}

// TestEncodeUTF8Names: quoted names are read, written quoted when the
// format allows UTF-8 and escaped by the format's scheme otherwise.
func TestEncodeUTF8Names(t *testing.T) {
	doc := "# HELP \"a.b\" Dots.\n# TYPE \"a.b\" counter\n{\"a.b\",\"c d\"=\"1\"} 3\n"
	tests := []struct {
		format expfmt.Format
		want   string
	}{
		{expfmt.FmtText.WithEscapingScheme(model.NoEscaping), "# HELP \"a.b\" Dots.\n# TYPE \"a.b\" counter\n{\"a.b\",\"c d\"=\"1\"} 3\n"},
		{expfmt.FmtText, "# HELP a_b Dots.\n# TYPE a_b counter\na_b{c_d=\"1\"} 3\n"},
		{expfmt.FmtText.WithEscapingScheme(model.DotsEscaping), "# HELP a_dot_b Dots.\n# TYPE a_dot_b counter\na_dot_b{c__d=\"1\"} 3\n"},
	}
	for _, tt := range tests {
		if got := encodeString(t, doc, tt.format, nil); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.format, got, tt.want)
		}
	}
	if got := encodeString(t, doc, expfmt.FmtText.WithEscapingScheme(model.NoEscaping), nil); got != doc {
		t.Errorf("UTF-8 text does not round-trip:\n%s", got)
	}
}

// TestTextRules: text 0.0.4 as expfmt reads it, each with a document.
func TestTextRules(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"blank before the labels", "a {x=\"1\"} 1\n", ""},
		{"no blank after the labels", "a{x=\"1\"}1\n", ""},
		{"trailing comma", "a{x=\"1\",} 1\n", ""},
		{"gauge histogram", "# TYPE h gaugehistogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", ""},
		{"quoted name in the braces", "{\"a.b\",x=\"1\"} 1\n", ""},
		{"TYPE with a name only", "# TYPE a\na 1\n", ""},
		{"missing final newline", "a 1", "the last line does not end with a newline"},
		{"digit separators", "a 1_2\n", "invalid value"},
		{"hex value", "a 0x1p-3\n", "invalid value"},
		{"__name__ label", "a{__name__=\"b\"} 1\n", "reserved for the metric name"},
		{"unknown escape in a label value", "a{x=\"\\q\"} 1\n", "invalid escape sequence"},
		{"unknown escape in HELP", "# HELP a x\\q\na 1\n", "invalid escape sequence"},
		{"NUL in a label value", "a 1\nb{x=\"a\x00b\"} 1\n", "line 2: value of label \"x\" in series b{x=\"a\\x00b\"} holds the control character U+0000"},
		{"escape in a value", "a{x=\"\\x41\"} 1\n", "invalid escape sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), FormatText)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Parse() = %v, want it accepted", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Parse() = %v, want an error with %q", err, tt.want)
			}
			if (err == nil) != (expfmtVerdict([]byte(tt.doc)) == nil) && knownDifference([]byte(tt.doc), err) == "" {
				t.Errorf("expfmt disagrees: %v", expfmtVerdict([]byte(tt.doc)))
			}
		})
	}
}

func TestDetectContentType(t *testing.T) {
	om := []byte("a 1\n# EOF\n")
	tests := []struct {
		ct   string
		data []byte
		want Format
	}{
		{"application/openmetrics-text; version=1.0.0; charset=utf-8", []byte("a 1\n"), FormatOpenMetrics},
		{"text/plain; version=0.0.4", om, FormatText},
		{"", om, FormatOpenMetrics},
		{"application/octet-stream", []byte("a 1\n"), FormatText},
	}
	for _, tt := range tests {
		if got := DetectContentType(tt.ct, tt.data); got != tt.want {
			t.Errorf("DetectContentType(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
	if _, err := Parse(nil, FormatOpenMetrics); err == nil || !strings.Contains(err.Error(), "empty document") {
		t.Errorf("Parse(empty OpenMetrics) = %v, want the empty document error", err)
	}
	if fams, err := Parse(nil, FormatText); err != nil || len(fams) != 0 {
		t.Errorf("Parse(empty text) = %v, %v", fams, err)
	}
}

// TestClientGolangUTF8: what client_golang serves to a scraper that allows
// UTF-8 (quoted names, in text and OpenMetrics) parses, and keeps its names.
func TestClientGolangUTF8(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "my.metric", Help: "Dotted."}, []string{"dotted.label"})
	reg.MustRegister(g)
	g.WithLabelValues("x").Set(1.5)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "req.count_total", Help: "Requests."})
	reg.MustRegister(c)
	c.Add(2)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()
	for _, accept := range []string{
		"text/plain;version=0.0.4;escaping=allow-utf-8",
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(body, []byte(`"my.metric"`)) {
			t.Fatalf("%s: client_golang did not send a quoted name:\n%s", accept, body)
		}
		fams, err := Parse(body, DetectContentType(resp.Header.Get("Content-Type"), body))
		if err != nil {
			t.Fatalf("%s: Parse() = %v\n%s", accept, err, body)
		}
		names := map[string]string{}
		for _, f := range fams {
			names[f.GetName()] = ""
			if ls := f.Metric[0].Label; len(ls) > 0 {
				names[f.GetName()] = ls[0].GetName()
			}
		}
		if _, ok := names["req.count_total"]; len(fams) != 2 || !ok || names["my.metric"] != "dotted.label" {
			t.Errorf("%s: families %v", accept, names)
		}
	}
}
