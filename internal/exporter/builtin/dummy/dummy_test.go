package dummy

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// TestFamiliesOfTheOriginal checks the original dummy exporter's families,
// labels and fixed values; the timings must be real (above zero).
func TestFamiliesOfTheOriginal(t *testing.T) {
	b, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := b.Collect(context.Background(), nil, reg); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.Metric {
			key := f.GetName()
			for _, l := range m.Label {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.Summary != nil:
				got[key+"_count"] = float64(m.Summary.GetSampleCount())
				got[key+"_sum"] = m.Summary.GetSampleSum()
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"dummy_gauge": 0,
		"dummy_counter_total{dummy_label=dummy_label_value}":                1,
		"execution_seconds{function=DummyExporter.my_custom_task}_count":    1,
		"execution_seconds{function=DummyExporter.observed_function}_count": 1,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	for _, key := range []string{
		"execution_seconds{function=DummyExporter.my_custom_task}_sum",
		"generic_timer_seconds_total",
	} {
		if got[key] <= 0 {
			t.Errorf("%s = %v, want a measured time above zero", key, got[key])
		}
	}
	if len(fams) != 4 {
		t.Errorf("%d families, want 4", len(fams))
	}
}

func TestRefusesOptions(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("rounds: 3\n"), &n); err != nil {
		t.Fatal(err)
	}
	if _, err := New(n.Content[0]); err == nil || !strings.Contains(err.Error(), "rounds") {
		t.Fatalf("error %v, want one naming the unknown key", err)
	}
}
