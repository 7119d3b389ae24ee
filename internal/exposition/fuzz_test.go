package exposition

import (
	"bytes"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// FuzzParse: Parse never panics, and whatever parses encodes to text (and
// OpenMetrics) that parses again and encodes to the same bytes. The seed
// corpus is testdata/fuzz/FuzzParse; run with
// go test -run x -fuzz FuzzParse ./internal/exposition/
func FuzzParse(f *testing.F) {
	f.Add([]byte("# TYPE a gauge\na{x=\"1\"} 1\n"), false)
	f.Add([]byte("# TYPE c counter\nc_total 1 # {t=\"x\"} 1\n# EOF\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, om bool) {
		format := FormatText
		if om {
			format = FormatOpenMetrics
		}
		fams, err := Parse(data, format)
		if err != nil {
			return
		}
		// UTF-8 names stay as they are: escaped, two names may become one.
		roundTrip(t, fams, expfmt.FmtText.WithEscapingScheme(model.NoEscaping), FormatText)
		if om {
			roundTrip(t, fams, expfmt.FmtOpenMetrics_1_0_0.WithEscapingScheme(model.NoEscaping), FormatOpenMetrics)
		}
	})
}

func roundTrip(t *testing.T, fams []*dto.MetricFamily, out expfmt.Format, in Format) {
	t.Helper()
	var first bytes.Buffer
	if err := Encode(&first, fams, out); err != nil {
		if in == FormatOpenMetrics {
			return // expfmt cannot write everything as OpenMetrics 1.0 (float histograms)
		}
		t.Fatalf("Encode(%s) = %v", in, err)
	}
	again, err := Parse(first.Bytes(), in)
	if err != nil {
		t.Fatalf("Parse(Encode(%s)) = %v\n%s", in, err, first.Bytes())
	}
	var second bytes.Buffer
	if err := Encode(&second, again, out); err != nil {
		t.Fatalf("Encode(Parse(Encode(%s))) = %v", in, err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("%s round trip differs:\n%s\n---\n%s", in, first.Bytes(), second.Bytes())
	}
}
