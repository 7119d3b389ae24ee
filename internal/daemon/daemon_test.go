package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exporter/python"
	"github.com/metricwrap/metricwrap/internal/run"
)

// named is an exporter that answers one gauge.
type named string

func (n named) Name() string          { return string(n) }
func (named) Kind() string            { return exporter.KindBuiltin }
func (n named) Job() string           { return string(n) }
func (named) Params() exporter.Params { return nil }
func (named) Run(context.Context, *exporter.Request) (*exporter.Result, error) {
	v := 1.0
	name, typ := "up", dto.MetricType_GAUGE
	return &exporter.Result{Families: []*dto.MetricFamily{{Name: &name, Type: &typ, Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}}}, nil
}

// loader serves the set named by next, or fails while fail is set.
type loader struct {
	next atomic.Value // string
	fail atomic.Bool
}

func (l *loader) load(*python.Pool) (*config.Config, *exporter.Set, error) {
	if l.fail.Load() {
		return nil, nil, errors.New("metricwrap.yml:3: exporters.b: unknown key \"comand\"")
	}
	cfg, err := config.LoadBytes("t.yml", []byte("global: {max_concurrency: 3}\n"))
	if err != nil {
		return nil, nil, err
	}
	set, err := exporter.NewSet(&exporter.Entry{Exporter: named(l.next.Load().(string))})
	return cfg, set, err
}

func newDaemon(t *testing.T) (*Daemon, *run.Engine, *loader, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	eng := run.New(run.Options{Registerer: reg})
	l := &loader{}
	l.next.Store("a")
	d := New(Options{Registry: reg, Engine: eng, Load: l.load})
	if _, err := d.Start(); err != nil {
		t.Fatal(err)
	}
	return d, eng, l, reg
}

func TestReloadSwapsGenerationsAndCountsFailures(t *testing.T) {
	d, eng, l, _ := newDaemon(t)
	defer d.stop()
	if _, ok := eng.Exporters().Get("a"); !ok {
		t.Fatal("first generation not in use")
	}
	l.next.Store("b")
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := eng.Exporters().Get("b"); !ok {
		t.Fatal("reloaded generation not in use")
	}
	l.fail.Store(true)
	if err := d.Reload(); err == nil {
		t.Fatal("a bad config reloaded")
	}
	if _, ok := eng.Exporters().Get("b"); !ok {
		t.Fatal("a failed reload did not keep the previous generation")
	}
	if v := testutil.ToFloat64(d.metrics.reloadOK); v != 0 {
		t.Fatalf("metricwrap_config_last_reload_successful = %v after a failed reload", v)
	}
	if v := testutil.ToFloat64(d.metrics.reloadsFailed); v != 1 {
		t.Fatalf("metricwrap_config_reload_failures_total = %v", v)
	}
}

// TestServeReloadsOnSIGHUPAndStopsOnSIGTERM drives the signal loop with a
// real HTTP server on a free port.
func TestServeReloadsOnSIGHUPAndStopsOnSIGTERM(t *testing.T) {
	d, eng, l, _ := newDaemon(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	sigs := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- d.Serve(srv, func() error { return srv.Serve(ln) }, sigs) }()
	l.next.Store("c")
	sigs <- syscall.SIGHUP
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := eng.Exporters().Get("c"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sigs <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("SIGTERM did not stop Serve")
	}
	if d.cur != nil {
		t.Fatal("the generation was not retired on stop")
	}
	e, _ := eng.Exporters().Get("c")
	if a := eng.Do(context.Background(), &run.Request{Entry: e}); !errors.Is(a.Err, context.Canceled) {
		t.Fatalf("a run after stop: %v, want cancelled", a.Err)
	}
}
