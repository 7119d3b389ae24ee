package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunOutputModes(t *testing.T) {
	tests := []struct {
		name   string
		output Output
		body   string
		args   []string
		want   string
	}{
		{
			name: "file", output: OutputFile,
			body: `echo "up 1" > "$METRICS_FILE"; echo "noise on stdout"`,
			want: "up 1\n",
		},
		{
			name: "stdout", output: OutputStdout,
			body: `echo "up 1"; echo "up 2" > "$METRICS_FILE"`,
			want: "up 1\n",
		},
		{
			name: "seed gets --output-filename first", output: OutputSeed,
			body: `[ "$1" = --output-filename ] && [ "$2" = "$METRICS_FILE" ] || exit 9
shift 2; echo "args $*" > "$METRICS_FILE"`,
			args: []string{"--target=x", "two words"},
			want: "args --target=x two words\n",
		},
		{
			name: "file mode passes args unchanged", output: OutputFile,
			body: `printf '%s|' "$@" > "$METRICS_FILE"`,
			args: []string{"--output-filename", "a b", "$HOME"},
			want: "--output-filename|a b|$HOME|",
		},
		{
			name: "no file written is empty output", output: OutputFile,
			body: `true`,
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(t, script(t, tt.body))
			s.Output, s.Args = tt.output, tt.args
			res, err := Run(context.Background(), s)
			if err != nil {
				t.Fatalf("Run: %v (stderr %q)", err, res.Stderr)
			}
			if string(res.Metrics) != tt.want || res.Metrics == nil {
				t.Errorf("Metrics = %q (nil %v), want %q", res.Metrics, res.Metrics == nil, tt.want)
			}
			if res.ExitCode != 0 || res.Signal != "" {
				t.Errorf("ExitCode %d, Signal %q; want 0, \"\"", res.ExitCode, res.Signal)
			}
			if res.MetricsFilename == "" || filepath.Base(res.MetricsFilename) != metricsFileName {
				t.Errorf("MetricsFilename = %q", res.MetricsFilename)
			}
			if _, err := os.Stat(filepath.Dir(res.MetricsFilename)); !os.IsNotExist(err) {
				t.Errorf("private dir still there after Run: %v", err)
			}
			assertEmptyDir(t, s.TempDir)
		})
	}
}

func TestRunPrivateDirIsFreshAnd0700(t *testing.T) {
	s := spec(t, script(t, `d=$(dirname "$METRICS_FILE"); stat -c '%a' "$d" > "$METRICS_FILE"; ls -A "$d" | wc -l >> "$METRICS_FILE"`))
	var dirs []string
	for range 2 {
		res, err := Run(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(res.Metrics)); !slices.Equal(got, []string{"700", "1"}) {
			t.Errorf("mode and entry count of the private dir = %q, want 700 and only METRICS_FILE", got)
		}
		dirs = append(dirs, filepath.Dir(res.MetricsFilename))
	}
	if dirs[0] == dirs[1] {
		t.Errorf("two runs shared the private dir %s", dirs[0])
	}
	assertEmptyDir(t, s.TempDir)
}

func TestRunEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("METRICWRAP_TEST_SECRET", "hunter2")
	t.Setenv("METRICWRAP_TEST_PASSED", "yes")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "UTC")
	t.Setenv("HOME", "/home/test")
	s := spec(t, "/usr/bin/env")
	s.Name = "envdump"
	s.Output = OutputStdout
	s.Passthrough = []string{"METRICWRAP_TEST_PASSED", "METRICWRAP_TEST_UNSET"}
	s.Env = map[string]string{"REGION": "eu", "METRICS_FILE": "/etc/passwd", "HOME": "/override"}
	s.Timeout = time.Minute
	before := time.Now()
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(res.Metrics)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	var names []string
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{"EXPORTER_NAME", "HOME", "LANG", "METRICS_FILE", "METRICWRAP_TEST_PASSED", "PATH", "REGION", "SCRAPE_DEADLINE", "SCRAPE_TIMEOUT", "TZ"}
	if os.Getenv("PATH") == "" {
		want = slices.DeleteFunc(want, func(s string) bool { return s == "PATH" })
	}
	if !slices.Equal(names, want) {
		t.Errorf("child env names = %v, want exactly %v", names, want)
	}
	for k, v := range map[string]string{
		"EXPORTER_NAME": "envdump", "HOME": "/override", "LANG": "C.UTF-8", "TZ": "UTC",
		"METRICWRAP_TEST_PASSED": "yes", "REGION": "eu", "METRICS_FILE": res.MetricsFilename,
		"PATH": os.Getenv("PATH"),
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if strings.Contains(string(res.Metrics), "hunter2") {
		t.Error("a parent variable not passed through is visible to the child")
	}
	timeout, err := strconv.ParseFloat(env["SCRAPE_TIMEOUT"], 64)
	if err != nil || timeout <= 0 || timeout > 60 {
		t.Errorf("SCRAPE_TIMEOUT = %q, want seconds in (0, 60]", env["SCRAPE_TIMEOUT"])
	}
	deadline, err := strconv.ParseFloat(env["SCRAPE_DEADLINE"], 64)
	lo, hi := float64(before.Unix()), float64(before.Add(time.Minute).Unix()+1)
	if err != nil || deadline < lo || deadline > hi {
		t.Errorf("SCRAPE_DEADLINE = %q, want unix seconds in [%v, %v]", env["SCRAPE_DEADLINE"], lo, hi)
	}
}

func TestRunWithoutDeadlineOmitsScrapeVars(t *testing.T) {
	s := spec(t, "/usr/bin/env")
	s.Output = OutputStdout
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Metrics), "SCRAPE_") {
		t.Errorf("SCRAPE_* set without a deadline:\n%s", res.Metrics)
	}
}

func TestRunResolvesProgramInChildPath(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "myexp"), []byte("#!/bin/sh\necho found > \"$METRICS_FILE\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		prog    string
		path    string
		wantErr error
	}{
		{"found in the child's PATH", "myexp", "/nonexistent:" + bin, nil},
		{"not in the child's PATH", "myexp", "/usr/bin:/bin", ErrStart},
		{"relative PATH entries ignored", "myexp", ".", ErrStart},
		{"not executable", "noexec", bin, ErrStart},
		{"absolute path missing", filepath.Join(bin, "missing"), bin, ErrStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(t, tt.prog)
			s.Dir = bin
			s.Env = map[string]string{"PATH": tt.path}
			res, err := Run(context.Background(), s)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Run error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(res.Metrics) != "found\n" {
				t.Errorf("Metrics = %q", res.Metrics)
			}
			assertEmptyDir(t, s.TempDir)
		})
	}
}

func TestRunStartErrors(t *testing.T) {
	ok := script(t, "true")
	tests := []struct {
		name   string
		modify func(*Spec)
	}{
		{"empty path", func(s *Spec) { s.Path = "" }},
		{"missing working dir", func(s *Spec) { s.Dir = "/nonexistent/dir" }},
		{"env name with =", func(s *Spec) { s.Env = map[string]string{"A=B": "x"} }},
		{"env value with NUL", func(s *Spec) { s.Env = map[string]string{"A": "x\x00y"} }},
		{"temp dir missing", func(s *Spec) { s.TempDir = "/nonexistent/tmp" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(t, ok)
			tmp := s.TempDir
			tt.modify(&s)
			res, err := Run(context.Background(), s)
			if !errors.Is(err, ErrStart) {
				t.Fatalf("Run error = %v, want ErrStart", err)
			}
			if res == nil || res.ExitCode != -1 {
				t.Errorf("Result = %+v, want one with ExitCode -1", res)
			}
			assertEmptyDir(t, tmp)
		})
	}
}

func TestRunNonZeroExitReportsStderrTail(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantCode   int
		wantSignal string
		wantInMsg  []string
	}{
		{
			name:     "exit code and last stderr line",
			body:     `i=0; while [ $i -lt 2000 ]; do echo "early line $i" >&2; i=$((i+1)); done; echo "boom: cannot reach switch" >&2; exit 3`,
			wantCode: 3, wantInMsg: []string{"exited with code 3", "boom: cannot reach switch"},
		},
		{
			name:     "no stderr",
			body:     `exit 255`,
			wantCode: 255, wantInMsg: []string{"exited with code 255", "no stderr output"},
		},
		{
			name:     "killed by its own signal",
			body:     `echo dying >&2; kill -SEGV $$`,
			wantCode: -1, wantSignal: "segmentation fault", wantInMsg: []string{"killed by signal segmentation fault", "dying"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(t, script(t, `echo "up 1" > "$METRICS_FILE"; `+tt.body))
			s.CaptureBytes = 4096
			res, err := Run(context.Background(), s)
			if !errors.Is(err, ErrExit) {
				t.Fatalf("Run error = %v, want ErrExit", err)
			}
			for _, w := range tt.wantInMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if len(err.Error()) > errTailBytes+200 {
				t.Errorf("error message is %d bytes; the stderr part must be a short tail", len(err.Error()))
			}
			if res.ExitCode != tt.wantCode || res.Signal != tt.wantSignal {
				t.Errorf("ExitCode %d, Signal %q; want %d, %q", res.ExitCode, res.Signal, tt.wantCode, tt.wantSignal)
			}
			if len(res.Stderr) > s.CaptureBytes {
				t.Errorf("Stderr holds %d bytes, cap %d", len(res.Stderr), s.CaptureBytes)
			}
			if string(res.Metrics) != "up 1\n" {
				t.Errorf("Metrics = %q; a failed run still shows what it wrote, for debug output", res.Metrics)
			}
			assertEmptyDir(t, s.TempDir)
		})
	}
}

// TestRunKillsWholeGroup starts an exporter that forks a grandchild and
// hangs, and checks that the timeout or a cancellation kills both.
func TestRunKillsWholeGroup(t *testing.T) {
	tests := []struct {
		name       string
		ignoreTerm bool
		cancel     bool
		wantSignal string
	}{
		{name: "timeout, SIGTERM is enough", wantSignal: "terminated"},
		{name: "timeout, SIGTERM ignored needs SIGKILL", ignoreTerm: true, wantSignal: "killed"},
		{name: "cancelled", cancel: true, wantSignal: "terminated"},
		{name: "cancelled, SIGTERM ignored", cancel: true, ignoreTerm: true, wantSignal: "killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pidFile := filepath.Join(t.TempDir(), "pids")
			body := "sleep 1000 &\necho $$ $! > " + pidFile + "\nwait\n"
			if tt.ignoreTerm {
				body = "trap '' TERM\n" + body
			}
			s := spec(t, script(t, body))
			var res *Result
			var err error
			var pids []int
			if tt.cancel {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					res, err = Run(ctx, s)
				}()
				pids = readPids(t, pidFile, 2)
				cancel()
				<-done
			} else {
				// The run must end through its timeout after the exporter
				// wrote its pids; on a loaded machine /bin/sh may need
				// longer than the first timeout, so retry with more.
				for s.Timeout = 250 * time.Millisecond; ; s.Timeout *= 2 {
					_ = os.Remove(pidFile)
					res, err = Run(context.Background(), s)
					var ok bool
					if pids, ok = tryReadPids(t, pidFile, 2); ok {
						break
					}
					if s.Timeout > 30*time.Second {
						t.Fatal("the exporter never got to write its pids")
					}
				}
			}
			if tt.cancel {
				if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
					t.Errorf("Run error = %v, want context.Canceled", err)
				}
			} else if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Run error = %v, want ErrTimeout wrapping context.DeadlineExceeded", err)
			}
			if res.Signal != tt.wantSignal {
				t.Errorf("Signal = %q, want %q", res.Signal, tt.wantSignal)
			}
			for _, pid := range pids {
				waitGone(t, pid)
			}
			assertEmptyDir(t, s.TempDir)
		})
	}
}

// TestRunKillsLeftoverGrandchildOnSuccess: an exporter that exits 0 but
// leaves a background process behind still leaves no orphan.
func TestRunKillsLeftoverGrandchildOnSuccess(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	s := spec(t, script(t, "sleep 1000 &\necho $! > "+pidFile+"\necho 'up 1' > \"$METRICS_FILE\""))
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Metrics) != "up 1\n" {
		t.Errorf("Metrics = %q", res.Metrics)
	}
	waitGone(t, readPids(t, pidFile, 1)[0])
	if zs := zombieChildren(t); len(zs) > 0 {
		t.Errorf("zombie children: %v", zs)
	}
}

// TestRunEscapedGrandchildCannotHangRun: a grandchild that left the process
// group (setsid) and keeps stdout and stderr open must not block Run
// beyond WaitDelay. In file mode that costs nothing; in stdout mode the
// metrics may be cut short, so the run fails.
func TestRunEscapedGrandchildCannotHangRun(t *testing.T) {
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	tests := []struct {
		name    string
		output  Output
		wantErr error
	}{
		{"file", OutputFile, nil},
		{"stdout", OutputStdout, ErrExit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pidFile := filepath.Join(t.TempDir(), "pids")
			// The exporter exits only once the grandchild has left the
			// group, or the group kill would catch it first.
			s := spec(t, script(t, `/usr/bin/setsid /bin/sh -c 'echo $$ > `+pidFile+`; exec sleep 1000' &
while [ ! -s `+pidFile+` ]; do sleep 0.01; done
echo 'up 1'; echo 'up 1' > "$METRICS_FILE"`))
			s.Output = tt.output
			s.KillGrace = 100 * time.Millisecond
			res, err := Run(context.Background(), s)
			pid := readPids(t, pidFile, 1)[0]
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Run error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(res.Metrics) != "up 1\n" {
				t.Errorf("Metrics = %q", res.Metrics)
			}
			if err != nil && !strings.Contains(err.Error(), "may be incomplete") {
				t.Errorf("error %q does not say the metrics may be incomplete", err)
			}
			assertEmptyDir(t, s.TempDir)
		})
	}
}

func TestRunOutputTooLargeStopsEarlyWithBoundedMemory(t *testing.T) {
	tests := []struct {
		name        string
		output      Output
		body        string
		limit       int64
		wantStopped bool // the child was killed before it finished
	}{
		{"1 GiB to stdout", OutputStdout, `exec head -c 1073741824 /dev/zero`, 0, true},
		{"1 GiB to the file", OutputFile, `exec head -c 1073741824 /dev/zero > "$METRICS_FILE"`, 0, true},
		{"just over the cap, found after exit", OutputFile, `head -c 1001 /dev/zero > "$METRICS_FILE"`, 1000, false},
		{"just over the cap on stdout", OutputStdout, `head -c 1001 /dev/zero`, 1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(t, script(t, tt.body))
			s.Output, s.MaxOutputBytes = tt.output, tt.limit
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res, err := Run(context.Background(), s)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrOutputTooLarge) {
				t.Fatalf("Run error = %v, want ErrOutputTooLarge", err)
			}
			if !strings.Contains(err.Error(), "max_output_bytes") {
				t.Errorf("error %q does not name max_output_bytes", err)
			}
			if res.Metrics != nil {
				t.Errorf("Metrics holds %d bytes after ErrOutputTooLarge, want nil", len(res.Metrics))
			}
			if tt.wantStopped && res.Signal == "" {
				t.Errorf("the child finished writing 1 GiB (exit %d); it should have been stopped at the cap", res.ExitCode)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Errorf("Run allocated %d MiB for a 1 GiB writer; want < 64 MiB", grew>>20)
			}
			assertEmptyDir(t, s.TempDir)
		})
	}
}

func TestRunChattyExporterKeepsOnlyTail(t *testing.T) {
	// Twice the memory bound, so keeping everything would fail the test.
	s := spec(t, script(t, `head -c 134217728 /dev/zero; echo END; head -c 16777216 /dev/zero >&2; echo ERR >&2; echo "up 1" > "$METRICS_FILE"`))
	s.CaptureBytes = 1024
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := Run(context.Background(), s)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 1024 || !strings.HasSuffix(string(res.Stdout), "\x00END\n") {
		t.Errorf("Stdout tail: %d bytes ending %q, want 1024 ending in END", len(res.Stdout), lastBytes(res.Stdout, 16))
	}
	if len(res.Stderr) != 1024 || !strings.HasSuffix(string(res.Stderr), "\x00ERR\n") {
		t.Errorf("Stderr tail: %d bytes ending %q", len(res.Stderr), lastBytes(res.Stderr, 16))
	}
	if string(res.Metrics) != "up 1\n" {
		t.Errorf("Metrics = %q", res.Metrics)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("Run allocated %d MiB for 128 MiB of stdout; want < 64 MiB", grew>>20)
	}
}

func TestRunRefusesNonRegularMetricsFile(t *testing.T) {
	s := spec(t, script(t, `mkfifo "$METRICS_FILE.fifo" && ln -s "$METRICS_FILE.fifo" "$METRICS_FILE"`))
	_, err := Run(context.Background(), s)
	if !errors.Is(err, ErrExit) || !strings.Contains(err.Error(), "regular file") {
		t.Fatalf("Run error = %v, want ErrExit about a non-regular METRICS_FILE", err)
	}
	assertEmptyDir(t, s.TempDir)
}

func TestRunContextDoneBeforeStart(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	s := spec(t, script(t, "touch "+marker))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, s); !errors.Is(err, context.Canceled) {
		t.Errorf("Run error = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := Run(ctx, s); !errors.Is(err, ErrTimeout) {
		t.Errorf("Run error = %v, want ErrTimeout", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the exporter ran although the context was already done")
	}
	assertEmptyDir(t, s.TempDir)
}

// TestWorkingDirIsPrivate: without Spec.Dir the child runs in its private
// directory, so a file it writes by a relative name is removed with the
// run; a relative program path still means metricwrap's directory.
func TestWorkingDirIsPrivate(t *testing.T) {
	s := spec(t, script(t, `[ "$(pwd)" = "$(dirname "$METRICS_FILE")" ] || exit 7
echo stray > stray.log
echo 'ok 1' > "$METRICS_FILE"`))
	here := t.TempDir()
	t.Chdir(here)
	if err := os.Rename(s.Path, filepath.Join(here, "exp.sh")); err != nil {
		t.Fatal(err)
	}
	s.Path = "./exp.sh"
	res, err := Run(context.Background(), s)
	if err != nil || string(res.Metrics) != "ok 1\n" {
		t.Fatalf("run: %v, metrics %q, stderr %q", err, res.Metrics, res.Stderr)
	}
	assertEmptyDir(t, s.TempDir)
	if _, err := os.Stat(filepath.Join(here, "stray.log")); err == nil {
		t.Error("stray.log was written in metricwrap's working directory")
	}
}

// TestRunPrivateDirCap: a second file in the private directory (the
// working directory) growing without end, or a flood of small files, stops
// the run early with an error naming max_dir_bytes, in file and stdout mode.
func TestRunPrivateDirCap(t *testing.T) {
	tests := []struct {
		name   string
		output Output
		body   string
	}{
		{"1 GiB beside METRICS_FILE", OutputFile, `head -c 1073741824 /dev/zero > other.dat; echo 'up 1' > "$METRICS_FILE"`},
		{"1 GiB in stdout mode", OutputStdout, `head -c 1073741824 /dev/zero > other.dat; echo 'up 1'`},
		{"1 GiB in a subdirectory", OutputFile, `mkdir -p a/b && head -c 1073741824 /dev/zero > a/b/c; echo 'up 1' > "$METRICS_FILE"`},
		{"20000 files", OutputFile, `i=0; while [ $i -lt 20000 ]; do : > f$i; i=$((i+1)); done; echo 'up 1' > "$METRICS_FILE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := spec(t, script(t, tt.body))
			s.Output = tt.output
			s.MaxOutputBytes = 1 << 20
			s.MaxDirBytes = 1 << 20
			s.Timeout = 60 * time.Second
			start := time.Now()
			_, err := Run(context.Background(), s)
			took := time.Since(start)
			if !errors.Is(err, ErrOutputTooLarge) || !strings.Contains(err.Error(), "max_dir_bytes (1048576 bytes)") {
				t.Fatalf("err = %v, want ErrOutputTooLarge naming max_dir_bytes", err)
			}
			t.Logf("stopped after %v", took)
			assertEmptyDir(t, s.TempDir)
		})
	}
	// Under the cap, a file beside the metrics is fine.
	s := spec(t, script(t, `head -c 1000 /dev/zero > other.dat; echo 'up 1' > "$METRICS_FILE"`))
	s.MaxDirBytes = 1 << 20
	if res, err := Run(context.Background(), s); err != nil || string(res.Metrics) != "up 1\n" {
		t.Fatalf("small second file: %v %q", err, res.Metrics)
	}
}

// TestRunStoppedChildCanStillPrint: a child stopped for writing too much
// that prints more than a pipe holds on its way out (its TERM handler) must
// not block on its pipe until the SIGKILL: its exit is its own, and the
// tail of what it printed is kept.
func TestRunStoppedChildCanStillPrint(t *testing.T) {
	s := spec(t, script(t, `trap 'head -c 200000 /dev/zero >&2; echo BYE >&2; exit 0' TERM
head -c 2000000 /dev/zero > "$METRICS_FILE"; while :; do sleep 0.01; done`))
	s.MaxOutputBytes = 1 << 20
	s.KillGrace = 30 * time.Second
	res, err := Run(context.Background(), s)
	if !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("Run error = %v, want ErrOutputTooLarge", err)
	}
	if res.Signal != "" || res.ExitCode != 0 {
		t.Errorf("the stopped child ended with signal %q, code %d; want its own exit 0 after TERM", res.Signal, res.ExitCode)
	}
	if !strings.HasSuffix(string(res.Stderr), "BYE\n") {
		t.Errorf("stderr tail ends %q, want what the TERM handler printed last", lastBytes(res.Stderr, 16))
	}
}
