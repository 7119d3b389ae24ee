package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sleeperArg marks the grandchildren the soak test's timeouts leave behind,
// so a scan of /proc finds any survivor.
const sleeperArg = "987.654"

// soakScript answers its first argument with one outcome.
const soakScript = `[ "$1" = --output-filename ] && shift 2
case "$1" in
ok) echo "up 1" > "$METRICS_FILE" ;;
ok-stdout) echo "up 1" ;;
fail) echo "broken pipe to device" >&2; exit 3 ;;
hang) sleep ` + sleeperArg + ` & wait ;;
hang-ignore-term) trap '' TERM; sleep ` + sleeperArg + ` & wait ;;
big-file) head -c 4096 /dev/zero > "$METRICS_FILE" ;;
big-stdout) head -c 4096 /dev/zero ;;
esac`

// TestRunThousandMixedRunsLeakNothing runs 1,000 exporters with every kind of
// outcome and checks that no zombie, open descriptor, leftover file or
// grandchild survives them.
func TestRunThousandMixedRunsLeakNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 process runs; skipped with -short")
	}
	type kind struct {
		arg     string
		output  Output
		timeout time.Duration
		wantErr error
	}
	kinds := []kind{
		{"ok", OutputFile, 0, nil},
		{"fail", OutputFile, 0, ErrExit},
		{"hang", OutputFile, 50 * time.Millisecond, ErrTimeout},
		{"hang-ignore-term", OutputFile, 50 * time.Millisecond, ErrTimeout},
		{"big-file", OutputFile, 0, ErrOutputTooLarge},
		{"big-stdout", OutputStdout, 0, ErrOutputTooLarge},
		{"ok-stdout", OutputStdout, 0, nil},
		{"ok", OutputSeed, 0, nil},
	}
	base := spec(t, script(t, soakScript))
	base.KillGrace = 100 * time.Millisecond
	base.MaxOutputBytes = 1024

	// Warm up once so lazily opened runtime descriptors are in the baseline.
	if _, err := Run(context.Background(), base); err != nil {
		t.Fatal(err)
	}
	fdsBefore := openFDs(t)

	const runs, workers = 1000, 8
	jobs := make(chan int)
	errs := make(chan error, runs)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				k := kinds[i%len(kinds)]
				s := base
				s.Args, s.Output, s.Timeout = []string{k.arg}, k.output, k.timeout
				res, err := Run(context.Background(), s)
				switch {
				case k.wantErr == nil && err != nil:
					errs <- fmt.Errorf("run %d (%s): %w", i, k.arg, err)
				case k.wantErr != nil && !errors.Is(err, k.wantErr):
					errs <- fmt.Errorf("run %d (%s): error %w, want %w", i, k.arg, err, k.wantErr)
				case k.wantErr == nil && string(res.Metrics) != "up 1\n":
					errs <- fmt.Errorf("run %d (%s): metrics %q", i, k.arg, res.Metrics)
				}
			}
		})
	}
	for i := range runs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 10 {
			t.Error(err)
		}
	}
	if failed > 10 {
		t.Errorf("... and %d more failed runs", failed-10)
	}

	if zs := zombieChildren(t); len(zs) > 0 {
		t.Errorf("zombie children after %d runs: %v", runs, zs)
	}
	// A leak costs at least one descriptor per run; a few are the
	// runtime's own (poller, pidfds being closed).
	if fdsAfter := openFDs(t); fdsAfter > fdsBefore+4 {
		t.Errorf("open descriptors grew from %d to %d over %d runs", fdsBefore, fdsAfter, runs)
	}
	assertEmptyDir(t, base.TempDir)
	for _, pid := range processesWithArg(t, sleeperArg) {
		waitGone(t, pid)
	}
}

// processesWithArg lists the processes whose command line holds arg.
func processesWithArg(t *testing.T, arg string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}
