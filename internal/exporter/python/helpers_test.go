package python

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/runner"
	"github.com/metricwrap/metricwrap/internal/testenv"
	bundle "github.com/metricwrap/metricwrap/python"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	pythonOnce sync.Mutex
	pythonPath string
)

// interpreter is testenv.Python, probed once per test binary.
func interpreter(t testing.TB) string {
	t.Helper()
	pythonOnce.Lock()
	defer pythonOnce.Unlock()
	if pythonPath == "" {
		pythonPath = testenv.Python(t)
	}
	return pythonPath
}

// fixture is a checkout with an exporters directory, the bundled runner
// installed beside it, and an interpreter.
type fixture struct {
	python, runner, root, dir string
	tmp                       string // parent of the runs' private dirs
}

// newFixture writes files (path under exporters/ -> content).
func newFixture(t testing.TB, files map[string]string) *fixture {
	t.Helper()
	f := &fixture{python: interpreter(t), root: t.TempDir(), tmp: t.TempDir()}
	f.dir = filepath.Join(f.root, "exporters")
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		f.write(t, name, content)
	}
	r, err := bundle.Install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.runner = r
	return f
}

func (f *fixture) write(t testing.TB, name, content string) {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeLib writes a module of the lib package beside exporters/.
func (f *fixture) writeLib(t testing.TB, name, content string) {
	t.Helper()
	p := filepath.Join(f.root, "lib", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) key() Key { return Key{Python: f.python, Runner: f.runner, ExportersDir: f.dir} }

// spec is the cold command line of exporter name, as the exporter package
// builds it.
func (f *fixture) spec(name string, args ...string) runner.Spec {
	return runner.Spec{
		Name:      name,
		Path:      f.python,
		Args:      append(RunnerArgs(f.runner, f.dir, name, false), args...),
		Dir:       f.root,
		Timeout:   20 * time.Second,
		KillGrace: 300 * time.Millisecond,
		TempDir:   f.tmp,
	}
}

// exporter is class exporter name of f, as Kind.New makes it, warm
// through pool (nil: cold only).
func (f *fixture) exporter(name string, pool *Pool) *classExporter {
	c := exporter.ProcessConfig{
		Name: name, Kind: exporter.KindPython,
		Spec: runner.Spec{Name: name, Dir: f.root, KillGrace: 300 * time.Millisecond, TempDir: f.tmp},
		Argv: func(debug bool) (string, []string, error) {
			return f.python, RunnerArgs(f.runner, f.dir, name, debug), nil
		},
	}
	return &classExporter{Process: exporter.NewProcess(c), dir: f.dir, pool: pool, jobFromRun: true}
}

// warmPool returns a pool whose worker for f is ready, closed at cleanup.
func warmPool(t testing.TB, f *fixture, names ...string) *Pool {
	t.Helper()
	p := NewPool(Options{Logger: testLogger(t)})
	t.Cleanup(p.Close)
	for _, n := range names {
		p.Add(f.dir, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !p.Warmup(ctx, f.key()) {
		t.Fatal("the python worker did not become ready")
	}
	return p
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// timingRE matches what differs between two runs of the same exporter:
// sample values.
var timingRE = regexp.MustCompile(`(?m)^([a-zA-Z_:][^ ]*) [-+0-9.eE]+(Inf|NaN)?$`)

// normalize replaces every sample value by V.
func normalize(b []byte) string { return timingRE.ReplaceAllString(string(b), "$1 V") }

// runOrCold is what internal/run does with a warm run: spec through the
// pool, or cold when the pool refuses it.
func (p *Pool) runOrCold(ctx context.Context, dir string, spec runner.Spec) (*runner.Result, error) {
	res, err := p.Run(ctx, dir, spec)
	if errors.Is(err, exporter.ErrNotWarm) {
		return runner.Run(ctx, spec)
	}
	return res, err
}

// counts are the pool's warm and cold run counters.
func (p *Pool) counts() (warm, cold float64) {
	return testutil.ToFloat64(p.metrics.warm), testutil.ToFloat64(p.metrics.cold)
}

// assertEmptyDir fails when dir holds anything.
func assertEmptyDir(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in %s: %s", dir, e.Name())
	}
}
