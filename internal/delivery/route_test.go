package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// run is one command's delivery, as run or exec makes it: its own
// environment, the spool dir every run of the user shares.
type run struct {
	t    *testing.T
	cfg  *config.Config
	env  map[string]string
	logs bytes.Buffer
	reg  *prometheus.Registry
}

func newRun(t *testing.T, spoolDir string, env map[string]string) *run {
	cfg := config.Default()
	cfg.Spool.Dir = spoolDir
	return &run{t: t, cfg: cfg, env: env, reg: prometheus.NewRegistry()}
}

// deliver opens the delivery, hands b to sink name and closes. With down
// set the destination counts as unreachable (the context is over before
// the first attempt), so b is spooled.
func (r *run) deliver(name string, b *batch.Batch, down bool) {
	r.t.Helper()
	d, err := Open([]string{name}, Options{
		Config: r.cfg, Getenv: env(r.env), Registerer: r.reg,
		Logger: slog.New(slog.NewTextHandler(&r.logs, nil)),
	})
	if err != nil {
		r.t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	if down {
		cancel()
	}
	defer cancel()
	if err := d.Deliver(ctx, b); err != nil {
		r.t.Fatalf("deliver %s: %v", b.ID, err)
	}
}

func jobBatch(id, job string) *batch.Batch {
	return &batch.Batch{ID: id, Exporter: job, Job: job, Start: time.Now(), Families: gauge("important_value", 7)}
}

// groups lists the job label of every group a Pushgateway holds.
func groups(t *testing.T, url string) []string {
	var jobs []string
	for _, g := range testenv.ReadPushgateway(t, url) {
		jobs = append(jobs, g.Labels["job"])
	}
	return jobs
}

// TestSpooledBatchNeverGoesToAnotherPushgateway is issue 11's first case:
// a batch spooled for gateway A is not delivered to gateway B by a later
// run whose PUSHGATEWAY_URL points elsewhere; it is reported as an orphan,
// and reaches A once a run points at A again.
func TestSpooledBatchNeverGoesToAnotherPushgateway(t *testing.T) {
	a, b := testenv.StartPushgateway(t), testenv.StartPushgateway(t)
	dir := t.TempDir()

	runA := newRun(t, dir, map[string]string{"PUSHGATEWAY_URL": a.URL})
	runA.deliver(EnvPushgateway, jobBatch("a1", "tenant_a_job"), true)

	runB := newRun(t, dir, map[string]string{"PUSHGATEWAY_URL": b.URL})
	runB.deliver(EnvPushgateway, jobBatch("b1", "tenant_b_job"), false)
	if got := strings.Join(groups(t, b.URL), ","); got != "tenant_b_job" {
		t.Fatalf("gateway B holds jobs %q, want only tenant_b_job", got)
	}
	if got := groups(t, a.URL); len(got) != 0 {
		t.Fatalf("gateway A holds %v before any run pointed at it again", got)
	}
	if !strings.Contains(runB.logs.String(), "whose destination no sink delivers to") || !strings.Contains(runB.logs.String(), a.URL) {
		t.Errorf("run B did not name the orphaned queue of gateway A:\n%s", runB.logs.String())
	}
	d, err := Open([]string{EnvPushgateway}, Options{Config: runB.cfg, Getenv: env(runB.env), Registerer: runB.reg})
	if err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(runB.reg, "metricwrap_spool_orphaned_batches")
	if err != nil || n != 1 || len(d.Orphans()) != 1 || d.Orphans()[0].Destination != `pushgateway `+a.URL+` job=""` {
		t.Errorf("metricwrap_spool_orphaned_batches has %d series (%v), orphans %+v; want gateway A's queue", n, err, d.Orphans())
	}
	d.Close()

	runA2 := newRun(t, dir, map[string]string{"PUSHGATEWAY_URL": a.URL})
	runA2.deliver(EnvPushgateway, jobBatch("a2", "tenant_a_job2"), false)
	if got := strings.Join(groups(t, a.URL), ","); !strings.Contains(got, "tenant_a_job") || !strings.Contains(got, "tenant_a_job2") {
		t.Fatalf("gateway A holds %q, want tenant_a_job (replayed) and tenant_a_job2", got)
	}
	if got := strings.Join(groups(t, b.URL), ","); got != "tenant_b_job" {
		t.Fatalf("gateway B holds jobs %q, want only tenant_b_job", got)
	}
}

// TestSpooledBatchNeverGoesToAnotherTenant: the same with DT_TENANT; tenant
// A's metrics must never be sent to tenant B under B's token.
func TestSpooledBatchNeverGoesToAnotherTenant(t *testing.T) {
	fakeA, fakeB := dtfake.New("token-a"), dtfake.New("token-b")
	srvA, srvB := httptest.NewServer(fakeA), httptest.NewServer(fakeB)
	defer srvA.Close()
	defer srvB.Close()
	dir := t.TempDir()
	tenant := func(url, token string) map[string]string {
		return map[string]string{"DT_TENANT": url, "DT_API_TOKEN": token}
	}
	newRun(t, dir, tenant(srvA.URL, "token-a")).deliver(EnvDynatrace, jobBatch("a1", "tenant_a"), true)
	newRun(t, dir, tenant(srvB.URL, "token-b")).deliver(EnvDynatrace, jobBatch("b1", "tenant_b"), false)
	if n := len(fakeB.Lines()); n != 1 {
		t.Fatalf("tenant B got %d lines %v, want its own one", n, fakeB.Lines())
	}
	if n := len(fakeA.Lines()); n != 0 {
		t.Fatalf("tenant A got %v before a run pointed at it", fakeA.Lines())
	}
	newRun(t, dir, tenant(srvA.URL, "token-a")).deliver(EnvDynatrace, jobBatch("a2", "tenant_a"), false)
	if n := len(fakeA.Lines()); n != 2 {
		t.Fatalf("tenant A got %v, want the spooled line and the new one", fakeA.Lines())
	}
	if n := len(fakeB.Lines()); n != 1 {
		t.Fatalf("tenant B got %v, want only its own line", fakeB.Lines())
	}
}

// TestExecCountersAreDeltasOnTheFirstRun: counters marked as increments go
// to Dynatrace as count,delta=N with no stored state, each run, while an
// exporter's own cumulative counter still waits for its second sighting.
func TestExecCountersAreDeltasOnTheFirstRun(t *testing.T) {
	fake := dtfake.New("tok")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	b := func(id string, own float64) *batch.Batch {
		x := jobBatch(id, "backup")
		x.Families = append(counter("job_runs_total", 1), counter("exporter_bytes_total", own)...)
		x.Increments = []string{"job_runs_total"}
		return x
	}
	r := newRun(t, dir, map[string]string{"DT_TENANT": srv.URL, "DT_API_TOKEN": "tok"})
	r.deliver(EnvDynatrace, b("r1", 100), false)
	if got := strings.Join(fake.Lines(), "\n"); !strings.Contains(got, "job_runs_total,job=backup count,delta=1") || strings.Contains(got, "exporter_bytes_total") {
		t.Fatalf("first run sent:\n%s\nwant job_runs_total,job=backup count,delta=1 and no exporter_bytes_total", got)
	}
	r.deliver(EnvDynatrace, b("r2", 130), false)
	got := strings.Join(fake.Lines(), "\n")
	if strings.Count(got, "job_runs_total,job=backup count,delta=1") != 2 || !strings.Contains(got, "exporter_bytes_total,job=backup count,delta=30") {
		t.Fatalf("two runs sent:\n%s\nwant job_runs_total,job=backup count,delta=1 twice and exporter_bytes_total count,delta=30", got)
	}
}

// TestUnusableSpoolDirDegrades: a spool dir under a regular file (which
// fails for root too) opens the delivery without a spool, says so in the
// log and in metricwrap_spool_enabled, and still delivers.
func TestUnusableSpoolDirDegrades(t *testing.T) {
	gw := testenv.StartPushgateway(t)
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRun(t, filepath.Join(file, "spool"), map[string]string{"PUSHGATEWAY_URL": gw.URL})
	d, err := Open(nil, Options{Config: r.cfg, Getenv: env(r.env), Registerer: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(r.reg, strings.NewReader(`
# HELP metricwrap_spool_enabled 1 when deliveries are spooled until acknowledged; 0 when the spool dir could not be used (read-only, unwritable, held by another process) and failed deliveries are lost.
# TYPE metricwrap_spool_enabled gauge
metricwrap_spool_enabled 0
`), "metricwrap_spool_enabled"); err != nil {
		t.Error(err)
	}
	d.Close()
	r.deliver(EnvPushgateway, jobBatch("r1", "backup"), false)
	if !strings.Contains(r.logs.String(), "delivering without one") {
		t.Errorf("no warning:\n%s", r.logs.String())
	}
	if got := strings.Join(groups(t, gw.URL), ","); got != "backup" {
		t.Fatalf("gateway holds %q, want backup", got)
	}
}
