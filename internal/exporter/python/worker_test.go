package python

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/runner"
)

// forks.py forks a process that ends through the runner's own exit path
// with code 7, so it reports on the run's socketpair too, before the run
// itself ends with 0.
const forksSrc = `from exporters.exporter import Exporter
import os, sys

class Forks(Exporter):
    def gather_metrics(self):
        if os.fork() == 0:
            sys.exit(7)
        os.wait()
        self.metrics.Gauge('forked', 'Forked and waited.').set(1)
`

// startTestWorker starts a worker for f importing names, stopped at cleanup.
func startTestWorker(t *testing.T, f *fixture, names ...string) *worker {
	t.Helper()
	w, err := startWorker(f.key(), names, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	return w
}

// directRun is a run launched on a worker without runner.RunLaunched: the
// test holds the read ends of its stdout and stderr.
type directRun struct {
	child          runner.Launched
	pid            int
	stdout, stderr *os.File
}

// launchDirect hands a run of exporter name to w, with env added to the
// base environment; without METRICS_FILE its metrics go to stdout.
func launchDirect(t *testing.T, w *worker, f *fixture, name string, env ...string) *directRun {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		outR.Close()
		errR.Close()
	})
	args := append([]string{f.python}, RunnerArgs(f.runner, f.dir, name, false)...)
	child, err := w.launch(runner.Launch{Args: args, Env: append(runner.BaseEnv(), env...), Dir: f.root, Stdout: outW, Stderr: errW})
	outW.Close()
	errW.Close()
	if err != nil {
		t.Fatal(err)
	}
	return &directRun{child: child, pid: child.(*launched).pid, stdout: outR, stderr: errR}
}

// readToEOF reads r to its end, failing when it is still open after a
// generous while: then some process other than the run's holds its pipe.
func readToEOF(t *testing.T, r *os.File, what string) []byte {
	t.Helper()
	_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s still open after the run ended (%v): another process holds it", what, err)
	}
	return b
}

// spareOf waits for w's spare: its child, other than the runs' children
// runs, that holds the worker's own stdout as fd 1, as a child that has
// not been handed a run does.
func spareOf(t *testing.T, w *worker, runs ...int) int {
	t.Helper()
	wpid := w.svc.Pid()
	want, err := os.Readlink("/proc/" + strconv.Itoa(wpid) + "/fd/1")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, kid := range childrenOf(wpid) {
			if slices.Contains(runs, kid) {
				continue
			}
			if got, _ := os.Readlink("/proc/" + strconv.Itoa(kid) + "/fd/1"); got == want && procState(kid) != "Z" {
				return kid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d has no spare; children %v", wpid, childrenOf(wpid))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procState is the state letter of pid, "" when it is gone.
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if f := strings.Fields(string(b[i+1:])); i >= 0 && len(f) > 0 {
		return f[0]
	}
	return ""
}

// waitGone waits until pid has been reaped, or is a zombie no one of ours
// waits for.
func waitGone(t *testing.T, pid int, zombieOK bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := procState(pid)
		if s == "" || (zombieOK && s == "Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still there (state %s)", pid, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pipeOf is the name /proc gives the pipe behind f, as fd links show it.
func pipeOf(t *testing.T, f *os.File) string {
	t.Helper()
	name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// holds reports whether process pid has an fd open on name.
func holds(pid int, name string) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if got, _ := os.Readlink(dir + e.Name()); got == name {
			return true
		}
	}
	return false
}

// TestWorkerSpareHoldsNoRunPipe: while a run runs and after it ends, the
// spare forked in between holds neither of its pipes, so the run's stdout
// reaches end of file as the run ends, with everything the run wrote.
func TestWorkerSpareHoldsNoRunPipe(t *testing.T) {
	f := newFixture(t, map[string]string{"ok.py": testExporters["ok.py"], "slow.py": testExporters["slow.py"]})
	w := startTestWorker(t, f, "ok", "slow")

	slow := launchDirect(t, w, f, "slow")
	spare := spareOf(t, w, slow.pid)
	for _, p := range []*os.File{slow.stdout, slow.stderr} {
		if name := pipeOf(t, p); holds(spare, name) {
			t.Errorf("the spare %d holds %s of the running run", spare, name)
		}
	}
	for i := range 3 {
		run := launchDirect(t, w, f, "ok")
		exit, err := run.child.Wait()
		if err != nil || exit != (runner.Exit{}) {
			t.Fatalf("run %d: exit %+v, %v", i, exit, err)
		}
		out := readToEOF(t, run.stdout, "stdout")
		errOut := readToEOF(t, run.stderr, "stderr")
		if !bytes.Contains(out, []byte("to stdout\n")) || !bytes.Contains(out, []byte("ok_runs_total 1.0\n")) {
			t.Errorf("run %d: stdout %q", i, out)
		}
		if string(errOut) != "to stderr\n" {
			t.Errorf("run %d: stderr %q", i, errOut)
		}
	}
	if err := slow.child.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if exit, err := slow.child.Wait(); err != nil || exit.Signal != syscall.SIGKILL {
		t.Fatalf("the slow run: exit %+v, %v", exit, err)
	}
	readToEOF(t, slow.stdout, "the slow run's stdout")
}

// TestWorkerExits: each way a run can end is reported as it ended, whether
// the child reported its code before exiting or was reaped first, and a
// process the run forked cannot report for it.
func TestWorkerExits(t *testing.T) {
	files := map[string]string{"forks.py": forksSrc}
	for _, name := range []string{"ok", "boom", "exit3", "exitmsg", "exit255", "killed", "slow", "plain"} {
		files[name+".py"] = testExporters[name+".py"]
	}
	f := newFixture(t, files)
	w := startTestWorker(t, f, "ok", "boom", "exit3", "exitmsg", "exit255", "killed", "slow", "plain", "forks")
	cases := []struct {
		name   string
		signal syscall.Signal // sent by the test once the run started
		want   runner.Exit
	}{
		{name: "ok"},
		{name: "boom", want: runner.Exit{Code: 1}},
		{name: "exit3", want: runner.Exit{Code: 3}},
		{name: "exitmsg", want: runner.Exit{Code: 1}},
		{name: "exit255", want: runner.Exit{Code: 255}},
		{name: "nosuch", want: runner.Exit{Code: 255}},
		{name: "killed", want: runner.Exit{Code: -1, Signal: syscall.SIGKILL}},
		{name: "slow", signal: syscall.SIGTERM, want: runner.Exit{Code: -1, Signal: syscall.SIGTERM}},
		{name: "plain"}, // exec'd: reports nothing, reaped
		{name: "forks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 {
				// A plain script writes METRICS_FILE itself.
				run := launchDirect(t, w, f, tc.name, "METRICS_FILE="+filepath.Join(t.TempDir(), "metrics.prom"))
				if tc.signal != 0 {
					if err := run.child.Signal(tc.signal); err != nil {
						t.Fatal(err)
					}
				}
				exit, err := run.child.Wait()
				if err != nil || exit != tc.want {
					t.Errorf("run %d: exit %+v, %v; want %+v", i, exit, err, tc.want)
				}
				readToEOF(t, run.stdout, "stdout")
				readToEOF(t, run.stderr, "stderr")
			}
		})
	}
}

// TestWorkerReplacesDeadSpare: a spare killed from outside is reaped and
// the next run still runs warm, in a fresh spare.
func TestWorkerReplacesDeadSpare(t *testing.T) {
	f := newFixture(t, map[string]string{"ok.py": testExporters["ok.py"]})
	w := startTestWorker(t, f, "ok")
	spare := spareOf(t, w)
	if err := syscall.Kill(spare, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, spare, false)
	run := launchDirect(t, w, f, "ok")
	if exit, err := run.child.Wait(); err != nil || exit != (runner.Exit{}) {
		t.Fatalf("exit %+v, %v", exit, err)
	}
	if out := readToEOF(t, run.stdout, "stdout"); !bytes.Contains(out, []byte("ok_runs_total 1.0\n")) {
		t.Errorf("stdout %q", out)
	}
	if next := spareOf(t, w, run.pid); next == spare {
		t.Errorf("spare %d after the run is the killed one", next)
	}
}

// TestWorkerEndTakesSpare: the spare does not outlive its worker, whether
// the worker is stopped or killed.
func TestWorkerEndTakesSpare(t *testing.T) {
	f := newFixture(t, map[string]string{"ok.py": testExporters["ok.py"]})
	for _, how := range []string{"stop", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			w := startTestWorker(t, f, "ok")
			spare := spareOf(t, w)
			if how == "stop" {
				w.stop()
			} else if err := syscall.Kill(w.svc.Pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Re-parented once its worker is gone, it may stay a zombie
			// no one here waits for.
			waitGone(t, spare, true)
		})
	}
}

// TestPoolRunsWithSpares: runs through the pool see the same results while
// the worker's spare waits, and leave it the worker's only child.
func TestPoolRunsWithSpares(t *testing.T) {
	f := newFixture(t, testExporters)
	p := warmPool(t, f, "ok")
	for i := range 5 {
		res, err := p.Run(context.Background(), f.dir, f.spec("ok"))
		if err != nil || !bytes.Contains(res.Metrics, []byte("ok_runs_total 1.0\n")) || string(res.Stdout) != "to stdout\n" {
			t.Fatalf("run %d: %v\n%s\nstdout %q", i, err, res.Metrics, res.Stdout)
		}
	}
	p.mu.Lock()
	w := p.slots[f.key()].cur
	p.mu.Unlock()
	assertOnlySpare(t, w)
}

// assertOnlySpare fails unless w's one child is its spare: no zombie, no
// run's child left.
func assertOnlySpare(t *testing.T, w *worker) {
	t.Helper()
	spare := spareOf(t, w)
	deadline := time.Now().Add(10 * time.Second)
	for {
		kids := childrenOf(w.svc.Pid())
		if len(kids) == 1 && kids[0] == spare {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker children %v, want only its spare %d", kids, spare)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
