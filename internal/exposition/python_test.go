package exposition

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// pythonScript fills a registry the way the original tool's exporters do
// and prints it in the format named by argv[1].
const pythonScript = `
import sys
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
r = CollectorRegistry()
s = Summary('execution_seconds', 'Summary of time spent executing something', ['function'], registry=r)
s.labels('DummyExporter.my_custom_task').observe(0.012)
s.labels('DummyExporter.observed_function').observe(0.5)
Gauge('dummy_gauge', 'A "dummy" gauge\\with a backslash', registry=r).set(float('nan'))
Counter('dummy_counter', 'A dummy counter', ['dummy_label'], registry=r).labels('dummy_label_value').inc()
Counter('generic_timer_seconds_total', 'Generic timer', registry=r).inc(1.5)
Counter('never_incremented', 'Has labels, no children', ['x'], registry=r)
h = Histogram('lat_seconds', 'Latency', ['route'], buckets=(0.1, 1), registry=r)
h.labels('/').observe(0.3)
Info('build', 'Build information', registry=r).info({'version': '1.0', 'quote': 'a"b'})
Enum('http_health_status', 'Health', states=['healthy', 'unhealthy'], registry=r).state('healthy')
gen = generate_openmetrics if sys.argv[1] == 'openmetrics' else generate_latest
sys.stdout.write(gen(r).decode())
`

// python caches the interpreter and outputs: finding an interpreter that
// can import prometheus_client starts every python3 on PATH.
var python struct {
	path string
	outs map[string][]byte
}

func runPython(t *testing.T, format string, created bool) []byte {
	t.Helper()
	key := fmt.Sprint(format, created)
	if out, ok := python.outs[key]; ok {
		return out
	}
	if python.path == "" {
		python.path = testenv.Python(t)
	}
	py := python.path
	cmd := exec.Command(py, "-c", pythonScript, format)
	cmd.Env = append(os.Environ(), "PROMETHEUS_DISABLE_CREATED_SERIES=True")
	if created {
		cmd.Env = os.Environ()
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if python.outs == nil {
		python.outs = map[string][]byte{}
	}
	python.outs[key] = out
	return out
}

// TestPythonClient feeds the real prometheus_client's output in both
// formats: both parse, come out as the same families, and carry the
// Python names and types the original tool produced.
func TestPythonClient(t *testing.T) {
	text := runPython(t, "text", false)
	om := runPython(t, "openmetrics", false)
	if Detect(text) != FormatText || Detect(om) != FormatOpenMetrics {
		t.Fatalf("Detect: text=%v openmetrics=%v", Detect(text), Detect(om))
	}
	fromText, err := Parse(text, FormatText)
	if err != nil {
		t.Fatalf("Parse(text) = %v\n%s", err, text)
	}
	fromOM, err := Parse(om, FormatOpenMetrics)
	if err != nil {
		t.Fatalf("Parse(openmetrics) = %v\n%s", err, om)
	}
	want := []struct {
		name string
		typ  dto.MetricType
	}{
		{"execution_seconds", dto.MetricType_SUMMARY},
		{"dummy_gauge", dto.MetricType_GAUGE},
		{"dummy_counter_total", dto.MetricType_COUNTER},
		{"generic_timer_seconds_total", dto.MetricType_COUNTER},
		{"lat_seconds", dto.MetricType_HISTOGRAM},
		{"build_info", dto.MetricType_GAUGE},
		{"http_health_status", dto.MetricType_GAUGE},
	}
	for _, fams := range [][]*dto.MetricFamily{fromText, fromOM} {
		if len(fams) != len(want) {
			t.Fatalf("got %d families, want %d:\n%s", len(fams), len(want), Text(fams))
		}
		for i, w := range want {
			if fams[i].GetName() != w.name || fams[i].GetType() != w.typ {
				t.Errorf("family %d = %s %v, want %s %v", i, fams[i].GetName(), fams[i].GetType(), w.name, w.typ)
			}
		}
	}
	if s := fromText[0].Metric[0].GetSummary(); len(s.Quantile) != 0 || s.GetSampleCount() != 1 || s.GetSampleSum() != 0.012 {
		t.Errorf("summary = %v", s)
	}
	if got := fromText[1].GetHelp(); got != `A "dummy" gauge\with a backslash` {
		t.Errorf("gauge HELP = %q", got)
	}
	if a, b := Text(fromText), Text(fromOM); !bytes.Equal(a, b) {
		t.Errorf("text and OpenMetrics give different families:\n%s\n---\n%s", a, b)
	}
}

// TestPythonClientCreated: with _created series on, the text format has
// extra gauge families, OpenMetrics has samples that are dropped.
func TestPythonClientCreated(t *testing.T) {
	text := runPython(t, "text", true)
	fams, err := Parse(text, FormatText)
	if err != nil {
		t.Fatalf("Parse(text) = %v\n%s", err, text)
	}
	if !bytes.Contains(Text(fams), []byte("# TYPE dummy_counter_created gauge\n")) {
		t.Errorf("text _created family missing:\n%s", Text(fams))
	}
	om := runPython(t, "openmetrics", true)
	fams, err = Parse(om, FormatOpenMetrics)
	if err != nil {
		t.Fatalf("Parse(openmetrics) = %v\n%s", err, om)
	}
	if bytes.Contains(Text(fams), []byte("_created")) {
		t.Errorf("OpenMetrics _created samples kept:\n%s", Text(fams))
	}
}

// TestPushgatewayAcceptsEncoded pushes what Encode makes of the Python
// client's OpenMetrics output to a real Pushgateway and reads it back: the
// counter family named x_total is what the Pushgateway stores as a counter.
func TestPushgatewayAcceptsEncoded(t *testing.T) {
	om := runPython(t, "openmetrics", false)
	fams, err := Parse(om, FormatOpenMetrics)
	if err != nil {
		t.Fatal(err)
	}
	pg := testenv.StartPushgateway(t)
	req, err := http.NewRequest(http.MethodPut, pg.URL+"/metrics/job/exposition_test", bytes.NewReader(Text(fams)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", string(expfmt.FmtText))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("push: %s: %s", resp.Status, body)
	}
	resp, err = http.Get(pg.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scraped, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(scraped, Detect(scraped))
	if err != nil {
		t.Fatalf("Parse(pushgateway /metrics) = %v", err)
	}
	found := false
	for _, f := range back {
		if f.GetName() == "dummy_counter_total" {
			found = f.GetType() == dto.MetricType_COUNTER && len(f.Metric) == 1 && f.Metric[0].GetCounter().GetValue() == 1
		}
	}
	if !found {
		t.Errorf("pushgateway does not serve counter dummy_counter_total:\n%s", strings.TrimSpace(string(scraped)))
	}
}
