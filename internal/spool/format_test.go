package spool

import (
	"errors"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
)

func ptr[T any](v T) *T { return &v }

// testBatch builds a batch whose content depends only on id, so a test can
// rebuild what it expects after a restart.
func testBatch(id string) *batch.Batch {
	ts := int64(1763900000000)
	return &batch.Batch{
		ID:       id,
		Exporter: "dummy",
		Job:      "dummy-job",
		Params:   map[string]string{"target": "core-sw01"},
		Labels:   map[string]string{"ci_platform": "keptn"},
		Start:    time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC),
		Duration: 1500 * time.Millisecond,
		ExitCode: 3,
		Error:    "exit status 3",
		Families: []*dto.MetricFamily{
			{
				Name: ptr("dummy_counter_total"), Help: ptr("A counter."), Type: dto.MetricType_COUNTER.Enum(),
				Metric: []*dto.Metric{{
					Label:       []*dto.LabelPair{{Name: ptr("id"), Value: ptr(id)}},
					Counter:     &dto.Counter{Value: ptr(42.5)},
					TimestampMs: ptr(ts),
				}},
			},
			{
				Name: ptr("utf8.metric"), Help: ptr("Dots and ünïcode stay."), Type: dto.MetricType_GAUGE.Enum(),
				Metric: []*dto.Metric{{
					Label: []*dto.LabelPair{{Name: ptr("label.with.dots"), Value: ptr("välue")}},
					Gauge: &dto.Gauge{Value: ptr(-1.25)},
				}},
			},
			{
				Name: ptr("request_duration_seconds"), Help: ptr("A histogram."), Type: dto.MetricType_HISTOGRAM.Enum(),
				Metric: []*dto.Metric{{
					Histogram: &dto.Histogram{
						SampleCount: ptr(uint64(3)), SampleSum: ptr(0.75),
						Bucket: []*dto.Bucket{
							{UpperBound: ptr(0.1), CumulativeCount: ptr(uint64(1))},
							{UpperBound: ptr(1.0), CumulativeCount: ptr(uint64(3))},
						},
					},
					TimestampMs: ptr(ts + 1),
				}},
			},
		},
	}
}

// assertBatch fails unless got is exactly want.
func assertBatch(t *testing.T, want, got *batch.Batch) {
	t.Helper()
	if got.ID != want.ID || got.Exporter != want.Exporter || got.Job != want.Job ||
		!got.Start.Equal(want.Start) || got.Duration != want.Duration ||
		got.ExitCode != want.ExitCode || got.Error != want.Error ||
		fmt.Sprint(got.Params) != fmt.Sprint(want.Params) || fmt.Sprint(got.Labels) != fmt.Sprint(want.Labels) {
		t.Fatalf("batch metadata differs:\nwant %+v\ngot  %+v", want, got)
	}
	if len(got.Families) != len(want.Families) {
		t.Fatalf("batch %s: %d families, want %d", want.ID, len(got.Families), len(want.Families))
	}
	for i := range want.Families {
		// String is the full protobuf text form, stable within one binary.
		if w, g := want.Families[i].String(), got.Families[i].String(); w != g {
			t.Fatalf("batch %s family %d differs:\nwant %s\ngot  %s", want.ID, i, w, g)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch *batch.Batch
	}{
		{"full", testBatch("run-1")},
		{"empty", &batch.Batch{ID: "run-2", Start: time.Unix(0, 0).UTC()}},
		{"no families", func() *batch.Batch { b := testBatch("run-3"); b.Families = nil; return b }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := encode(tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(data)
			if err != nil {
				t.Fatal(err)
			}
			assertBatch(t, tc.batch, got)
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good, err := encode(testBatch("run-1"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 0x20
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-7]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"flipped family byte", flip(len(good) - 3)},
		{"flipped metadata byte", flip(len(good) / 3)},
		{"unknown version", []byte("metricwrap-spool 2 0 0 00000000\n")},
		{"not an entry", []byte("# HELP foo bar\nfoo 1\n")},
		{"no newline", []byte("metricwrap-spool 1 0 0 00000000")},
		{"bad length", []byte("metricwrap-spool 1 x 0 00000000\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(tc.data)
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decode = %v, want errCorrupt", err)
			}
		})
	}
}

func TestDirName(t *testing.T) {
	for _, tc := range []struct{ sink, dir string }{
		{"gateway", "gateway"},
		{"dt-prod_2", "dt-prod_2"},
		{"v1.2", "v1.2"},
		{".", "%2E"},
		{"..", "%2E."},
		{".hidden", "%2Ehidden"},
		{"a/b", "a%2Fb"},
		{"100%", "100%25"},
		{"é", "%C3%A9"},
		{"quarantine", "quarantine"},
	} {
		t.Run(tc.sink, func(t *testing.T) {
			if got := dirName(tc.sink); got != tc.dir {
				t.Fatalf("dirName(%q) = %q, want %q", tc.sink, got, tc.dir)
			}
			back, err := sinkName(tc.dir)
			if err != nil || back != tc.sink {
				t.Fatalf("sinkName(%q) = %q, %v; want %q", tc.dir, back, err, tc.sink)
			}
		})
	}
	for _, bad := range []string{"a%2", "a%zz", "a%2fb", "%61"} {
		if _, err := sinkName(bad); err == nil {
			t.Errorf("sinkName(%q) succeeded, want error", bad)
		}
	}
}
