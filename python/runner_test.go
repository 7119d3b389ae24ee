package python

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

var (
	testPythonMu sync.Mutex
	testPython   string
)

// pythonForTests is testenv.Python, asked once per test binary: probing
// every python3 on PATH (a pyenv shim among them) costs seconds.
func pythonForTests(t *testing.T) string {
	t.Helper()
	testPythonMu.Lock()
	defer testPythonMu.Unlock()
	if testPython == "" {
		testPython = testenv.Python(t)
	}
	return testPython
}

// run is one runner invocation's outcome.
type run struct {
	metrics        string
	stdout, stderr string
	code           int
	outDir         string
}

// runRunner installs the bundle in a fresh directory and runs the runner
// the way metricwrap does: under the interpreter, with METRICS_FILE set
// and a minimal environment.
func runRunner(t *testing.T, exportersDir, name string, debug bool, args ...string) run {
	t.Helper()
	py := pythonForTests(t)
	runner, err := Install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	metricsFile := filepath.Join(outDir, "metrics.prom")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append(runnerArgs(runner, exportersDir, name, debug), args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "METRICS_FILE=" + metricsFile}
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String(), outDir: outDir}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run runner: %v", err)
	}
	if data, err := os.ReadFile(metricsFile); err == nil {
		r.metrics = string(data)
	}
	return r
}

// runnerArgs is the runner's command line as metricwrap builds it (the
// exporter kind's RunnerArgs; that package imports this one).
func runnerArgs(runner, exportersDir, name string, debug bool) []string {
	args := []string{runner, "--exporters-dir", exportersDir, "--exporter", name}
	if debug {
		args = append(args, "--debug")
	}
	return append(args, "--")
}

// writeTree creates files (path relative to root -> content) under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkExposition fails unless text parses as Prometheus text and holds
// none of what the runner must leave out.
func checkExposition(t *testing.T, r run) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(r.metrics))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, r.metrics)
	}
	for name := range fams {
		for _, bad := range []string{"process_", "python_gc_", "python_info"} {
			if strings.HasPrefix(name, bad) {
				t.Errorf("family %s should not be exported", name)
			}
		}
		if strings.HasSuffix(name, "_created") {
			t.Errorf("family %s: _created series should be off", name)
		}
	}
	entries, err := os.ReadDir(r.outDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output directory holds %v, want only metrics.prom", names)
	}
}

func TestRunnerExporters(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		exporter string
		debug    bool
		args     []string
		want     []string // lines that must appear, in this order
	}{
		{
			name: "every metric type",
			files: map[string]string{"exporters/types.py": `
from exporters.exporter import Exporter

class TypesExporter(Exporter):
    job_name = 'types'
    def gather_metrics(self):
        m = self.metrics
        m.Gauge('t_gauge', 'a gauge', ['site']).labels('a').set(2.5)
        m.Counter('t_requests', 'a counter').inc(3)
        s = m.Summary('t_latency_seconds', 'a summary')
        s.observe(1.5)
        s.observe(0.5)
        h = m.Histogram('t_size_bytes', 'a histogram', buckets=[10, 100])
        h.observe(50)
        m.Enum('t_state', 'an enum', states=['starting', 'running']).state('running')
        m.Info('t_build', 'an info').info({'version': '1.2'})
        print('stdout chatter must not reach the metrics')
`},
			exporter: "types",
			want: []string{
				`t_gauge{site="a"} 2.5`,
				`# TYPE t_requests_total counter`,
				`t_requests_total 3.0`,
				`t_latency_seconds_count 2.0`,
				`t_latency_seconds_sum 2.0`,
				`t_size_bytes_bucket{le="10.0"} 0.0`,
				`t_size_bytes_bucket{le="100.0"} 1.0`,
				`t_size_bytes_bucket{le="+Inf"} 1.0`,
				`t_size_bytes_count 1.0`,
				`t_size_bytes_sum 50.0`,
				`t_state{t_state="starting"} 0.0`,
				`t_state{t_state="running"} 1.0`,
				`t_build_info{version="1.2"} 1.0`,
			},
		},
		{
			name: "base class in lib, job_name set in parse_args",
			files: map[string]string{
				"lib/netbase.py": `
from exporters import exporter

class NetBase(exporter.Exporter):
    job_name = 'net'
    def parse_args(self, *args):
        self.target = args[0].split('=', 1)[1]
        self.job_name = f'DynJob_{self.target}'
`,
				"exporters/net.py": `
from lib import netbase

class NetExporter(netbase.NetBase):
    def gather_metrics(self):
        self.metrics.Gauge('net_up', 'up', ['target']).labels(self.target).set(1)
`,
			},
			exporter: "net",
			args:     []string{"--target=sw1"},
			want:     []string{`net_up{target="sw1"} 1.0`, `# metricwrap-job: "DynJob_sw1"`},
		},
		{
			name: "plain script: run as python3 FILE, with the environment it was given",
			files: map[string]string{"exporters/plain.py": `
import os, sys
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

registry = CollectorRegistry()
g = Gauge('plain_args', 'arguments seen', ['argv', 'name', 'created_off'], registry=registry)
g.labels(' '.join(sys.argv[1:]), __name__, os.environ.get('PROMETHEUS_DISABLE_CREATED_SERIES', 'unset')).set(len(sys.argv))
write_to_textfile(os.environ['METRICS_FILE'], registry)
`},
			exporter: "plain",
			args:     []string{"--target=x", "y"},
			want:     []string{`plain_args{argv="--target=x y",created_off="unset",name="__main__"} 3.0`},
		},
		{
			name: "async gather_metrics",
			files: map[string]string{"exporters/aio.py": `
import asyncio
from exporters.exporter import Exporter

class AioExporter(Exporter):
    async def gather_metrics(self):
        values = await asyncio.gather(*(self.fetch(i) for i in range(3)))
        self.metrics.Gauge('aio_sum', 'sum of fetched values').set(sum(values))

    async def fetch(self, i):
        await asyncio.sleep(0)
        return i * 10
`},
			exporter: "aio",
			want:     []string{`aio_sum 30.0`},
		},
		{
			name: "parse_args with argparse",
			files: map[string]string{"exporters/target.py": `
import argparse
from exporters.exporter import Exporter

class TargetExporter(Exporter):
    def parse_args(self, *args):
        parser = argparse.ArgumentParser(prog='target')
        parser.add_argument('--target', required=True)
        parser.add_argument('--port', type=int, default=22)
        return parser.parse_args(args)

    def gather_metrics(self):
        g = self.metrics.Gauge('target_port', 'port asked for', ['target'])
        g.labels(self.args.target).set(self.args.port)
`},
			exporter: "target",
			args:     []string{"--target", "core-sw01", "--port=830"},
			want:     []string{`target_port{target="core-sw01"} 830.0`},
		},
		{
			name: "exporters/NAME/NAME.py with a sibling module",
			files: map[string]string{
				"exporters/cisco/cisco.py": `
from exporters import exporter
from exporters.cisco import helper

class CiscoExporter(exporter.Exporter):
    def gather_metrics(self):
        self.metrics.Gauge('cisco_up', 'reachable').set(helper.up())
`,
				"exporters/cisco/helper.py": "def up():\n    return 1\n",
			},
			exporter: "cisco",
			want:     []string{`cisco_up 1.0`},
		},
		{
			name: "the user's exporter.py and lib win, bundled lib fills in",
			files: map[string]string{
				"exporters/exporter.py": `
class Exporter:
    job_name = 'user'
    def __init__(self, metrics, debug, *args):
        self.metrics = metrics
        self.origin = 'user base'
    def gather_metrics(self):
        pass
`,
				"exporters/mine.py": `
from exporters.exporter import Exporter
from lib import extra, timing

class MineExporter(Exporter):
    @timing.observed
    def gather_metrics(self):
        self.metrics.Gauge('mine_origin', 'which base class ran', ['origin', 'extra']).labels(self.origin, extra.VALUE).set(1)
`,
				"lib/extra.py": "VALUE = 'user lib'\n",
			},
			exporter: "mine",
			want: []string{
				`execution_seconds_count{function="MineExporter.gather_metrics"} 1.0`,
				`mine_origin{extra="user lib",origin="user base"} 1.0`,
			},
		},
		{
			name: "the user's lib/timing.py wins over the bundled one",
			files: map[string]string{
				"exporters/own.py": `
import lib.util
from lib import timing
from exporters.exporter import Exporter

class OwnExporter(Exporter):
    @timing.observed
    def gather_metrics(self):
        self.metrics.Gauge('own_found', 'bundled util sees the user timing metric').set(lib.util.get_metric('user_timing_calls') is not None)
`,
				"lib/timing.py": `
import prometheus_client
CALLS = prometheus_client.Counter('user_timing_calls', 'calls seen by the user timing module')
def observed(method):
    def wrapper(self, *args, **kwargs):
        CALLS.inc()
        return method(self, *args, **kwargs)
    return wrapper
`,
			},
			exporter: "own",
			want:     []string{`user_timing_calls_total 1.0`, `own_found 1.0`},
		},
		{
			name: "seed-style module: base class imported by name, first subclass alphabetically",
			files: map[string]string{"exporters/seed.py": `
from exporters.exporter import Exporter
from lib import timing

class ZedExporter(Exporter):
    def gather_metrics(self):
        self.metrics.Gauge('zed', 'must not run').set(1)

class DummyExporter(Exporter):
    job_name = 'DummyExporter'
    def gather_metrics(self):
        g = self.metrics.Gauge('dummy_gauge', 'A dummy metric, means nothing.')
        g.set(0)
`},
			exporter: "seed",
			want: []string{
				`# HELP dummy_gauge A dummy metric, means nothing.`,
				`# TYPE dummy_gauge gauge`,
				`dummy_gauge 0.0`,
			},
		},
		{
			name:     "bundled dummy and timing helpers",
			files:    map[string]string{"exporters/README": "no dummy of the user's own\n"},
			exporter: "dummy",
			want: []string{
				`# HELP execution_seconds Summary of time spent executing something`,
				`# TYPE execution_seconds summary`,
				`execution_seconds_count{function="DummyExporter.my_custom_task"} 1.0`,
				`execution_seconds_sum{function="DummyExporter.my_custom_task"} `,
				`execution_seconds_count{function="DummyExporter.observed_function"} 1.0`,
				`execution_seconds_sum{function="DummyExporter.observed_function"} `,
				`# HELP dummy_gauge A dummy metric, means nothing.`,
				`dummy_gauge 0.0`,
				`# HELP dummy_counter_total A dummy metric, means nothing.`,
				`# TYPE dummy_counter_total counter`,
				`dummy_counter_total{dummy_label="dummy_label_value"} 1.0`,
				`# HELP generic_timer_seconds_total Value of generic timer`,
				`# TYPE generic_timer_seconds_total counter`,
				`generic_timer_seconds_total `,
			},
		},
		{
			name: "timing helpers in the original import style, async too",
			files: map[string]string{"exporters/timed.py": `
import asyncio
import lib.timing
from exporters import exporter

class TimedExporter(exporter.Exporter):
    async def gather_metrics(self):
        await self.fetch()
        with lib.timing.Observe(self, 'block'):
            pass
        with lib.timing.Timer() as t:
            pass
        self.metrics.Gauge('timer_rounded', 'Timer value has 3 decimals at most').set(len(repr(t.value).split('.')[1]) <= 3)

    @lib.timing.observed
    async def fetch(self):
        await asyncio.sleep(0)
`},
			exporter: "timed",
			want: []string{
				`execution_seconds_count{function="TimedExporter.fetch"} 1.0`,
				`execution_seconds_count{function="TimedExporter.block"} 1.0`,
				`timer_rounded 1.0`,
			},
		},
		{
			name: "--debug reaches the constructor",
			files: map[string]string{"exporters/dbg.py": `
from exporters.exporter import Exporter

class DbgExporter(Exporter):
    def gather_metrics(self):
        self.metrics.Gauge('debug_on', 'debug flag').set(self.debug is True)
`},
			exporter: "dbg",
			debug:    true,
			want:     []string{`debug_on 1.0`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeTree(t, root, tt.files)
			r := runRunner(t, filepath.Join(root, "exporters"), tt.exporter, tt.debug, tt.args...)
			checkExposition(t, r)
			rest := r.metrics
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("missing (or out of order) %q in:\n%s", w, r.metrics)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(r.metrics, "zed") || strings.Contains(r.metrics, "chatter") ||
				(tt.exporter == "own" && strings.Contains(r.metrics, "execution_seconds")) {
				t.Errorf("unexpected output:\n%s", r.metrics)
			}
		})
	}
}

func TestRunnerFailures(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]string
		exporter   string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{
			name:       "unknown exporter",
			files:      map[string]string{"exporters/other.py": "x = 1\n"},
			exporter:   "missing",
			wantCode:   255,
			wantStdout: "Exporter not found.\n",
		},
		{
			name:       "name that is a path",
			exporter:   "..os",
			wantCode:   255,
			wantStdout: "Exporter not found.\n",
		},
		{
			name:       "directory without NAME.py",
			files:      map[string]string{"exporters/empty/README": "nothing here\n"},
			exporter:   "empty",
			wantCode:   255,
			wantStdout: "Exporter not found.\n",
		},
		{
			name:       "the base class module is not an exporter",
			exporter:   "exporter",
			wantCode:   255,
			wantStdout: "Exporter not found.\n",
		},
		{
			name: "exception in gather_metrics",
			files: map[string]string{"exporters/boom.py": `
from exporters.exporter import Exporter

class BoomExporter(Exporter):
    def gather_metrics(self):
        self.metrics.Gauge('half_done', 'never written').set(1)
        raise RuntimeError('switch unreachable')
`},
			exporter:   "boom",
			wantCode:   1,
			wantStderr: []string{"Traceback (most recent call last)", "RuntimeError: switch unreachable"},
		},
		{
			name: "missing dependency is an error, not a missing exporter",
			files: map[string]string{"exporters/deps.py": `
import no_such_module_for_metricwrap
from exporters.exporter import Exporter

class DepsExporter(Exporter):
    pass
`},
			exporter:   "deps",
			wantCode:   1,
			wantStderr: []string{"Traceback", "No module named 'no_such_module_for_metricwrap'"},
		},
		{
			name:       "module without an Exporter subclass",
			files:      map[string]string{"exporters/plain.py": "class Thing:\n    pass\nprint('hello')\n"},
			exporter:   "plain",
			wantCode:   1,
			wantStderr: []string{"no class inheriting Exporter"},
		},
		{
			name: "argparse rejects the arguments",
			files: map[string]string{"exporters/strict.py": `
import argparse
from exporters.exporter import Exporter

class StrictExporter(Exporter):
    def parse_args(self, *args):
        p = argparse.ArgumentParser(prog='strict')
        p.add_argument('--target', required=True)
        return p.parse_args(args)
`},
			exporter:   "strict",
			args:       []string{"--bogus"},
			wantCode:   2,
			wantStderr: []string{"usage: strict", "--target"},
		},
		{
			name: "sys.exit(255)",
			files: map[string]string{"exporters/bail.py": `
import sys
from exporters.exporter import Exporter

class BailExporter(Exporter):
    def gather_metrics(self):
        print('giving up', file=sys.stderr)
        sys.exit(255)
`},
			exporter:   "bail",
			wantCode:   255,
			wantStderr: []string{"giving up"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeTree(t, root, tt.files)
			r := runRunner(t, filepath.Join(root, "exporters"), tt.exporter, false, tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			if tt.wantStdout != "" && r.stdout != tt.wantStdout {
				t.Errorf("stdout %q, want %q", r.stdout, tt.wantStdout)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if r.metrics != "" {
				t.Errorf("a failed run wrote metrics:\n%s", r.metrics)
			}
			if entries, _ := os.ReadDir(r.outDir); len(entries) != 0 {
				t.Errorf("a failed run left %d files in the output directory", len(entries))
			}
		})
	}
}

// TestWriteAtomically: the metrics file appears whole with mode 0644 and
// nothing beside it, also when the temporary name of this pid is taken (a
// file left by a process that died under the same pid): that file is left
// alone and a random name is used.
func TestWriteAtomically(t *testing.T) {
	py := pythonForTests(t)
	runner, err := Install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	script := `import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import metricwrap_runner as r
path = sys.argv[2]
if sys.argv[3] == "taken":
    with open(os.path.join(os.path.dirname(path), ".out.prom.%d" % os.getpid()), "w") as f:
        f.write("stale")
r.write_atomically(path, b"x" * 100000)
`
	for _, tc := range []string{"free", "taken"} {
		t.Run(tc, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.prom")
			cmd := exec.Command(py, "-c", script, runner, out, tc)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			st, err := os.Stat(out)
			if err != nil || st.Size() != 100000 || st.Mode().Perm() != 0o644 {
				t.Fatalf("out.prom: %v, %v", st, err)
			}
			entries, _ := os.ReadDir(dir)
			want := map[string]int{"free": 1, "taken": 2}[tc]
			if len(entries) != want {
				t.Errorf("%d files in the directory, want %d: %v", len(entries), want, entries)
			}
			for _, e := range entries {
				if e.Name() == "out.prom" {
					continue
				}
				if b, _ := os.ReadFile(filepath.Join(dir, e.Name())); string(b) != "stale" {
					t.Errorf("left behind: %s (%q...)", e.Name(), b[:min(len(b), 10)])
				}
			}
		})
	}
}

// TestSpareWarmUp: a warm worker's spare runs the environment swap and
// prometheus_client's code ahead of its run without error and leaves the
// environment and the default registry as they were; it runs none of the
// library's objects an exporter replaced.
func TestSpareWarmUp(t *testing.T) {
	py := pythonForTests(t)
	runner, err := Install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	exporters := filepath.Join(t.TempDir(), "exporters")
	if err := os.MkdirAll(exporters, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import metricwrap_runner as r
r.setup(sys.argv[2])
import prometheus_client
env, names = dict(os.environ), set(prometheus_client.REGISTRY._names_to_collectors)
assert r._warm_up() is True
assert dict(os.environ) == env, "environment changed"
assert set(prometheus_client.REGISTRY._names_to_collectors) == names, "registry changed"
ran = []
class Patched(prometheus_client.Gauge):
    def __init__(self, *a, **k):
        ran.append(1)
        super().__init__(*a, **k)
prometheus_client.Gauge = Patched
assert r._warm_up() is False and not ran, "ran a replaced Gauge"
print("ok")
`
	b, err := exec.Command(py, "-c", script, runner, exporters).CombinedOutput()
	if err != nil || string(b) != "ok\n" {
		t.Fatalf("%v\n%s", err, b)
	}
}
