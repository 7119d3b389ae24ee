package job

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exposition"
)

// waitFile polls until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

func TestRunExitCodesAndStatus(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		argv     []string
		code     int
		status   string
		sentinel error
	}{
		{"success", []string{"true"}, 0, StatusSucceeded, nil},
		{"exit code", []string{"sh", "-c", "exit 3"}, 3, StatusFailed, nil},
		{"killed by a signal", []string{"sh", "-c", "kill -USR1 $$"}, 128 + int(syscall.SIGUSR1), StatusFailed, nil},
		{"not found", []string{"metricwrap-no-such-command"}, ExitNotFound, StatusError, ErrNotFound},
		{"no such path", []string{filepath.Join(dir, "missing")}, ExitNotFound, StatusError, ErrNotFound},
		{"not executable", []string{notExec}, ExitCannotExecute, StatusError, ErrCannotExecute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Run(Options{Name: "j", Argv: tc.argv})
			if res.ExitCode != tc.code || res.Status != tc.status || !errors.Is(res.Err, tc.sentinel) {
				t.Errorf("exit %d, status %s, err %v; want %d, %s, %v", res.ExitCode, res.Status, res.Err, tc.code, tc.status, tc.sentinel)
			}
			text := string(exposition.Text(res.Families))
			if !strings.Contains(text, `job_runs_total{status="`+tc.status+`"} 1`) {
				t.Errorf("metrics lack the status:\n%s", text)
			}
		})
	}
}

func TestRunForwardsSignalsAndKillsAfterGrace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  string // $1 is the ready file, $2 the marker
		signals []os.Signal
		grace   time.Duration
		code    int
		status  string
		marker  bool
	}{
		{"trapped and exits", `trap 'touch "$2"; exit 143' TERM; touch "$1"; while :; do sleep 0.05; done`,
			[]os.Signal{syscall.SIGTERM}, 0, 143, StatusFailed, true},
		{"default action", `touch "$1"; while :; do sleep 0.05; done`,
			[]os.Signal{syscall.SIGINT}, 0, 128 + int(syscall.SIGINT), StatusFailed, false},
		{"hangup reaches it", `trap 'touch "$2"; exit 129' HUP; touch "$1"; while :; do sleep 0.05; done`,
			[]os.Signal{syscall.SIGHUP}, 0, 129, StatusFailed, true},
		{"ignores the signal until the grace is over", `trap 'touch "$2"' TERM; touch "$1"; while :; do sleep 0.05; done`,
			[]os.Signal{syscall.SIGTERM}, 100 * time.Millisecond, 137, StatusError, true},
		{"second SIGTERM kills", `trap 'touch "$2"' TERM; touch "$1"; while :; do sleep 0.05; done`,
			[]os.Signal{syscall.SIGTERM, syscall.SIGTERM}, time.Hour, 137, StatusError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ready, marker := filepath.Join(dir, "ready"), filepath.Join(dir, "marker")
			sigs := make(chan os.Signal, len(tc.signals))
			done := make(chan *Result)
			go func() {
				done <- Run(Options{Name: "j", Argv: []string{"sh", "-c", tc.script, "sh", ready, marker}, Signals: sigs, Grace: tc.grace})
			}()
			waitFile(t, ready)
			for _, s := range tc.signals {
				sigs <- s
			}
			res := <-done
			if res.ExitCode != tc.code || res.Status != tc.status {
				t.Errorf("exit %d, status %s (err %v); want %d, %s", res.ExitCode, res.Status, res.Err, tc.code, tc.status)
			}
			if tc.status == StatusError && !errors.Is(res.Err, ErrKilled) {
				t.Errorf("err = %v, want ErrKilled", res.Err)
			}
			if _, err := os.Stat(marker); tc.marker && err != nil {
				t.Errorf("the job's trap did not run: %v", err)
			}
		})
	}
}

func TestRunKillsLeftoverGrandchild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	res := Run(Options{Name: "j", Argv: []string{"sh", "-c", `sleep 300 & echo $! > "$1"`, "sh", pidFile}})
	if res.ExitCode != 0 {
		t.Fatalf("exit %d", res.ExitCode)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still runs after the job", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunMetricsFile(t *testing.T) {
	given := filepath.Join(t.TempDir(), "given.prom")
	for _, tc := range []struct {
		name       string
		script     string // $METRICS_FILE is set; the script prints its path on stdout
		metricFile string
		want       []string
		wantErr    string
	}{
		{"written", `printf '# TYPE cost gauge\ncost{item="disk"} 42\n' > "$METRICS_FILE"`, "",
			[]string{`p_cost{item="disk",team="ops"} 42`, `p_job_runs_total{status="Succeeded",team="ops"} 1`}, ""},
		{"not written", `true`, "", []string{`p_job_exit_code{team="ops"} 0`}, ""},
		{"invalid", `printf 'cost{ 1\n' > "$METRICS_FILE"`, "",
			[]string{`p_job_exit_code{team="ops"} 0`}, "METRICS_FILE: line 1"},
		{"clashes with the job's metrics", `printf 'job_exit_code 5\n' > "$METRICS_FILE"`, "",
			[]string{`p_job_exit_code{team="ops"} 0`}, "clashes"},
		{"given file", `printf 'given 1\n' > "$METRICS_FILE"`, given, []string{`p_given{team="ops"} 1`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			res := Run(Options{
				Name: "j", Argv: []string{"sh", "-c", `echo "$METRICS_FILE"; ` + tc.script},
				Prefix: "p", Labels: map[string]string{"team": "ops"}, MetricFile: tc.metricFile,
				Environ: []string{"PATH=" + os.Getenv("PATH"), "METRICS_FILE=/stale"}, Stdout: &stdout,
			})
			text := string(exposition.Text(res.Families))
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("metrics lack %s:\n%s", w, text)
				}
			}
			if tc.wantErr == "" && res.MetricsErr != nil || tc.wantErr != "" && (res.MetricsErr == nil || !strings.Contains(res.MetricsErr.Error(), tc.wantErr)) {
				t.Errorf("MetricsErr = %v, want %q", res.MetricsErr, tc.wantErr)
			}
			path := strings.TrimSpace(stdout.String())
			switch {
			case tc.metricFile != "":
				if path != tc.metricFile {
					t.Errorf("METRICS_FILE = %q, want %q", path, tc.metricFile)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("the given file was removed: %v", err)
				}
			case path == "/stale" || path == "":
				t.Errorf("METRICS_FILE = %q, want a fresh path", path)
			default:
				if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
					t.Errorf("private dir %s left behind (%v)", filepath.Dir(path), err)
				}
			}
		})
	}
}

func TestRunJobConfigLabelsAndMetrics(t *testing.T) {
	ms := jobMetrics(t, `
- name: ok_runs
  help: Successful runs
  when: '{{status}} == Succeeded'
  counter: {value: '1'}
- name: failed_runs
  help: Failed runs
  when: '{{status}} == Failed'
  counter: {value: '1'}
`)
	for _, tc := range []struct {
		argv      []string
		want, not string
	}{
		{[]string{"true"}, `ok_runs{owner="backup-team",team="ops"} 1`, "failed_runs"},
		{[]string{"false"}, `failed_runs{owner="backup-team",team="ops"} 1`, "ok_runs"},
	} {
		t.Run(tc.argv[0], func(t *testing.T) {
			res := Run(Options{
				Name: "backup", Argv: tc.argv,
				Config: &config.JobConfig{Labels: map[string]string{"owner": "{{job.name}}-team", "team": "job-wins"}, Metrics: ms},
				Labels: map[string]string{"team": "ops-global"},
			})
			text := string(exposition.Text(res.Families))
			want := strings.ReplaceAll(tc.want, `team="ops"`, `team="job-wins"`)
			if !strings.Contains(text, want) || strings.Contains(text, tc.not) || res.MetricsErr != nil {
				t.Errorf("want %s and no %s (err %v):\n%s", want, tc.not, res.MetricsErr, text)
			}
		})
	}
}

// TestRunRefusesWhatIsNoFile: METRICS_FILE is read by the runner's reader,
// so a FIFO the job leaves there (which a plain open would wait on for a
// writer forever) or a symlink to one is refused at once, and the job's own
// metrics are still delivered.
func TestRunRefusesWhatIsNoFile(t *testing.T) {
	for _, tc := range []struct{ name, script, want string }{
		{"fifo", `mkfifo "$METRICS_FILE"`, "not a regular file (a named pipe)"},
		{"symlink to a fifo", `mkfifo "$METRICS_FILE.fifo" && ln -s "$METRICS_FILE.fifo" "$METRICS_FILE"`, "a symlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan *Result, 1)
			go func() { done <- Run(Options{Name: "j", Argv: []string{"sh", "-c", tc.script}}) }()
			var res *Result
			select {
			case res = <-done:
			case <-time.After(20 * time.Second): // a watchdog, not a measurement: today's open never returns
				t.Fatal("exec still reading METRICS_FILE 20s after the job ended")
			}
			if res.ExitCode != 0 || res.Status != StatusSucceeded {
				t.Fatalf("exit %d status %s err %v", res.ExitCode, res.Status, res.Err)
			}
			if res.MetricsErr == nil || !strings.Contains(res.MetricsErr.Error(), tc.want) ||
				!strings.Contains(res.MetricsErr.Error(), EnvMetricsFile) {
				t.Fatalf("MetricsErr = %v; want it to name %s and say %q", res.MetricsErr, EnvMetricsFile, tc.want)
			}
			if text := string(exposition.Text(res.Families)); !strings.Contains(text, `job_runs_total{status="Succeeded"} 1`) {
				t.Errorf("the job's own metrics are missing:\n%s", text)
			}
		})
	}
}

// TestRunIncrements: the counters exec makes are marked as one run's
// increments (so Dynatrace gets them as deltas on the first run); the
// command's own counters, cumulative as any exporter's, are not.
func TestRunIncrements(t *testing.T) {
	ms := jobMetrics(t, `
- name: ok_runs
  help: Successful runs
  counter: {value: '1'}
- name: run_seconds
  help: Duration
  gauge: {value: '{{duration}}'}
`)
	res := Run(Options{
		Name: "backup", Prefix: "p", Config: &config.JobConfig{Metrics: ms},
		Argv: []string{"sh", "-c", `printf '# TYPE files_total counter\nfiles_total 9\n' > "$METRICS_FILE"`},
	})
	if res.MetricsErr != nil {
		t.Fatal(res.MetricsErr)
	}
	got := strings.Join(res.Increments, ",")
	if got != "p_job_runs_total,p_ok_runs" {
		t.Errorf("Increments = %s; want p_job_runs_total,p_ok_runs", got)
	}
}
