package python

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// currentPid is the pid of the pool's ready worker for f, 0 when none.
func currentPid(p *Pool, f *fixture) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.slots[Key{Python: f.python, Runner: f.runner, ExportersDir: f.dir}]
	if s == nil || s.cur == nil {
		return 0
	}
	return s.cur.svc.Pid()
}

func waitWarm(t *testing.T, p *Pool, f *fixture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !p.Warmup(ctx, f.key()) {
		t.Fatal("the python worker did not become ready")
	}
}

func TestLifecycle(t *testing.T) {
	t.Run("restarts a worker that died, counted", func(t *testing.T) {
		f := newFixture(t, testExporters)
		p := warmPool(t, f, "ok")
		first := currentPid(p, f)
		if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Until it is back, runs run cold and still succeed.
		if _, err := p.runOrCold(context.Background(), f.dir, f.spec("ok")); err != nil {
			t.Fatal(err)
		}
		waitWarm(t, p, f)
		if second := currentPid(p, f); second == first || second == 0 {
			t.Fatalf("worker pid %d after the restart, was %d", second, first)
		}
		if got := testutil.ToFloat64(p.metrics.restarts.WithLabelValues(ReasonExit)); got != 1 {
			t.Errorf("restarts{reason=exit} = %v, want 1", got)
		}
	})

	t.Run("restarts when an exporter file changes", func(t *testing.T) {
		f := newFixture(t, testExporters)
		p := warmPool(t, f, "async_ok")
		if res, err := p.Run(context.Background(), f.dir, f.spec("async_ok")); err != nil || !bytes.Contains(res.Metrics, []byte("async_done 1.0")) {
			t.Fatalf("before the change: %v\n%s", err, res.Metrics)
		}
		f.write(t, "async_ok.py", strings.ReplaceAll(testExporters["async_ok.py"], "set(1)", "set(2)"))
		res, err := p.runOrCold(context.Background(), f.dir, f.spec("async_ok"))
		if err != nil || !bytes.Contains(res.Metrics, []byte("async_done 2.0")) {
			t.Fatalf("the first run after the change ran old code: %v\n%s", err, res.Metrics)
		}
		waitWarm(t, p, f)
		warmBefore, _ := p.counts()
		res, err = p.Run(context.Background(), f.dir, f.spec("async_ok"))
		if warmAfter, _ := p.counts(); warmAfter != warmBefore+1 {
			t.Fatal("the run after the restart was not warm")
		}
		if err != nil || !bytes.Contains(res.Metrics, []byte("async_done 2.0")) {
			t.Fatalf("the restarted worker runs old code: %v\n%s", err, res.Metrics)
		}
		if got := testutil.ToFloat64(p.metrics.restarts.WithLabelValues(ReasonChange)); got != 1 {
			t.Errorf("restarts{reason=change} = %v, want 1", got)
		}
	})

	t.Run("runs cold when the worker cannot start", func(t *testing.T) {
		f := newFixture(t, testExporters)
		// An interpreter that refuses worker mode only.
		wrapper := filepath.Join(t.TempDir(), "python3")
		script := "#!/bin/sh\nif [ \"$2\" = --worker ]; then echo no workers here >&2; exit 1; fi\nexec " + f.python + " \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		f.python = wrapper
		p := NewPool(Options{Logger: testLogger(t)})
		defer p.Close()
		for i := range 3 {
			res, err := p.runOrCold(context.Background(), f.dir, f.spec("ok"))
			if err != nil || !bytes.Contains(res.Metrics, []byte("ok_runs_total 1.0")) {
				t.Fatalf("run %d: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond) // let the failed start be noticed
		}
		if warm, cold := p.counts(); warm != 0 || cold != 3 {
			t.Errorf("warm %v, cold %v runs; want 0 and 3", warm, cold)
		}
	})
}

// soakRuns is kept small by default so the package's tests take seconds;
// -soak-runs=1000 is the figure (about 75 s on a loaded 2-core VM),
// scripts/bench-python with SOAK=10000 the long one.
var soakRuns = flag.Int("soak-runs", 200, "warm runs of TestManyWarmRunsLeakNothing")

// TestManyWarmRunsLeakNothing: after many warm runs (some failing, some
// leaving a grandchild) the worker has no child left but its spare (no
// zombie either), neither process has more fds than before, no private
// directory is left, and the worker's RSS has not grown.
func TestManyWarmRunsLeakNothing(t *testing.T) {
	runs := *soakRuns
	if testing.Short() {
		runs = min(runs, 50)
	}
	f := newFixture(t, testExporters)
	p := warmPool(t, f, "ok", "boom", "grandchild")
	pid := currentPid(p, f)
	specs := []string{"ok", "ok", "ok", "boom", "grandchild"}
	do := func(n int) {
		var wg sync.WaitGroup
		next := make(chan int)
		for range 4 {
			wg.Go(func() {
				for i := range next {
					_, _ = p.Run(context.Background(), f.dir, f.spec(specs[i%len(specs)]))
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	do(50)
	fdsBefore, workerFdsBefore, rssBefore := countFds(os.Getpid()), countFds(pid), rssKB(t, pid)
	warmBefore, _ := p.counts()
	do(runs)
	if warm, _ := p.counts(); warm != warmBefore+float64(runs) {
		t.Fatalf("%v of %d runs were warm", warm-warmBefore, runs)
	}
	if got := countFds(os.Getpid()); got > fdsBefore {
		t.Errorf("test process fds: %d before, %d after", fdsBefore, got)
	}
	if got := countFds(pid); got > workerFdsBefore {
		t.Errorf("worker fds: %d before, %d after", workerFdsBefore, got)
	}
	// The spare waiting for the next run is all that may be left.
	p.mu.Lock()
	w := p.slots[f.key()].cur
	p.mu.Unlock()
	assertOnlySpare(t, w)
	assertEmptyDir(t, f.tmp)
	// Flat, allowing for allocator noise: a leak of even 1 KiB a run would
	// exceed it.
	if got := rssKB(t, pid); got > rssBefore+1024 {
		t.Errorf("worker RSS grew from %d KiB to %d KiB over %d runs", rssBefore, got, runs)
	}
}

func countFds(pid int) int {
	entries, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(entries)
}

func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
