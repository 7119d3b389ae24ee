package batch

import (
	"encoding/json"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestIncrementsTravelAsJSON(t *testing.T) {
	b := &Batch{ID: "x", Increments: []string{"job_runs_total"}}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var got Batch
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !got.IsIncrement("job_runs_total") || got.IsIncrement("other_total") {
		t.Fatalf("increments after a round trip: %v", got.Increments)
	}
}

func TestEmpty(t *testing.T) {
	if !(&Batch{}).Empty() {
		t.Fatal("a batch without families is not empty")
	}
	if !(&Batch{Families: []*dto.MetricFamily{{}}}).Empty() {
		t.Fatal("a batch whose only family has no sample is not empty")
	}
	if (&Batch{Families: []*dto.MetricFamily{{Metric: []*dto.Metric{{}}}}}).Empty() {
		t.Fatal("a batch with a sample is empty")
	}
}
