package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// dtLines is what the Dynatrace fake accepted, one line a string.
func dtLines(dt *dtfake.Server) string { return strings.Join(dt.Lines(), "\n") }

// TestExecUnwritableDirsStillRunsAndDelivers: HOME, TMPDIR, the default
// spool (XDG_STATE_HOME) and its counter state all lie under a regular
// file, so nothing can be created there; only the working directory is
// writable. exec still runs the command with a METRICS_FILE, and delivers
// to Dynatrace, without a spool: a warning, never exit 125.
func TestExecUnwritableDirsStillRunsAndDelivers(t *testing.T) {
	t.Parallel()
	dt := dtfake.New("dt-token")
	srv := httptest.NewServer(dt)
	defer srv.Close()
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cmd := exec.Command(binary(t), "exec", "--job", "backup", "--push", "dynatrace", "--",
		"sh", "-c", `printf '# TYPE backup_files gauge\nbackup_files 3\n' > "$METRICS_FILE"`)
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(blocker, "home"),
		"TMPDIR=" + filepath.Join(blocker, "tmp"),
		"XDG_STATE_HOME=" + filepath.Join(blocker, "state"),
		"DT_TENANT=" + srv.URL, "DT_API_TOKEN=dt-token",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d, want the job's 0; stderr:\n%s", code, stderr.String())
	}
	lines := dtLines(dt)
	for _, want := range []string{"backup_files,job=backup gauge,3", "job_exit_code,job=backup gauge,0", "job_duration_seconds,job=backup gauge,"} {
		if !strings.Contains(lines, want) {
			t.Errorf("Dynatrace got no %q; lines:\n%s\nstderr:\n%s", want, lines, stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "without one") {
		t.Errorf("stderr does not warn that there is no spool:\n%s", stderr.String())
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("the working directory keeps %v after the job", left)
	}
}

// keptnTask is the part of a Keptn job-executor job/config.yaml the test
// runs.
type keptnTask struct {
	Env []struct {
		Name      string `yaml:"name"`
		ValueFrom string `yaml:"valueFrom"`
		Value     string `yaml:"value"`
	} `yaml:"env"`
	Files           []string       `yaml:"files"`
	Cmd             []string       `yaml:"cmd"`
	Args            []string       `yaml:"args"`
	WorkingDir      string         `yaml:"workingDir"`
	SecurityContext map[string]any `yaml:"securityContext"`
}

// TestKeptnExampleUnderReadOnlyRoot runs the shipped Keptn task
// (deploy/keptn) the way the job-executor does with its chart's defaults:
// a read-only root file system (in a mount namespace of its own) and only
// /keptn writable (a tmpfs standing for the emptyDir), with the task's
// env, files, working directory and arguments. The tool runs and its
// metrics reach a real Pushgateway and the Dynatrace fake.
func TestKeptnExampleUnderReadOnlyRoot(t *testing.T) {
	t.Parallel()
	if err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", "mount -o remount,bind,ro /").Run(); err != nil {
		t.Skipf("cannot make a read-only root in a mount namespace here (unshare -m needs root): %v", err)
	}
	root := testenv.RepoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "keptn", "job", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Actions []struct {
			Tasks []keptnTask `yaml:"tasks"`
		} `yaml:"actions"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	task := doc.Actions[0].Tasks[0]
	if task.SecurityContext["readOnlyRootFilesystem"] != true {
		t.Errorf("the Keptn task does not state readOnlyRootFilesystem: true: %v", task.SecurityContext)
	}

	pg := startPushgateway(t)
	dt := dtfake.New("dt-token")
	srv := httptest.NewServer(dt)
	defer srv.Close()
	keptn := t.TempDir() // the mount point of the tmpfs standing for /keptn
	at := func(s string) string { return strings.ReplaceAll(s, "/keptn", keptn) }

	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent",
		"KEPTN_PROJECT=shop", "KEPTN_STAGE=dev", "KEPTN_SERVICE=carts", "LABELS_OWNER=jane",
		"DT_TENANT=" + srv.URL, "DT_API_TOKEN=dt-token"}
	for _, e := range task.Env {
		switch {
		case e.ValueFrom == "string" && e.Name == "PUSHGATEWAY_URL":
			env = append(env, "PUSHGATEWAY_URL="+pg.URL)
		case e.ValueFrom == "string":
			env = append(env, e.Name+"="+at(e.Value))
		}
	}
	// The job-executor's init container copies the files into /keptn.
	var setup []string
	for _, f := range task.Files {
		src := filepath.Join(root, "deploy", "keptn", strings.TrimPrefix(f, "/"))
		dst := filepath.Join(keptn, strings.TrimPrefix(f, "/"))
		setup = append(setup, fmt.Sprintf("mkdir -p %q && cp %q %q", filepath.Dir(dst), src, dst))
	}
	argv := []string{binary(t)} // task.Cmd[0] is where the image has it
	for _, a := range task.Args {
		argv = append(argv, at(a))
	}
	script := "mount -o remount,bind,ro / && mount -t tmpfs tmpfs \"$1\" && " + strings.Join(setup, " && ") +
		" && cd " + at(task.WorkingDir) + " && shift && exec \"$@\""
	cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", keptn}, argv...)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d, want the tool's 0; stderr:\n%s", code, stderr.String())
	}
	got := series(t, pg, "infracost")
	for _, k := range []string{
		`keptn_infracost_monthly_cost_dollars{ci_platform="keptn",keptn_project="shop",keptn_service="carts",keptn_stage="dev",owner="jane"}`,
		`keptn_infracost_job_runs_total{ci_platform="keptn",keptn_project="shop",keptn_service="carts",keptn_stage="dev",owner="jane",status="Succeeded"}`,
	} {
		if got[k] == "" {
			t.Errorf("Pushgateway lacks %s; has %v\nstderr:\n%s", k, got, stderr.String())
		}
	}
	lines := dtLines(dt)
	if !strings.Contains(lines, "keptn_infracost_monthly_cost_dollars,") || !strings.Contains(lines, "gauge,42") {
		t.Errorf("Dynatrace lacks the tool's gauge; lines:\n%s\nstderr:\n%s", lines, stderr.String())
	}
	// A first run in a fresh pod, and no state: exec's own counters are
	// deltas at once.
	for _, key := range []string{"keptn_infracost_job_runs_total,", "keptn_infracost_runs_by_result,"} {
		if !slices.ContainsFunc(dt.Lines(), func(l string) bool {
			return strings.HasPrefix(l, key) && strings.Contains(l, " count,delta=1")
		}) {
			t.Errorf("Dynatrace lacks %s... count,delta=1; lines:\n%s", key, lines)
		}
	}
}

// TestExecCountersReachDynatraceOnFirstRun: the counters exec makes
// (job_runs_total, a counter: metric of the config) are one run's
// increments, so Dynatrace gets count,delta=1 from the very first run,
// with no counter state, while the Pushgateway keeps running totals. A
// counter the command writes is cumulative and keeps the first-sighting
// rule.
func TestExecCountersReachDynatraceOnFirstRun(t *testing.T) {
	t.Parallel()
	pg := startPushgateway(t)
	dt := dtfake.New("dt-token")
	srv := httptest.NewServer(dt)
	defer srv.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "metricwrap.yml", `
jobs:
  nightly:
    metrics:
      - {name: nightly_ok, help: Successful runs, counter: {value: '1'}}
`, 0o644)
	env := []string{"PUSHGATEWAY_URL=" + pg.URL, "DT_TENANT=" + srv.URL, "DT_API_TOKEN=dt-token"}
	for run := 1; run <= 2; run++ {
		// A fresh state dir per run, as a fresh pod has.
		r := runMetricwrap(t, append(env, "XDG_STATE_HOME="+t.TempDir()), "--config.file", cfg, "exec", "--job", "nightly",
			"--push", "pushgateway", "--push", "dynatrace", "--",
			"sh", "-c", `printf '# TYPE files_total counter\nfiles_total 10\n' > "$METRICS_FILE"`)
		if r.code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, r.code, r.stderr)
		}
		lines := dt.Lines()
		count := func(prefix string) int {
			n := 0
			for _, l := range lines {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, " count,delta=1") {
					n++
				}
			}
			return n
		}
		if n := count("job_runs_total,"); n != run {
			t.Errorf("after run %d Dynatrace got job_runs_total count,delta=1 %d times, want %d:\n%s", run, n, run, strings.Join(lines, "\n"))
		}
		if n := count("nightly_ok"); n != run {
			t.Errorf("after run %d Dynatrace got nightly_ok count,delta=1 %d times, want %d:\n%s", run, n, run, strings.Join(lines, "\n"))
		}
		if strings.Contains(strings.Join(lines, "\n"), "files_total") {
			t.Errorf("the command's cumulative counter was sent without a previous value:\n%s", strings.Join(lines, "\n"))
		}
		if got := series(t, pg, "nightly")[`job_runs_total{status="Succeeded"}`]; got != strconv.Itoa(run) {
			t.Errorf("after run %d the Pushgateway holds job_runs_total %q, want the running total %d", run, got, run)
		}
	}
}

// TestExecFIFOAtMetricsFile: a job that leaves a named pipe at
// $METRICS_FILE (which a plain open would wait on forever) ends at once,
// with the job's exit code and a message naming the pipe.
func TestExecFIFOAtMetricsFile(t *testing.T) {
	t.Parallel()
	cmd, stdout, stderr := startMetricwrap(t, nil, nil, "exec", "--job", "piped", "--", "sh", "-c", `mkfifo "$METRICS_FILE"; exit 3`)
	done := make(chan execRun, 1)
	go func() { done <- waitMetricwrap(t, cmd, stdout, stderr) }()
	select {
	case r := <-done:
		if r.code != 3 || !strings.Contains(r.stderr, "METRICS_FILE") || !strings.Contains(r.stderr, "named pipe") {
			t.Errorf("exit %d, stderr %q; want the job's 3 and a message naming the pipe", r.code, r.stderr)
		}
	case <-time.After(30 * time.Second): // a watchdog: today's exec never returns
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("exec still waiting on the FIFO 30s after the job ended")
	}
}
