package otlp_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
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

// TestTLSConfig: a config sink's tls_config (the plumbing every sink
// shares) reaches the OTLP client: an https receiver whose CA is only in
// ca_file is reached, and refused without it.
func TestTLSConfig(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewUnstartedServer(rc)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tls string
		ok  bool
	}{{fmt.Sprintf("tls_config: {ca_file: %q}", ca), true}, {"retry_for: 0s", false}} {
		cfg, err := config.LoadBytes("metricwrap.yml", fmt.Appendf(nil, "spool: {dir: %q}\nsinks:\n  secure:\n    type: otlp\n    url: %s/v1/metrics\n    %s\n",
			t.TempDir(), srv.URL, tc.tls))
		if err != nil {
			t.Fatal(err)
		}
		d, err := delivery.Open([]string{"secure"}, delivery.Options{Config: cfg, NoSpool: true})
		if err != nil {
			t.Fatal(err)
		}
		err = d.Deliver(context.Background(), mkBatch("t", t0, gauge("g", 1)))
		d.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %t", tc.tls, err, tc.ok)
		}
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("%d requests arrived, want 1", n)
	}
}
