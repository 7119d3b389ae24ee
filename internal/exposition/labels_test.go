package exposition

import (
	"testing"
)

func TestAddLabels(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		labels map[string]string
		want   string
	}{
		{"adds sorted", "a{m=\"1\"} 1\n", map[string]string{"z": "9", "b": "2"}, "# TYPE a untyped\na{b=\"2\",m=\"1\",z=\"9\"} 1\n"},
		{"never clobbers", "a{job=\"mine\"} 1\nb 2\n", map[string]string{"job": "wrapped"}, "# TYPE a untyped\na{job=\"mine\"} 1\n# TYPE b untyped\nb{job=\"wrapped\"} 2\n"},
		{"histogram keeps le last", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", map[string]string{"a": "x"},
			"# TYPE h histogram\nh_bucket{a=\"x\",le=\"+Inf\"} 1\nh_sum{a=\"x\"} 1\nh_count{a=\"x\"} 1\n"},
		{"nothing to add", "a 1\n", nil, "# TYPE a untyped\na 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fams, err := Parse([]byte(tt.in), FormatText)
			if err != nil {
				t.Fatal(err)
			}
			AddLabels(fams, tt.labels)
			if got := string(Text(fams)); got != tt.want {
				t.Errorf("after AddLabels:\n%s\nwant:\n%s", got, tt.want)
			}
			if err := Validate(fams); err != nil {
				t.Errorf("Validate() after AddLabels = %v", err)
			}
		})
	}
}

// TestAddLabelsSharedPairs checks that adding to one metric does not leak
// into another: Parse shares pairs and packs label slices side by side.
func TestAddLabelsSharedPairs(t *testing.T) {
	fams, err := Parse([]byte("a{x=\"1\"} 1\nb{x=\"1\"} 2\n"), FormatText)
	if err != nil {
		t.Fatal(err)
	}
	AddLabels(fams[:1], map[string]string{"y": "2"})
	want := "# TYPE a untyped\na{x=\"1\",y=\"2\"} 1\n# TYPE b untyped\nb{x=\"1\"} 2\n"
	if got := string(Text(fams)); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
