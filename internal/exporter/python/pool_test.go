package python

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/runner"
)

// exporters used by the tests, one behaviour each.
var testExporters = map[string]string{
	"ok.py": `from exporters.exporter import Exporter
import os

RUNS = None

class OK(Exporter):
    def gather_metrics(self):
        c = self.metrics.Counter('ok_runs', 'Runs seen by this process.')
        c.inc()
        g = self.metrics.Gauge('ok_env', 'Environment seen.', ['name', 'value'])
        for k in ('EXPORTER_NAME', 'FOO', 'WORKER_ONLY'):
            g.labels(k, os.environ.get(k, '-')).set(1)
        g.labels('has_timeout', str('SCRAPE_TIMEOUT' in os.environ and 'SCRAPE_DEADLINE' in os.environ)).set(1)
        g.labels('cwd', os.path.basename(os.getcwd())).set(1)
        print("to stdout")
        import sys
        print("to stderr", file=sys.stderr)
`,
	"async_ok.py": `from exporters.exporter import Exporter
import asyncio

class Async(Exporter):
    async def gather_metrics(self):
        await asyncio.sleep(0)
        self.metrics.Gauge('async_done', 'Ran in asyncio.').set(1)
`,
	"boom.py": `from exporters.exporter import Exporter

class Boom(Exporter):
    def gather_metrics(self):
        raise RuntimeError("boom")
`,
	"importfail.py": `from exporters.exporter import Exporter
import prometheus_client
prometheus_client.Gauge('half_registered', 'Registered before the import fails.')
raise ImportError("cannot import at all")

class X(Exporter):
    pass
`,
	"exit3.py": `from exporters.exporter import Exporter
import sys

class Exit(Exporter):
    def gather_metrics(self):
        sys.exit(3)
`,
	"exitmsg.py": `from exporters.exporter import Exporter
import sys

class Exit(Exporter):
    def gather_metrics(self):
        sys.exit("leaving with a message")
`,
	"args.py": `from exporters.exporter import Exporter
import argparse

class Args(Exporter):
    def parse_args(self, *args):
        p = argparse.ArgumentParser()
        p.add_argument('--target', required=True)
        return p.parse_args(args)

    def gather_metrics(self):
        self.metrics.Gauge('target_up', 'Target.', ['target']).labels(self.args.target).set(1)
`,
	"slow.py": `from exporters.exporter import Exporter
import time

class Slow(Exporter):
    def gather_metrics(self):
        time.sleep(60)
`,
	"big.py": `from exporters.exporter import Exporter

class Big(Exporter):
    def gather_metrics(self):
        g = self.metrics.Gauge('big', 'Many series.', ['i'])
        for i in range(2000):
            g.labels(str(i)).set(i)
`,
	"killed.py": `from exporters.exporter import Exporter
import os, signal

class Killed(Exporter):
    def gather_metrics(self):
        os.kill(os.getpid(), signal.SIGKILL)
`,
	"net.py": `from lib import netbase

class Net(netbase.NetBase):
    def gather_metrics(self):
        self.metrics.Gauge('net_up', 'Up.', ['target']).labels(self.target).set(1)
`,
	"plain.py": `import os, sys
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

r = CollectorRegistry()
Gauge('plain_argv', 'Arguments.', ['argv', 'name'], registry=r).labels(' '.join(sys.argv[1:]), __name__).set(1)
write_to_textfile(os.environ['METRICS_FILE'], r)
print("plain to stdout")
`,
	"exit255.py": `from exporters.exporter import Exporter
import sys

class Exit(Exporter):
    def gather_metrics(self):
        sys.exit(255)
`,
	"grandchild.py": `from exporters.exporter import Exporter
import subprocess

class GC(Exporter):
    def gather_metrics(self):
        subprocess.Popen(['sleep', '60'])
        self.metrics.Gauge('spawned', 'Left a grandchild.').set(1)
`,
}

// TestWarmMatchesCold runs each case cold (runner.Run) and warm (a worker
// fork) and compares what a caller sees: exit code, signal, error class,
// metrics (values aside), stdout, and stderr's last line.
func TestWarmMatchesCold(t *testing.T) {
	f := newFixture(t, testExporters)
	f.writeLib(t, "netbase.py", `from exporters import exporter

class NetBase(exporter.Exporter):
    job_name = 'net'
    def parse_args(self, *args):
        self.target = args[0].split('=', 1)[1]
        self.job_name = 'DynJob_' + self.target
`)
	names := []string{"ok", "async_ok", "boom", "importfail", "exit3", "exitmsg", "args", "slow", "big", "killed", "grandchild", "net", "plain", "exit255"}
	pool := warmPool(t, f, names...)

	cases := []struct {
		name    string
		spec    runner.Spec
		wantErr error
		code    int
		job     string // the job line's, when the run succeeds
	}{
		{name: "success", spec: withEnv(f.spec("ok"), "FOO", "bar")},
		{name: "async", spec: f.spec("async_ok")},
		{name: "exception", spec: f.spec("boom"), wantErr: runner.ErrExit, code: 1},
		{name: "import error", spec: f.spec("importfail"), wantErr: runner.ErrExit, code: 1},
		{name: "not found", spec: f.spec("nosuch"), wantErr: runner.ErrExit, code: 255},
		{name: "sys.exit(3)", spec: f.spec("exit3"), wantErr: runner.ErrExit, code: 3},
		{name: "sys.exit(message)", spec: f.spec("exitmsg"), wantErr: runner.ErrExit, code: 1},
		{name: "arguments", spec: f.spec("args", "--target", "sw01")},
		{name: "bad arguments", spec: f.spec("args"), wantErr: runner.ErrExit, code: 2},
		{name: "timeout", spec: withTimeout(f.spec("slow"), 500*time.Millisecond), wantErr: runner.ErrTimeout, code: -1},
		// Stopped by the size watch or finished first: either exit.
		{name: "output too large", spec: withMax(f.spec("big"), 1000), wantErr: runner.ErrOutputTooLarge, code: anyCode},
		{name: "killed by a signal", spec: f.spec("killed"), wantErr: runner.ErrExit, code: -1},
		{name: "grandchild left behind", spec: f.spec("grandchild")},
		{name: "base class in lib, job_name from parse_args", spec: f.spec("net", "--target=sw1"), job: "DynJob_sw1"},
		{name: "plain script", spec: f.spec("plain", "a", "b")},
		{name: "sys.exit(255)", spec: f.spec("exit255"), wantErr: runner.ErrExit, code: 255},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cold, coldErr := runner.Run(ctx, tc.spec)
			warmBefore, _ := pool.counts()
			warm, warmErr := pool.Run(ctx, f.dir, tc.spec)
			if after, _ := pool.counts(); after != warmBefore+1 {
				t.Fatalf("the run did not run warm (warm runs %v -> %v)", warmBefore, after)
			}
			for _, r := range []struct {
				how string
				res *runner.Result
				err error
			}{{"cold", cold, coldErr}, {"warm", warm, warmErr}} {
				if tc.wantErr == nil && r.err != nil {
					t.Fatalf("%s: %v\nstderr: %s", r.how, r.err, r.res.Stderr)
				}
				if tc.wantErr != nil && !errors.Is(r.err, tc.wantErr) {
					t.Fatalf("%s: error %v, want %v", r.how, r.err, tc.wantErr)
				}
				if tc.code != anyCode && r.res.ExitCode != tc.code {
					t.Errorf("%s: exit code %d, want %d", r.how, r.res.ExitCode, tc.code)
				}
			}
			if tc.code != anyCode && (cold.ExitCode != warm.ExitCode || cold.Signal != warm.Signal) {
				t.Errorf("exit: cold %d %q, warm %d %q", cold.ExitCode, cold.Signal, warm.ExitCode, warm.Signal)
			}
			if c, w := normalize(cold.Metrics), normalize(warm.Metrics); c != w {
				t.Errorf("metrics differ:\ncold:\n%s\nwarm:\n%s", c, w)
			}
			if tc.wantErr == nil {
				_, job := cutJobLine(warm.Metrics)
				want := tc.job
				if want == "" && tc.name != "plain script" {
					want = "exporter" // the base class's
				}
				if job != want {
					t.Errorf("job line names %q, want %q\n%s", job, want, warm.Metrics)
				}
			}
			if c, w := string(cold.Stdout), string(warm.Stdout); c != w {
				t.Errorf("stdout differs: cold %q, warm %q", c, w)
			}
			if c, w := lastLine(string(cold.Stderr)), lastLine(string(warm.Stderr)); c != w {
				t.Errorf("stderr's last line differs: cold %q, warm %q", c, w)
			}
			if (coldErr == nil) != (warmErr == nil) {
				t.Errorf("errors: cold %v, warm %v", coldErr, warmErr)
			}
			assertEmptyDir(t, f.tmp)
		})
	}
}

// anyCode accepts whatever exit code a case ends with.
const anyCode = -1000

func withEnv(s runner.Spec, k, v string) runner.Spec {
	s.Env = map[string]string{k: v}
	return s
}

func withTimeout(s runner.Spec, d time.Duration) runner.Spec {
	s.Timeout = d
	return s
}

func withMax(s runner.Spec, n int64) runner.Spec {
	s.MaxOutputBytes = n
	return s
}

// TestWarmRunsStartPristine: a counter incremented by every run reads 1 in
// each, and the run sees its own environment, not the worker's.
func TestWarmRunsStartPristine(t *testing.T) {
	f := newFixture(t, testExporters)
	pool := warmPool(t, f, "ok")
	for i := range 3 {
		res, err := pool.Run(context.Background(), f.dir, withEnv(f.spec("ok"), "FOO", "run"))
		if err != nil {
			t.Fatal(err)
		}
		m := string(res.Metrics)
		for _, want := range []string{
			"ok_runs_total 1.0\n",
			`ok_env{name="FOO",value="run"} 1.0`,
			`ok_env{name="EXPORTER_NAME",value="ok"} 1.0`,
			`ok_env{name="has_timeout",value="True"} 1.0`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("run %d: no %q in\n%s", i, want, m)
			}
		}
	}
}

// TestPoolRefuses: a run the pool cannot take is refused with ErrNotWarm
// and no result, before anything ran; only a refusal for want of a worker
// counts as a cold run, since the caller then runs it cold.
func TestPoolRefuses(t *testing.T) {
	f := newFixture(t, testExporters)
	t.Run("no worker ready", func(t *testing.T) {
		p := NewPool(Options{Logger: testLogger(t)})
		defer p.Close()
		res, err := p.Run(context.Background(), f.dir, f.spec("ok"))
		if !errors.Is(err, exporter.ErrNotWarm) || res != nil {
			t.Fatalf("got %v, %v; want ErrNotWarm and no result", res, err)
		}
		if warm, cold := p.counts(); warm != 0 || cold != 1 {
			t.Errorf("warm %v, cold %v runs; want 0 and 1", warm, cold)
		}
	})
	t.Run("environment the worker did not start with", func(t *testing.T) {
		p := warmPool(t, f, "ok")
		res, err := p.Run(context.Background(), f.dir, withEnv(f.spec("ok"), "PYTHONPATH", "/nowhere"))
		if !errors.Is(err, exporter.ErrNotWarm) || res != nil {
			t.Fatalf("got %v, %v; want ErrNotWarm and no result", res, err)
		}
		if warm, cold := p.counts(); warm != 0 || cold != 0 {
			t.Errorf("warm %v, cold %v runs; want neither counted", warm, cold)
		}
	})
}

// TestClassExporterRuns: Run is cold even with a pool, RunWarm goes through
// the pool, and RunWarm refuses (ErrNotWarm, no result) without a pool or
// a ready worker.
func TestClassExporterRuns(t *testing.T) {
	f := newFixture(t, testExporters)
	pool := warmPool(t, f, "ok")
	e := f.exporter("ok", pool)
	ctx := context.Background()

	res, err := e.Run(ctx, &exporter.Request{})
	if err != nil || len(res.Families) == 0 {
		t.Fatalf("cold run: %v", err)
	}
	if warm, _ := pool.counts(); warm != 0 {
		t.Errorf("Run ran warm")
	}
	coldJob := res.Job
	res, err = e.RunWarm(ctx, &exporter.Request{})
	if err != nil || len(res.Families) == 0 {
		t.Fatalf("warm run: %v", err)
	}
	if warm, _ := pool.counts(); warm != 1 {
		t.Errorf("RunWarm did not run warm")
	}
	if res.Job != coldJob || res.Job == "" || strings.Contains(string(res.Raw), string(jobLinePrefix)) {
		t.Errorf("warm run: job %q, the job line not cut off:\n%s", res.Job, res.Raw)
	}

	cold := NewPool(Options{Logger: testLogger(t)})
	defer cold.Close()
	for name, e := range map[string]*classExporter{"no pool": f.exporter("ok", nil), "no worker ready": f.exporter("ok", cold)} {
		res, err := e.RunWarm(ctx, &exporter.Request{})
		if !errors.Is(err, exporter.ErrNotWarm) || res != nil {
			t.Errorf("%s: got %v, %v; want ErrNotWarm and no result", name, res, err)
		}
	}
}
