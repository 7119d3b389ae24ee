package dynatrace_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
)

// pieces are what random names and values are made of: the valid, the
// escaped, the multi-byte, the control and the broken.
var pieces = []string{
	"a", "Z", "_", "0", "9", ".", "-", ":", " ", ",", "=", `"`, `\`, "é", "日本", "😀",
	"\x00", "\n", "\t", "\x7f", "\xff", "dt.", "..", "http_requests_total",
}

func randString(r *rand.Rand, maxLen int) string {
	var b strings.Builder
	for range r.IntN(maxLen + 1) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func randValue(r *rand.Rand) float64 {
	special := []float64{0, 1, -1, 0.5, 1e300, -1e-300, 5e-324, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1)}
	if r.IntN(3) == 0 {
		return special[r.IntN(len(special))]
	}
	return (r.Float64() - 0.3) * math.Pow(10, float64(r.IntN(20)-5))
}

// family builds one family of the given type from fuzzable parts.
func family(name, labelName, labelValue string, v float64, typ uint8) *dto.MetricFamily {
	m := &dto.Metric{}
	if labelName != "" {
		m.Label = []*dto.LabelPair{{Name: proto.String(labelName), Value: proto.String(labelValue)}}
	}
	f := &dto.MetricFamily{Name: proto.String(name), Help: proto.String(labelValue), Metric: []*dto.Metric{m}}
	switch typ % 6 {
	case 0:
		f.Type = dto.MetricType_GAUGE.Enum()
		m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
	case 1:
		f.Type = dto.MetricType_COUNTER.Enum()
		m.Counter = &dto.Counter{Value: proto.Float64(v)}
	case 2:
		f.Type = dto.MetricType_UNTYPED.Enum()
		m.Untyped = &dto.Untyped{Value: proto.Float64(v)}
	case 3, 4:
		f.Type = dto.MetricType_HISTOGRAM.Enum()
		n := uint64(math.Abs(v)) % 1000
		m.Histogram = &dto.Histogram{SampleCount: proto.Uint64(n), SampleSum: proto.Float64(v)}
		cum := uint64(0)
		for i, ub := range []float64{-1, 0.1, 1, v, 1e9} {
			cum += (n >> uint(i)) % 7
			m.Histogram.Bucket = append(m.Histogram.Bucket, &dto.Bucket{UpperBound: proto.Float64(ub), CumulativeCount: proto.Uint64(cum)})
		}
		if typ%6 == 4 {
			f.Type = dto.MetricType_GAUGE_HISTOGRAM.Enum()
		}
	case 5:
		f.Type = dto.MetricType_SUMMARY.Enum()
		m.Summary = &dto.Summary{SampleCount: proto.Uint64(uint64(math.Abs(v)) % 50), SampleSum: proto.Float64(v * 3),
			Quantile: []*dto.Quantile{
				{Quantile: proto.Float64(0.5), Value: proto.Float64(v)},
				{Quantile: proto.Float64(0.99), Value: proto.Float64(v * 2)},
			}}
	}
	return f
}

// serializeAll serializes fams twice (counters need a second sighting)
// and returns every line.
func serializeAll(fams []*dto.MetricFamily, cfg dynatrace.Config) []string {
	counters := dynatrace.NewTestCounters()
	out := lineStrings(dynatrace.Serialize(fams, cfg, counters))
	for _, f := range fams {
		for _, m := range f.Metric {
			if m.Counter != nil {
				m.Counter.Value = proto.Float64(m.GetCounter().GetValue() * 2)
			}
		}
	}
	return append(out, lineStrings(dynatrace.Serialize(fams, cfg, counters))...)
}

// TestSerializeRandomFamiliesAccepted is the property that matters: every
// line the serializer emits, whatever it was given, passes the fake.
func TestSerializeRandomFamiliesAccepted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	for i := range 300 {
		var fams []*dto.MetricFamily
		for range 1 + r.IntN(5) {
			f := family(randString(r, 8), randString(r, 4), randString(r, 6), randValue(r), uint8(r.IntN(6)))
			for range r.IntN(60) { // extra labels, sometimes past the dimension limit
				f.Metric[0].Label = append(f.Metric[0].Label, &dto.LabelPair{
					Name: proto.String(randString(r, 5)), Value: proto.String(strings.Repeat(randString(r, 3), r.IntN(120))),
				})
			}
			fams = append(fams, f)
		}
		cfg := dynatrace.Config{
			Prefix:            randString(r, 3),
			DefaultDimensions: map[string]string{randString(r, 4): randString(r, 4), "env": "prod"},
			Metadata:          i%2 == 0,
			Timestamp:         now,
		}
		for _, l := range serializeAll(fams, cfg) {
			if err := dtfake.CheckLine(l, now); err != nil {
				t.Fatalf("case %d: fake rejects %q: %v", i, l, err)
			}
		}
	}
}

// TestPushRandomFamiliesAccepted sends random families through the whole
// sink: the fake must answer 202 to every request.
func TestPushRandomFamiliesAccepted(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fake := dtfake.New(token)
	e := newEnv(t, fake, dynatrace.Options{Token: token, Metadata: true, Prefix: "mw"})
	for i := range 20 {
		var fams []*dto.MetricFamily
		for range 50 {
			fams = append(fams, family(randString(r, 8), randString(r, 4), randString(r, 6), randValue(r), uint8(r.IntN(6))))
		}
		b := &batch.Batch{ID: "random-" + string(rune('a'+i)), Families: fams, Start: time.Now()}
		if err := e.sink.Push(context.Background(), b); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	for _, req := range fake.Requests() {
		if req.Status != 202 {
			t.Errorf("request answered %d", req.Status)
		}
	}
	if len(fake.Lines()) == 0 {
		t.Error("nothing was sent")
	}
}

func FuzzSerialize(f *testing.F) {
	f.Add("http_requests_total", "Method", "GET", 12.5, uint8(1), "mw")
	f.Fuzz(func(t *testing.T, name, labelName, labelValue string, v float64, typ uint8, prefix string) {
		now := time.Now()
		fams := []*dto.MetricFamily{family(name, labelName, labelValue, v, typ)}
		cfg := dynatrace.Config{Prefix: prefix, Metadata: true, Timestamp: now,
			DefaultDimensions: map[string]string{labelValue: labelName}}
		for _, l := range serializeAll(fams, cfg) {
			if err := dtfake.CheckLine(l, now); err != nil {
				t.Fatalf("fake rejects %q: %v", l, err)
			}
		}
	})
}
