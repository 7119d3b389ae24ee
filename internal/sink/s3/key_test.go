package s3

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
)

func TestKeysFor(t *testing.T) {
	start := time.Date(2024, 3, 7, 23, 4, 5, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name     string
		prefix   string
		exporter string
		id       string
		want     string // the .prom key
	}{
		{"no prefix", "", "dummy", "r1", "dummy/2024/03/07/2024-03-07T22:04:05Z-r1.prom"},
		{"prefix", "runs", "dummy", "r1", "runs/dummy/2024/03/07/2024-03-07T22:04:05Z-r1.prom"},
		{"slashes in prefix", "/a//b/", "dummy", "r1", "a/b/dummy/2024/03/07/2024-03-07T22:04:05Z-r1.prom"},
		{"dotted exporter kept", "", "my.exp-1_x", "r1", "my.exp-1_x/2024/03/07/2024-03-07T22:04:05Z-r1.prom"},
		{"slash in exporter", "", "a/b", "r1", "a_b-c14cddc0/2024/03/07/2024-03-07T22:04:05Z-r1.prom"},
		{"dot-dot exporter", "", "..", "r1", "__-5ec1f7e7/2024/03/07/2024-03-07T22:04:05Z-r1.prom"},
		{"empty exporter", "", "", "r1", "_/2024/03/07/2024-03-07T22:04:05Z-r1.prom"},
		{"odd id", "", "dummy", "job 1:x/y", "dummy/2024/03/07/2024-03-07T22:04:05Z-job_1_x_y-4f602224.prom"},
		{"empty id", "", "dummy", "", "dummy/2024/03/07/2024-03-07T22:04:05Z.prom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix, err := cleanPrefix(tt.prefix)
			if err != nil {
				t.Fatal(err)
			}
			got := keysFor(prefix, &batch.Batch{ID: tt.id, Exporter: tt.exporter, Start: start})
			if got.Prom != tt.want {
				t.Errorf("prom key = %q, want %q", got.Prom, tt.want)
			}
			if want := strings.TrimSuffix(tt.want, ".prom") + ".json"; got.JSON != want {
				t.Errorf("json key = %q, want %q", got.JSON, want)
			}
		})
	}
}

func TestSegment(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func(string) bool
	}{
		{"plain kept", "abc-1.2_3", func(s string) bool { return s == "abc-1.2_3" }},
		{"unicode replaced", "zähler", func(s string) bool { return strings.HasPrefix(s, "z_hler-") }},
		{"long cut", strings.Repeat("a", 300), func(s string) bool { return len(s) == maxSegment+9 }},
		{"dot", ".", func(s string) bool { return strings.HasPrefix(s, "_-") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := segment(tt.in); !tt.want(got) {
				t.Errorf("segment(%q) = %q", tt.in, got)
			}
		})
	}
	t.Run("distinct ids stay distinct", func(t *testing.T) {
		seen := map[string]string{}
		for _, id := range []string{"a_b", "a/b", "a:b", "a b", strings.Repeat("x", 200) + "1", strings.Repeat("x", 200) + "2"} {
			s := segment(id)
			if prev, ok := seen[s]; ok {
				t.Errorf("ids %q and %q both give %q", prev, id, s)
			}
			seen[s] = id
		}
	})
}

func TestCleanPrefix(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", "", false},
		{"/", "", false},
		{"runs", "runs", false},
		{"/runs/", "runs", false},
		{"a//b///c", "a/b/c", false},
		{"a/../b", "", true},
		{"./a", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := cleanPrefix(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRecord(t *testing.T) {
	gauge := dto.MetricType_GAUGE
	b := &batch.Batch{
		ID: "r7", Exporter: "dummy", Job: "DummyExporter",
		Start:    time.Date(2024, 3, 7, 22, 4, 5, 0, time.UTC),
		Duration: 1500 * time.Millisecond, ExitCode: 2, Error: "exit status 2",
		Families: []*dto.MetricFamily{
			{Name: new("a"), Type: &gauge, Metric: []*dto.Metric{{}, {}}},
			{Name: new("b"), Type: &gauge, Metric: []*dto.Metric{{}}},
		},
	}
	data, err := newRecord(b, "k.prom")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": "r7", "exporter": "dummy", "job": "DummyExporter",
		"params": map[string]any{}, "labels": map[string]any{},
		"start": "2024-03-07T22:04:05Z", "duration_seconds": 1.5, "exit_code": 2.0,
		"error": "exit status 2", "series": 3.0, "prom_key": "k.prom",
	}
	for k, v := range want {
		if gs, ws := jsonString(t, got[k]), jsonString(t, v); gs != ws {
			t.Errorf("%s = %s, want %s", k, gs, ws)
		}
	}
	if len(got) != len(want) {
		t.Errorf("record has %d fields, want %d: %s", len(got), len(want), data)
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
