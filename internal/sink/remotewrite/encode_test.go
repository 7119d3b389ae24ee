package remotewrite

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// wireSeries is one decoded TimeSeries.
type wireSeries struct {
	labels  [][2]string
	value   float64
	ts      int64
	samples int
}

// String renders the series as name{labels} value @ts, labels in wire order.
func (s wireSeries) String() string {
	var name string
	var parts []string
	for _, l := range s.labels {
		if l[0] == "__name__" {
			name = l[1]
			continue
		}
		parts = append(parts, l[0]+"="+strconv.Quote(l[1]))
	}
	return fmt.Sprintf("%s{%s} %s @%d", name, strings.Join(parts, ","), strconv.FormatFloat(s.value, 'g', -1, 64), s.ts)
}

// field reads one protobuf field: its number, wire type and either its
// payload (wire type 2), its 8 bytes (1) or its varint (0).
func field(t *testing.T, b []byte) (num int, wt int, payload []byte, v uint64, rest []byte) {
	t.Helper()
	key, n := binary.Uvarint(b)
	if n <= 0 {
		t.Fatalf("bad field key in % x", b)
	}
	b = b[n:]
	num, wt = int(key>>3), int(key&7)
	switch wt {
	case 0:
		v, n = binary.Uvarint(b)
		if n <= 0 {
			t.Fatal("bad varint")
		}
		return num, wt, nil, v, b[n:]
	case 1:
		if len(b) < 8 {
			t.Fatal("short fixed64")
		}
		return num, wt, nil, binary.LittleEndian.Uint64(b), b[8:]
	case 2:
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			t.Fatalf("bad length %d with %d bytes left", l, len(b)-n)
		}
		return num, wt, b[n : n+int(l)], 0, b[n+int(l):]
	}
	t.Fatalf("unexpected wire type %d", wt)
	return
}

// decodeRequest decodes a serialized remote write 1.0 WriteRequest.
func decodeRequest(t *testing.T, b []byte) []wireSeries {
	t.Helper()
	var out []wireSeries
	for len(b) > 0 {
		num, wt, ts, _, rest := field(t, b)
		b = rest
		if num != 1 || wt != 2 {
			t.Fatalf("WriteRequest field %d/%d, want timeseries", num, wt)
		}
		var s wireSeries
		for len(ts) > 0 {
			num, _, sub, _, rest := field(t, ts)
			ts = rest
			switch num {
			case 1:
				var l [2]string
				for len(sub) > 0 {
					n, _, p, _, r := field(t, sub)
					sub = r
					l[n-1] = string(p)
				}
				s.labels = append(s.labels, l)
			case 2:
				s.samples++
				for len(sub) > 0 {
					n, _, _, v, r := field(t, sub)
					sub = r
					if n == 1 {
						s.value = math.Float64frombits(v)
					} else {
						s.ts = int64(v)
					}
				}
			default:
				t.Fatalf("TimeSeries field %d", num)
			}
		}
		out = append(out, s)
	}
	return out
}

// families parses exposition text in document order.
func families(t testing.TB, text string) []*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse test families: %v", err)
	}
	var out []*dto.MetricFamily
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[1] == "TYPE" {
			if mf, ok := byName[f[2]]; ok {
				out = append(out, mf)
				delete(byName, f[2])
			}
		}
	}
	if len(byName) > 0 {
		t.Fatalf("families without TYPE in test text: %v", byName)
	}
	return out
}

// encodeAll encodes fams and returns the decoded requests.
func encodeAll(t *testing.T, fams []*dto.MetricFamily, perRequest int, ts int64) [][]wireSeries {
	t.Helper()
	var reqs [][]wireSeries
	e := &encoder{max: perRequest, ts: ts, flush: func(req []byte, n int) error {
		got := decodeRequest(t, req)
		if len(got) != n {
			t.Errorf("flush says %d series, request holds %d", n, len(got))
		}
		reqs = append(reqs, got)
		return nil
	}}
	if err := e.encode(fams); err != nil {
		t.Fatal(err)
	}
	return reqs
}

const everyType = `# TYPE c_total counter
c_total{path="/a"} 3
# TYPE g gauge
g{zeta="z",Alpha="A",empty="",mid="m\n\"q\""} -1.5
g{zeta="y"} 2 1600000000123
# TYPE h histogram
h_bucket{le="0.5"} 1
h_bucket{le="1e+06"} 3
h_bucket{le="+Inf"} 4
h_sum 2.75
h_count 4
# TYPE s summary
s{quantile="0.5",a="x"} 0.2
s{quantile="0.99",a="x"} 0.9
s_sum{a="x"} 12
s_count{a="x"} 40
# TYPE u untyped
u NaN
`

func TestEncodeEveryType(t *testing.T) {
	const ts = 1700000000000
	reqs := encodeAll(t, families(t, everyType), 1000, ts)
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	want := []string{
		`c_total{path="/a"} 3 @1700000000000`,
		`g{Alpha="A",mid="m\n\"q\"",zeta="z"} -1.5 @1700000000000`,
		`g{zeta="y"} 2 @1600000000123`,
		`h_bucket{le="0.5"} 1 @1700000000000`,
		`h_bucket{le="1e+06"} 3 @1700000000000`,
		`h_bucket{le="+Inf"} 4 @1700000000000`,
		`h_sum{} 2.75 @1700000000000`,
		`h_count{} 4 @1700000000000`,
		`s{a="x",quantile="0.5"} 0.2 @1700000000000`,
		`s{a="x",quantile="0.99"} 0.9 @1700000000000`,
		`s_sum{a="x"} 12 @1700000000000`,
		`s_count{a="x"} 40 @1700000000000`,
		`u{} NaN @1700000000000`,
	}
	var got []string
	for _, s := range reqs[0] {
		got = append(got, s.String())
		if s.samples != 1 {
			t.Errorf("%s has %d samples, want 1", s, s.samples)
		}
		if !slices.IsSortedFunc(s.labels, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) }) {
			t.Errorf("labels of %s are not sorted: %v", s, s.labels)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEncodeHistogramWithoutInfBucket(t *testing.T) {
	// client_golang's registry leaves the +Inf bucket implicit.
	h := &dto.MetricFamily{
		Name: ptr("lat"), Type: dto.MetricType_HISTOGRAM.Enum(),
		Metric: []*dto.Metric{{Histogram: &dto.Histogram{
			SampleCount: ptr[uint64](5), SampleSum: ptr(1.5),
			Bucket: []*dto.Bucket{{UpperBound: ptr(0.1), CumulativeCount: ptr[uint64](2)}},
		}}},
	}
	reqs := encodeAll(t, []*dto.MetricFamily{h}, 10, 7)
	var got []string
	for _, s := range reqs[0] {
		got = append(got, s.String())
	}
	want := `lat_bucket{le="0.1"} 2 @7|lat_bucket{le="+Inf"} 5 @7|lat_sum{} 1.5 @7|lat_count{} 5 @7`
	if strings.Join(got, "|") != want {
		t.Errorf("series %s, want %s", strings.Join(got, "|"), want)
	}
}

func TestEncodeBatches(t *testing.T) {
	var text strings.Builder
	text.WriteString("# TYPE m gauge\n")
	for i := range 10 {
		fmt.Fprintf(&text, "m{i=\"%d\"} %d\n", i, i)
	}
	fams := families(t, text.String())
	tests := []struct {
		max  int
		want []int
	}{
		{1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{3, []int{3, 3, 3, 1}},
		{5, []int{5, 5}},
		{10, []int{10}},
		{5000, []int{10}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.max), func(t *testing.T) {
			var sizes []int
			seen := map[string]bool{}
			for _, r := range encodeAll(t, fams, tt.max, 1) {
				sizes = append(sizes, len(r))
				for _, s := range r {
					seen[s.String()] = true
				}
			}
			if !slices.Equal(sizes, tt.want) {
				t.Errorf("request sizes %v, want %v", sizes, tt.want)
			}
			if len(seen) != 10 {
				t.Errorf("%d distinct series, want 10", len(seen))
			}
		})
	}
}

func TestEncodeLongLabels(t *testing.T) {
	// Lengths past one varint byte (127) and past two (16383).
	for _, n := range []int{127, 128, 16384} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			v := strings.Repeat("ü", n/2) + strings.Repeat("x", n%2)
			mf := &dto.MetricFamily{Name: ptr("m"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{
				Label: []*dto.LabelPair{{Name: ptr("v"), Value: ptr(v)}},
				Gauge: &dto.Gauge{Value: ptr(1.0)},
			}}}
			s := encodeAll(t, []*dto.MetricFamily{mf}, 10, -5)[0][0]
			if s.labels[1][1] != v || s.ts != -5 {
				t.Errorf("label value of %d bytes or timestamp garbled: %d bytes, ts %d", len(v), len(s.labels[1][1]), s.ts)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
