package exposition

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden parses each input in testdata/golden, encodes it as text and
// as OpenMetrics, compares with the .text and .om files, and checks that
// those parse and encode back to themselves.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/*.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		ext := filepath.Ext(in)
		if ext == ".text" || ext == ".om" {
			continue
		}
		base := strings.TrimSuffix(in, ext)
		t.Run(filepath.Base(base), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			fams, err := Parse(data, Detect(data))
			if err != nil {
				t.Fatalf("Parse(%s) = %v", in, err)
			}
			for _, out := range []struct {
				ext    string
				format expfmt.Format
				parse  Format
			}{
				{".text", expfmt.FmtText, FormatText},
				{".om", expfmt.FmtOpenMetrics_1_0_0, FormatOpenMetrics},
			} {
				var b bytes.Buffer
				if err := Encode(&b, fams, out.format); err != nil {
					t.Fatalf("Encode(%s) = %v", out.ext, err)
				}
				golden := base + out.ext
				if *update {
					if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(b.Bytes(), want) {
					t.Errorf("Encode(%s) differs from %s:\n%s", out.ext, golden, b.String())
				}
				if Detect(want) != out.parse {
					t.Errorf("Detect(%s) = %v, want %v", golden, Detect(want), out.parse)
				}
				again, err := Parse(want, out.parse)
				if err != nil {
					t.Fatalf("Parse(%s) = %v", golden, err)
				}
				var b2 bytes.Buffer
				if err := Encode(&b2, again, out.format); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b2.Bytes(), want) {
					t.Errorf("%s does not encode back to itself:\n%s", golden, b2.String())
				}
			}
		})
	}
}

func TestEncodeFormats(t *testing.T) {
	fams, err := Parse([]byte("# TYPE c_total counter\nc_total 1\n"), FormatText)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		format expfmt.Format
		want   string
		err    bool
	}{
		{"text", expfmt.FmtText, "# TYPE c_total counter\nc_total 1\n", false},
		{"openmetrics keeps the number as written", expfmt.FmtOpenMetrics_1_0_0, "# TYPE c counter\nc_total 1\n# EOF\n", false},
		{"openmetrics 2.0 via NewEncoder", expfmt.FmtOpenMetrics_2_0_0, "# TYPE c_total counter\nc_total 1.0\n# EOF\n", false},
		{"unknown", expfmt.FmtUnknown, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Encode(&b, fams, tt.format)
			if (err != nil) != tt.err {
				t.Fatalf("Encode() error = %v, want error %v", err, tt.err)
			}
			if !tt.err && b.String() != tt.want {
				t.Errorf("Encode() =\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// TestAppendBuildsAnAnswerOfParts: two Append calls and the terminator
// give the document one Encode of all the families gives, in each format
// the encoder writes, and a stream of new formats (one per hostile Accept
// header) is still encoded right past the bound on remembered formats.
func TestAppendBuildsAnAnswerOfParts(t *testing.T) {
	first, err := Parse([]byte("# TYPE a counter\na_total 1\n"), FormatText)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Parse([]byte("# TYPE b gauge\nb{x=\"y\"} 2.5\n"), FormatText)
	if err != nil {
		t.Fatal(err)
	}
	formats := []expfmt.Format{expfmt.FmtText, expfmt.FmtOpenMetrics_1_0_0}
	for i := range maxFormatInfos + 10 {
		formats = append(formats, expfmt.Format(string(expfmt.FmtOpenMetrics_1_0_0)+"; escaping=underscores; n="+strings.Repeat("x", i)))
	}
	for _, f := range formats {
		var whole bytes.Buffer
		if err := Encode(&whole, append(append(first[:0:0], first...), second...), f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		b, err := Append(nil, first, f)
		if err != nil {
			t.Fatal(err)
		}
		b, err = Append(b, second, f)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, Terminator(f)...)
		if !bytes.Equal(b, whole.Bytes()) {
			t.Fatalf("%s: parts give\n%s\nwant\n%s", f, b, whole.Bytes())
		}
		if om := strings.HasPrefix(string(f), string(expfmt.FmtOpenMetrics_1_0_0)); om != bytes.HasSuffix(b, []byte("# EOF\n")) {
			t.Errorf("%s: terminator wrong in\n%s", f, b)
		}
	}
	if n := formatInfoCount.Load(); n <= maxFormatInfos {
		t.Errorf("only %d formats seen, the test wants to pass the bound of %d", n, maxFormatInfos)
	}
	stored := 0
	formatInfos.Range(func(_, _ any) bool { stored++; return true })
	if stored > maxFormatInfos {
		t.Errorf("%d formats remembered, bound %d", stored, maxFormatInfos)
	}
}
