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
