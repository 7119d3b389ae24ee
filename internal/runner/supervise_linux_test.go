package runner

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// TestSuperviseKillsWhatLeftTheGroup runs, under Supervise and
// concurrently, exporters that leave a setsid()ed process and an orphan
// behind and exit with a code of their own. Each run must see its own exit
// code (the orphan reaper never takes a known child's status), and
// afterwards no process of theirs may live and no zombie be left.
func TestSuperviseKillsWhatLeftTheGroup(t *testing.T) {
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	stop := Supervise(nil)
	defer stop()
	mark := fmt.Sprintf("mw-supervise-%d", time.Now().UnixNano())
	const runs, parallel = 60, 6
	var wg sync.WaitGroup
	errs := make(chan error, runs)
	sem := make(chan struct{}, parallel)
	// Every script is written before any run starts: a script still open
	// for writing when another goroutine forks can be inherited by that
	// child until its exec, and exec of the script then fails with
	// ETXTBSY ("text file busy").
	specs := make([]Spec, runs)
	for i := range runs {
		specs[i] = spec(t, script(t, fmt.Sprintf(`/usr/bin/setsid /bin/sh -c 'sleep 3600' %s &
/bin/sh -c '/bin/sh -c "sleep 3600" %s & exit 0' &
(exit 0) &
echo 'up 1' > "$METRICS_FILE"
exit %d`, mark, mark, i%3)))
	}
	for i := range runs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			code := i % 3
			res, err := Run(context.Background(), specs[i])
			if res.ExitCode != code {
				errs <- fmt.Errorf("run %d: exit code %d (signal %q), want %d: %w", i, res.ExitCode, res.Signal, code, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(processesWithArg(t, mark)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := processesWithArg(t, mark); len(left) > 0 {
		t.Errorf("%d processes left behind by the runs survive them: %v", len(left), left)
	}
	for time.Now().Before(deadline) && len(zombieChildren(t)) > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if zs := zombieChildren(t); len(zs) > 0 {
		t.Errorf("zombie children: %v", zs)
	}
	reaped, killed := SupervisorCounts()
	t.Logf("%d runs: the supervisor reaped %d orphans and killed %d", runs, reaped, killed)
	// Not one per run: a setsid'd process may die with its group before
	// it has left it, and then there is no orphan to kill. That none
	// survives is checked above.
	if killed == 0 {
		t.Errorf("killed no orphan in %d runs that each leave one", runs)
	}
}

// BenchmarkRunSupervised reports what supervision adds to a run: the run
// of a trivial exporter under Supervise (run-ns/op), one orphan scan as
// endRun does it (scan-ns/op), and their ratio.
func BenchmarkRunSupervised(b *testing.B) {
	stop := Supervise(nil)
	defer stop()
	s := Spec{Name: "true", Path: "/bin/true", TempDir: b.TempDir()}
	ctx := context.Background()
	var runTime, scanTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := Run(ctx, s); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		sup.Load().scan()
		runTime += t1.Sub(t0)
		scanTime += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(runTime.Nanoseconds())/n, "run-ns/op")
	b.ReportMetric(float64(scanTime.Nanoseconds())/n, "scan-ns/op")
	b.ReportMetric(float64(scanTime)/float64(runTime), "scan/run")
}

func BenchmarkOnlyRegisteredChildren(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !onlyRegisteredChildren() {
			b.Fatal("a child nobody registered")
		}
	}
}
