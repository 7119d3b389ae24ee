package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// helperEnv names the spool dir for TestHelperProcess, the child that the
// kill -9 test starts and kills.
const helperEnv = "METRICWRAP_SPOOL_HELPER_DIR"

// TestHelperProcess is not a test: run by TestSurvivesKill9 as a child, it
// Puts batches k00000, k00001, ... and prints each ID once its Put returned.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestSurvivesKill9")
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := range 10000 {
		id := fmt.Sprintf("k%05d", i)
		if err := s.Put(qn("gw"), testBatch(id)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stdout, id) // os.Stdout is unbuffered
	}
	os.Exit(0)
}

func TestSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, after := range []int{0, 1, 7, 25, 40 + rand.IntN(60)} {
		t.Run(fmt.Sprintf("kill after %d puts", after), func(t *testing.T) {
			dir := t.TempDir()
			printed := runAndKill(t, dir, after)
			if len(printed) < after {
				t.Fatalf("child printed %d IDs before the kill, want at least %d", len(printed), after)
			}

			s := open(t, Options{Dir: dir})
			got := drain(t, s.Spool, "gw") // drain checks every batch is intact
			// Every printed Put is there, in order; at most one more Put may
			// have completed between its return and its print.
			if len(got) < len(printed) || len(got) > len(printed)+1 {
				t.Fatalf("spool holds %d batches, child completed %d", len(got), len(printed))
			}
			for i, id := range got {
				if want := fmt.Sprintf("k%05d", i); id != want {
					t.Fatalf("batch %d is %s, want %s", i, id, want)
				}
			}
			leftovers, err := filepath.Glob(filepath.Join(dir, queueKey(qn("gw")), "*"+tempSuffix))
			if err != nil || len(leftovers) > 0 {
				t.Fatalf("temp files left after Open: %v %v", leftovers, err)
			}
			t.Logf("killed after %d printed puts; %d batches recovered", len(printed), len(got))
		})
	}
}

// runAndKill starts the helper on dir, SIGKILLs it after it printed `after`
// IDs (0: as soon as it started) and returns every ID it printed.
func runAndKill(t *testing.T, dir string, after int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var printed []string
	sc := bufio.NewScanner(stdout)
	killed := false
	kill := func() {
		if !killed {
			killed = true
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Errorf("kill child: %v", err)
			}
		}
	}
	if after == 0 {
		kill()
	}
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "k") {
			printed = append(printed, line)
		}
		if len(printed) >= after {
			kill()
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\nstderr: %s", err, stderr.String())
	}
	return printed
}

func TestReplay10k(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 entries")
	}
	const n = 10000
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	s.nosync = true // only building the fixture; replay never syncs
	for i := range n {
		put(t, s.Spool, "gw", fmt.Sprintf("b%05d", i))
	}
	_ = s.Close()

	start := time.Now()
	s = open(t, Options{Dir: dir})
	opened := time.Since(start)
	next := 0
	delivered, err := s.Replay(context.Background(), qn("gw"), func(_ context.Context, b *batch.Batch) error {
		if want := fmt.Sprintf("b%05d", next); b.ID != want {
			return sink.Permanent(fmt.Errorf("got %s, want %s", b.ID, want))
		}
		if len(b.Families) != 3 {
			return sink.Permanent(fmt.Errorf("batch %s has %d families", b.ID, len(b.Families)))
		}
		next++
		return nil
	})
	total := time.Since(start)
	if err != nil || delivered != n || next != n {
		t.Fatalf("Replay = %d, %v; %d in order; want %d", delivered, err, next, n)
	}
	if v := testutil.ToFloat64(s.quarantined.WithLabelValues("gw")); v != 0 {
		t.Fatalf("%v batches out of order", v)
	}
	assertIDs(t, nil, drain(t, s.Spool, "gw"))
	t.Logf("reopen of %d entries took %v; reopen + replay %v (%v per batch)", n, opened, total, total/n)
}
