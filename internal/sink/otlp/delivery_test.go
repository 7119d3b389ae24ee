package otlp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/delivery"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// TestEnvOnlyAndConfiguredSinks builds the sink the two ways users do, a
// `--push otlp` from OTEL_EXPORTER_OTLP_* alone and `type: otlp` in the
// config, and delivers through each to a real Collector; the state lands
// beside the spool.
func TestEnvOnlyAndConfiguredSinks(t *testing.T) {
	t.Setenv("OTLP_TEST_TENANT", "team-a")
	c := testenv.StartCollector(t)
	spoolDir := t.TempDir()
	cfg, err := config.LoadBytes("metricwrap.yml", fmt.Appendf(nil, `spool: {dir: %q}
sinks:
  collector:
    type: otlp
    url: %s
    temporality: delta
    headers: {X-Tenant: "${OTLP_TEST_TENANT}"}
`, spoolDir, c.MetricsURL))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": c.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":  "x-api-key=k%3D1",
	}
	d, err := delivery.Open([]string{"otlp", "collector"}, delivery.Options{Config: cfg, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	if err := d.Deliver(context.Background(), run(t, "d1", at, 7, 1, 3, 4, 2.5)); err != nil {
		t.Fatal(err)
	}
	reqs := received(t, c, 2)
	for _, r := range reqs {
		checkResource(t, r)
	}
	// Cumulative from the environment (the SDKs' default), delta from the
	// config: the first delta run sends no counter.
	if n := len(metrics(reqs)["jobs_total"]); n != 1 {
		t.Errorf("jobs_total arrived %d times, want once (cumulative only)", n)
	}
	if _, err := os.Stat(filepath.Join(spoolDir, ".state", "otlp-collector.json")); err != nil {
		t.Errorf("no state beside the spool: %v", err)
	}
}
