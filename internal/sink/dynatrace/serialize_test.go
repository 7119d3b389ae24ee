package dynatrace_test

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the serializer's output")

// parse turns exposition text into families sorted by name.
func parse(t testing.TB, text string) []*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	out := make([]*dto.MetricFamily, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

func lineStrings(l *dynatrace.Lines) []string {
	out := make([]string, l.Len())
	for i := range out {
		out[i] = string(l.Line(i))
	}
	return out
}

// checkAccepted fails unless the strict fake's grammar accepts every line.
func checkAccepted(t testing.TB, lines []string, now time.Time) {
	t.Helper()
	for _, l := range lines {
		if err := dtfake.CheckLine(l, now); err != nil {
			t.Errorf("fake rejects %q: %v", l, err)
		}
	}
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the serializer's output:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestSerializeGolden(t *testing.T) {
	ts := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		cfg    dynatrace.Config
		pushes []string // exposition text of successive runs
	}{
		{name: "gauge", pushes: []string{`# TYPE temperature_celsius gauge
temperature_celsius{room="kitchen"} 21.5
temperature_celsius{room="living room"} -3
temperature_celsius{room="cellar"} 1e+21
# TYPE queue_length untyped
queue_length 42
`}},
		{name: "counter", pushes: []string{`# TYPE requests_total counter
requests_total{code="200"} 100
requests_total{code="500"} 7
`, `# TYPE requests_total counter
requests_total{code="200"} 150.5
requests_total{code="500"} 2
requests_total{code="404"} 1
`, `# TYPE requests_total counter
requests_total{code="200"} 150.5
requests_total{code="500"} 3
requests_total{code="404"} 4
`}},
		{name: "histogram", pushes: []string{`# TYPE request_duration_seconds histogram
request_duration_seconds_bucket{path="/a",le="0.1"} 0
request_duration_seconds_bucket{path="/a",le="0.5"} 3
request_duration_seconds_bucket{path="/a",le="1"} 5
request_duration_seconds_bucket{path="/a",le="+Inf"} 6
request_duration_seconds_sum{path="/a"} 4.2
request_duration_seconds_count{path="/a"} 6
request_duration_seconds_bucket{path="/b",le="0.1"} 2
request_duration_seconds_bucket{path="/b",le="+Inf"} 2
request_duration_seconds_sum{path="/b"} 0.08
request_duration_seconds_count{path="/b"} 2
request_duration_seconds_bucket{path="/empty",le="0.1"} 0
request_duration_seconds_bucket{path="/empty",le="+Inf"} 0
request_duration_seconds_sum{path="/empty"} 0
request_duration_seconds_count{path="/empty"} 0
request_duration_seconds_bucket{path="/skewed",le="1"} 1
request_duration_seconds_bucket{path="/skewed",le="2"} 1
request_duration_seconds_bucket{path="/skewed",le="+Inf"} 2
request_duration_seconds_sum{path="/skewed"} 100
request_duration_seconds_count{path="/skewed"} 2
`}},
		{name: "summary", pushes: []string{`# TYPE execution_seconds summary
execution_seconds{function="DummyExporter.my_custom_task",quantile="0.5"} 0.2
execution_seconds{function="DummyExporter.my_custom_task",quantile="0.99"} 0.9
execution_seconds_sum{function="DummyExporter.my_custom_task"} 3
execution_seconds_count{function="DummyExporter.my_custom_task"} 10
execution_seconds_sum{function="DummyExporter.observed_function"} 0.002
execution_seconds_count{function="DummyExporter.observed_function"} 1
execution_seconds{function="never",quantile="0.5"} NaN
execution_seconds_sum{function="never"} 0
execution_seconds_count{function="never"} 0
`}},
		{name: "enum", pushes: []string{`# HELP job_state Enum-style state of the job.
# TYPE job_state gauge
job_state{job_state="running"} 1
job_state{job_state="stopped"} 0
job_state{job_state="failed"} 0
`}},
		{name: "info", pushes: []string{`# HELP build_info Build information.
# TYPE build_info gauge
build_info{version="1.2.3",revision="abc123",goversion="go1.26"} 1
`}},
		{name: "metadata", cfg: dynatrace.Config{
			Prefix: "metricwrap", Metadata: true, Timestamp: ts,
			DefaultDimensions: map[string]string{"Env": "prod", "room": "overridden", "empty": ""},
		}, pushes: []string{`# HELP temperature_celsius Temperature, by room.
# TYPE temperature_celsius gauge
temperature_celsius{room="kitchen"} 21.5
# HELP uptime_seconds How long it has been up.
# TYPE uptime_seconds gauge
uptime_seconds 12
# HELP sent_bytes_total Bytes sent.
# TYPE sent_bytes_total counter
sent_bytes_total 10
# TYPE no_help gauge
no_help NaN
`, `# HELP sent_bytes_total Bytes sent.
# TYPE sent_bytes_total counter
sent_bytes_total 25
`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counters := dynatrace.NewTestCounters()
			var got strings.Builder
			for i, text := range tc.pushes {
				if len(tc.pushes) > 1 {
					got.WriteString("# push " + string(rune('1'+i)) + "\n")
				}
				lines := lineStrings(dynatrace.Serialize(parse(t, text), tc.cfg, counters))
				checkAccepted(t, lines, ts)
				for _, l := range lines {
					got.WriteString(l + "\n")
				}
			}
			compareGolden(t, tc.name, got.String())
		})
	}
}

func TestSerializeDropped(t *testing.T) {
	fams := parse(t, `# TYPE g gauge
g_nan NaN
g_inf +Inf
g_ok 1
# TYPE c_total counter
c_total -1
`)
	l := dynatrace.Serialize(fams, dynatrace.Config{}, dynatrace.NewTestCounters())
	if got := lineStrings(l); len(got) != 1 || got[0] != "g_ok gauge,1" {
		t.Errorf("lines = %q, want only g_ok", got)
	}
	if l.Dropped[dynatrace.DropNonFinite] != 2 {
		t.Errorf("dropped non-finite = %d, want 2", l.Dropped[dynatrace.DropNonFinite])
	}
}
