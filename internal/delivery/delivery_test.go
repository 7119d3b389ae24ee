package delivery

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestEnvOnlySinks(t *testing.T) {
	cfg := config.Default()
	cfg.Spool.Dir = t.TempDir()
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{EnvPushgateway, map[string]string{"PUSHGATEWAY_URL": "localhost:9091"}, ""},
		{EnvPushgateway, nil, "give --pushgateway-address or set PUSHGATEWAY_URL"},
		{EnvDynatrace, map[string]string{"DT_TENANT": "https://abc.live.dynatrace.com", "DT_API_TOKEN": "t"}, ""},
		{EnvDynatrace, map[string]string{"DT_TENANT": "abc.live.dynatrace.com"}, "DT_API_TOKEN is not set"},
		{EnvDynatrace, map[string]string{"DT_URL": "http://localhost:14499/metrics/ingest"}, ""},
		{EnvDynatrace, nil, "set DT_TENANT"},
		{EnvS3, map[string]string{"S3_ENDPOINT_URL": "http://127.0.0.1:9000", "CEPH_BUCKET": "b"}, ""},
		{EnvS3, nil, "S3_ENDPOINT_URL"},
		{EnvRemoteWrite, map[string]string{"REMOTE_WRITE_URL": "http://127.0.0.1:9090/api/v1/write"}, ""},
		{EnvRemoteWrite, nil, "REMOTE_WRITE_URL is not set"},
		{"nope", nil, "not one of the env-only sinks"},
	}
	for _, c := range cases {
		t.Run(c.name+"/"+c.wantErr, func(t *testing.T) {
			s, _, err := build(c.name, Options{Config: cfg, Getenv: env(c.env)}.withDefaults())
			if c.wantErr == "" {
				if err != nil || s.Name() != c.name {
					t.Fatalf("got %v, %v", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
		})
	}
}

func TestTenantURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://abc.live.dynatrace.com/": "https://abc.live.dynatrace.com/api/v2/metrics/ingest",
		"abc.live.dynatrace.com":          "https://abc.live.dynatrace.com/api/v2/metrics/ingest",
		"https://d.example/e/env1":        "https://d.example/e/env1/api/v2/metrics/ingest",
		"":                                "",
	} {
		if got := dynatrace.TenantURL(in); got != want {
			t.Errorf("TenantURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfigSinkSecretsFromFiles pushes through a configured Pushgateway
// sink whose credentials come from files, to a server that checks them.
func TestConfigSinkSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var mu sync.Mutex
	var gotUser, gotPass, gotMethod, gotPath string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotUser, gotPass, _ = r.BasicAuth()
		gotMethod, gotPath = r.Method, r.URL.Path
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer ts.Close()
	cfg, err := config.LoadBytes("t.yml", []byte(`
sinks:
  gw:
    type: pushgateway
    url: `+ts.URL+`
    basic_auth: {username_file: `+write("user", "pusher")+`, password_file: `+write("pass", "s3cret")+`}
spool: {dir: `+filepath.Join(dir, "spool")+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(nil, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v := 1.0
	b := &batch.Batch{ID: "r1", Exporter: "x", Job: "backup", PushMethod: "post", Start: time.Now(), Families: []*dto.MetricFamily{{
		Name: strPtr("x"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}},
	}}}
	if err := d.Deliver(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotUser != "pusher" || gotPass != "s3cret" || gotMethod != http.MethodPost || gotPath != "/metrics/job/backup" {
		t.Fatalf("got user %q pass %q %s %s", gotUser, gotPass, gotMethod, gotPath)
	}
}

func TestUnreachableSinkIsSpooledNotAnError(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	dir := t.TempDir()
	cfg, err := config.LoadBytes("t.yml", []byte(`
sinks:
  gw: {type: pushgateway, url: `+url+`, retry_for: 0s}
spool: {dir: `+dir+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(nil, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := &batch.Batch{ID: "r1", Exporter: "x", Job: "j", Start: time.Now(), Families: gauge("up", 1)}
	if err := d.Deliver(context.Background(), b); err != nil {
		t.Fatalf("a spooled batch was reported as lost: %v", err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*", "*.batch"))
	if len(entries) != 1 {
		t.Fatalf("spool holds %v, want one batch", entries)
	}
}

func strPtr(s string) *string { return &s }

// counter is one family with one unlabelled counter sample.
func counter(name string, v float64) []*dto.MetricFamily {
	return []*dto.MetricFamily{{Name: strPtr(name), Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Counter: &dto.Counter{Value: &v}}}}}
}

// gauge is one family with one unlabelled gauge sample.
func gauge(name string, v float64) []*dto.MetricFamily {
	return []*dto.MetricFamily{{Name: strPtr(name), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}}
}

// TestBuildWithoutGetenv is Build as check-config and serve call it: no
// Getenv, no Logger.
func TestBuildWithoutGetenv(t *testing.T) {
	cfg, err := config.LoadBytes("t.yml", []byte("sinks:\n  dt: {type: dynatrace, url: 'http://127.0.0.1:1/api/v2/metrics/ingest'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := build("dt", Options{Config: cfg}.withDefaults()); err != nil {
		t.Fatal(err)
	}
}

// TestSpooledJobIsReplayedWithPost: a job's batch spooled while the
// Pushgateway was down keeps POST when a later flush delivers it, so it
// cannot erase the group's last success timestamp.
func TestSpooledJobIsReplayedWithPost(t *testing.T) {
	var mu sync.Mutex
	var methods []string
	up := false
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		if !up {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		methods = append(methods, r.Method)
	}))
	defer ts.Close()
	cfg, err := config.LoadBytes("t.yml", []byte(`
sinks:
  gw: {type: pushgateway, url: `+ts.URL+`, retry_for: 0s}
spool: {dir: `+t.TempDir()+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(nil, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	b := &batch.Batch{ID: "job-1", Exporter: "backup", Job: "backup", PushMethod: "post", Start: time.Now(), Families: gauge("up", 1)}
	if err := d.Deliver(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	d.Close()

	mu.Lock()
	up = true
	mu.Unlock()
	d, err = Open(nil, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(methods) != 1 || methods[0] != http.MethodPost {
		t.Fatalf("replayed with %v, want one POST", methods)
	}
}

// TestReopenRegistersTheNewSinksCollectors is a config reload: the new
// Dynatrace sink's own metrics replace the retired one's on the registry.
func TestReopenRegistersTheNewSinksCollectors(t *testing.T) {
	cfg, err := config.LoadBytes("t.yml", []byte("sinks:\n  dt: {type: dynatrace, url: 'http://127.0.0.1:1/api/v2/metrics/ingest'}\nspool: {dir: "+t.TempDir()+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	count := func() int {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range fams {
			if strings.HasPrefix(f.GetName(), "metricwrap_dynatrace_") {
				n++
			}
		}
		return n
	}
	for i := 0; i < 2; i++ {
		d, err := Open(nil, Options{Config: cfg, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		if count() == 0 {
			t.Fatalf("open %d: the sink's collectors are not registered", i)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 0 {
			t.Fatalf("close %d: %d dynatrace families still registered", i, n)
		}
	}
}

// TestDynatraceTLSConfig: a dynatrace sink's tls_config reaches its client
// (here: trusting a private CA).
func TestDynatraceTLSConfig(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"linesOk":1,"linesInvalid":0,"error":null}`)
	}))
	defer ts.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, withCA := range []bool{false, true} {
		tlsLine := ""
		if withCA {
			tlsLine = ", tls_config: {ca_file: " + ca + "}"
		}
		cfg, err := config.LoadBytes("t.yml", []byte("sinks:\n  dt: {type: dynatrace, url: '"+ts.URL+"/api/v2/metrics/ingest'"+tlsLine+"}\n"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Spool.Dir = t.TempDir()
		s, _, err := build("dt", Options{Config: cfg}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		v := 2.5
		b := &batch.Batch{ID: fmt.Sprint("b", withCA), Exporter: "x", Job: "x", Start: time.Now(), Families: []*dto.MetricFamily{{
			Name: strPtr("x"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}},
		}}}
		err = s.Push(context.Background(), b)
		if withCA && err != nil {
			t.Fatalf("with the CA: %v", err)
		}
		if !withCA && err == nil {
			t.Fatal("a server signed by an unknown CA was trusted")
		}
	}
}

// TestDropOrphansWithNoSinkLeft: once the config names no sink at all,
// every spooled queue is an orphan; flush --drop-orphans (OpenSpool) must
// still open the spool and drop them, not report 0.
func TestDropOrphansWithNoSinkLeft(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	dir := t.TempDir()
	cfg, err := config.LoadBytes("t.yml", []byte(`
sinks:
  gw: {type: pushgateway, url: `+url+`, retry_for: 0s}
spool: {dir: `+dir+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(nil, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	b := &batch.Batch{ID: "r1", Exporter: "x", Job: "j", Start: time.Now(), Families: gauge("up", 1)}
	if err := d.Deliver(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	d.Close()

	empty, err := config.LoadBytes("t.yml", []byte("spool: {dir: "+dir+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err = Open(nil, Options{Config: empty, OpenSpool: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if o := d.Orphans(); len(o) != 1 || o[0].Batches != 1 {
		t.Fatalf("orphans %+v, want gw's queue with one batch", o)
	}
	if n := d.DropOrphans(); n != 1 {
		t.Fatalf("DropOrphans dropped %d, want 1", n)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*", "*.batch")); len(left) != 0 {
		t.Fatalf("left in the spool: %v", left)
	}
}
