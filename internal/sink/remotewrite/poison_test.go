package remotewrite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/spool"
)

// TestPoisonedBatchDoesNotBlockTheQueue is issue 11's second case against
// a real Prometheus receiver: a batch carrying a __name__ label, spooled
// between two valid ones, is refused before sending and quarantined, and
// the valid batches on both sides of it arrive.
func TestPoisonedBatchDoesNotBlockTheQueue(t *testing.T) {
	prom := startPrometheus(t)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	sp, err := spool.Open(spool.Options{Dir: dir, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	f, err := sink.NewFanout([]sink.Sink{newSink(t, Options{URL: prom.URL + "/api/v1/write"})},
		sink.FanoutOptions{Spool: sp, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	mk := func(id string, labels ...*dto.LabelPair) *batch.Batch {
		v := 1.0
		return &batch.Batch{ID: id, Start: start, Families: []*dto.MetricFamily{{
			Name: ptr("rw_run"), Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{Label: append(labels, &dto.LabelPair{Name: ptr("run"), Value: ptr(id)}), Gauge: &dto.Gauge{Value: &v}}},
		}}}
	}
	down, cancel := context.WithCancel(context.Background())
	cancel()
	// v1 and the poisoned batch wait in the spool, as when the receiver
	// was down for their runs.
	f.Deliver(down, mk("v1"))
	f.Deliver(down, mk("poison", &dto.LabelPair{Name: ptr("__name__"), Value: ptr("other")}))
	r := f.Deliver(context.Background(), mk("v2"))[0]
	if r.Outcome != sink.OutcomeSuccess || r.Replayed != 1 {
		t.Fatalf("v2: %+v; want success after v1 (the poisoned batch set aside)", r)
	}
	got := query(t, prom.URL, "rw_run", start.UnixMilli())
	if len(got) != 2 || got[`rw_run{run="v1"}`] != "1" || got[`rw_run{run="v2"}`] != "1" {
		t.Fatalf("Prometheus holds %v, want rw_run for v1 and v2", got)
	}
	if v := testutil.ToFloat64(quarantined(t, reg)); v != 1 {
		t.Fatalf("metricwrap_spool_quarantined_total = %v, want 1", v)
	}
	reasons, _ := filepath.Glob(filepath.Join(dir, "*", "quarantine", "*.reason"))
	if len(reasons) != 1 {
		t.Fatalf("quarantine holds %v, want one .reason", reasons)
	}
	if why, _ := os.ReadFile(reasons[0]); !strings.Contains(string(why), "__name__") {
		t.Fatalf("the reason %q does not name the __name__ label", why)
	}
}

// quarantined returns the spool's quarantine counter for sink rw.
func quarantined(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "metricwrap_spool_quarantined_total",
		Help: "Batches set aside because their destination refused them for good, or kept refusing them while it took others; each is in the queue's quarantine/ directory with the answer.",
	}, []string{"sink"})
	var are prometheus.AlreadyRegisteredError
	if err := reg.Register(vec); err != nil {
		if !errors.As(err, &are) {
			t.Fatal(err)
		}
		vec = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return vec.WithLabelValues("rw")
}
