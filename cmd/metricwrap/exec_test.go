package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// execRun is one metricwrap invocation and what it left.
type execRun struct {
	code           int
	stdout, stderr string
}

// startMetricwrap starts the binary with args and env (added to a minimal
// environment whose spool lives in a temporary directory).
func startMetricwrap(t *testing.T, env []string, stdin io.Reader, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"XDG_STATE_HOME=" + t.TempDir(),
	}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

func waitMetricwrap(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) execRun {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return execRun{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func runMetricwrap(t *testing.T, env []string, args ...string) execRun {
	t.Helper()
	cmd, stdout, stderr := startMetricwrap(t, env, nil, args...)
	return waitMetricwrap(t, cmd, stdout, stderr)
}

func startPushgateway(t *testing.T) *testenv.Process {
	t.Helper()
	// Debian's package persists to /var/lib by default: keep tests apart.
	return testenv.StartPushgateway(t)
}

// series returns the Pushgateway's exposition lines of job, without the
// job and instance labels the gateway adds, as "name{labels} value".
func series(t *testing.T, pg *testenv.Process, job string) map[string]string {
	t.Helper()
	resp, err := http.Get(pg.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	strip := regexp.MustCompile(`(,?instance=""|,?job="` + regexp.QuoteMeta(job) + `")`)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "#") || !strings.Contains(line, `job="`+job+`"`) || strings.HasPrefix(line, "push_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		name := strip.ReplaceAllString(line[:i], "")
		name = strings.Replace(strings.Replace(name, "{,", "{", 1), "{}", "", 1)
		out[name] = line[i+1:]
	}
	return out
}

func TestExecSuccessThenFailureKeepsLastSuccess(t *testing.T) {
	pg := startPushgateway(t)
	env := []string{"PUSHGATEWAY_URL=" + pg.URL}
	args := func(cmd ...string) []string {
		return append([]string{"exec", "--job", "backup", "--push", "pushgateway", "--"}, cmd...)
	}
	if r := runMetricwrap(t, env, args("true")...); r.code != 0 {
		t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
	}
	first := series(t, pg, "backup")
	success := first["job_last_success_timestamp_seconds"]
	if success == "" || first["job_exit_code"] != "0" || first[`job_runs_total{status="Succeeded"}`] != "1" {
		t.Fatalf("after a success: %v", first)
	}
	if r := runMetricwrap(t, env, args("sh", "-c", "exit 3")...); r.code != 3 {
		t.Fatalf("second run: exit %d, want 3: %s", r.code, r.stderr)
	}
	second := series(t, pg, "backup")
	for k, want := range map[string]string{
		"job_last_success_timestamp_seconds": success,
		"job_exit_code":                      "3",
		`job_runs_total{status="Succeeded"}`: "1",
		`job_runs_total{status="Failed"}`:    "1",
	} {
		if second[k] != want {
			t.Errorf("after a failure %s = %q, want %q (all: %v)", k, second[k], want, second)
		}
	}
	lastRun, _ := strconv.ParseFloat(second["job_last_run_timestamp_seconds"], 64)
	firstSuccess, _ := strconv.ParseFloat(success, 64)
	if lastRun <= firstSuccess {
		t.Errorf("job_last_run_timestamp_seconds %v is not after the first success %v", lastRun, firstSuccess)
	}
	if r := runMetricwrap(t, env, args("true")...); r.code != 0 {
		t.Fatalf("third run: exit %d", r.code)
	}
	if got := series(t, pg, "backup")[`job_runs_total{status="Succeeded"}`]; got != "2" {
		t.Errorf(`job_runs_total{status="Succeeded"} = %q after a second success, want 2`, got)
	}
}

func TestExecCustomMetricsAndConfigSinks(t *testing.T) {
	pg := startPushgateway(t)
	cfg := filepath.Join(t.TempDir(), "metricwrap.yml")
	err := os.WriteFile(cfg, []byte(`
sinks:
  gateway: {type: pushgateway, url: `+pg.URL+`}
jobs:
  backup:
    sinks: [gateway]
    labels: {team: '{{env.TEAM}}'}
    metrics:
      - name: backup_status_counter
        help: Count of backup runs by status
        labels: [{key: status, value: '{{status}}'}]
        counter: {value: '1'}
      - name: backup_duration_seconds_histogram
        help: Duration of successful backups
        when: '{{status}} == Succeeded'
        histogram: {value: '{{duration}}', buckets: [5, 10, 30]}
      - name: backup_failed_exit_code
        help: Exit code of failed backups
        when: '{{status}} == Failed || {{status}} == Error'
        gauge: {value: '{{exitCode}}'}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd       string
		code      int
		want, not []string
	}{
		{"true", 0,
			[]string{`backup_status_counter{status="Succeeded",team="ops"}`, `backup_duration_seconds_histogram_count{team="ops"}`},
			[]string{`backup_failed_exit_code{team="ops"}`}},
		{"false", 1,
			[]string{`backup_status_counter{status="Failed",team="ops"}`, `backup_failed_exit_code{team="ops"}`},
			nil},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			r := runMetricwrap(t, []string{"TEAM=ops"}, "--config.file", cfg, "exec", "--job", "backup", "--", tc.cmd)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tc.code, r.stderr)
			}
			got := series(t, pg, "backup")
			for _, w := range tc.want {
				if got[w] == "" {
					t.Errorf("missing %s in %v", w, got)
				}
			}
			for _, n := range tc.not {
				if got[n] != "" {
					t.Errorf("%s present though its when is false: %v", n, got)
				}
			}
		})
	}
	// The histogram of the one success survives the failure's POST, and the
	// status counter kept both statuses.
	got := series(t, pg, "backup")
	if got[`backup_duration_seconds_histogram_count{team="ops"}`] != "1" ||
		got[`backup_status_counter{status="Succeeded",team="ops"}`] != "1" {
		t.Errorf("after both runs: %v", got)
	}
}

func TestExecKeptnLabelsAndPrefix(t *testing.T) {
	pg := startPushgateway(t)
	env := []string{
		"PUSHGATEWAY_URL=" + pg.URL, "KEPTN_PROJECT=shop", "KEPTN_STAGE=dev", "KEPTN_SERVICE=cart",
		"LABELS_GIT_COMMIT=abc123",
	}
	r := runMetricwrap(t, env, "exec", "--job", "infracost", "--prefix", "keptn_infracost", "--push", "pushgateway", "--",
		"sh", "-c", `printf '# TYPE monthly_cost gauge\nmonthly_cost 42\n' > "$METRICS_FILE"`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := series(t, pg, "infracost")
	const labels = `{ci_platform="keptn",git_commit="abc123",keptn_project="shop",keptn_service="cart",keptn_stage="dev"}`
	for _, k := range []string{"keptn_infracost_monthly_cost" + labels, "keptn_infracost_job_exit_code" + labels} {
		if got[k] == "" {
			t.Errorf("missing %s in %v", k, got)
		}
	}
	if got["keptn_infracost_monthly_cost"+labels] != "42" {
		t.Errorf("monthly_cost = %q, want 42", got["keptn_infracost_monthly_cost"+labels])
	}
}

func TestExecSIGTERMIsForwarded(t *testing.T) {
	pg := startPushgateway(t)
	dir := t.TempDir()
	ready, marker := filepath.Join(dir, "ready"), filepath.Join(dir, "marker")
	cmd, stdout, stderr := startMetricwrap(t, []string{"PUSHGATEWAY_URL=" + pg.URL}, nil,
		"exec", "--job", "long", "--push", "pushgateway", "--",
		"sh", "-c", `trap 'touch "$2"; exit 143' TERM; touch "$1"; while :; do sleep 0.05; done`, "sh", ready, marker)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the job did not start: %s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := waitMetricwrap(t, cmd, stdout, stderr)
	if r.code != 143 {
		t.Errorf("exit %d, want 143: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the job did not receive SIGTERM: %v", err)
	}
	got := series(t, pg, "long")
	if got[`job_runs_total{status="Failed"}`] != "1" || got["job_exit_code"] != "143" {
		t.Errorf("delivered %v, want status Failed and exit code 143", got)
	}
}

func TestExecStdioIsByteExact(t *testing.T) {
	in := make([]byte, 1<<20)
	if _, err := rand.Read(in); err != nil {
		t.Fatal(err)
	}
	cmd, stdout, stderr := startMetricwrap(t, nil, bytes.NewReader(in), "exec", "--", "sh", "-c", "cat; cat /dev/null >&2; printf 'err\\000\\377' >&2")
	r := waitMetricwrap(t, cmd, stdout, stderr)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !bytes.Equal([]byte(r.stdout), in) {
		t.Errorf("stdout differs from stdin: %d bytes out, %d in", len(r.stdout), len(in))
	}
	if r.stderr != "err\x00\xff" {
		t.Errorf("stderr = %q, want the job's bytes only", r.stderr)
	}
}

func TestExecExitCodes(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cmd    []string
		code   int
		stderr string
	}{
		{"success", []string{"true"}, 0, ""},
		{"the job's code", []string{"sh", "-c", "exit 42"}, 42, ""},
		{"killed by a signal", []string{"sh", "-c", "kill -KILL $$"}, 137, ""},
		{"not found", []string{"no-such-job-command"}, 127, "no-such-job-command: command not found"},
		{"not executable", []string{notExec}, 126, "cannot be executed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runMetricwrap(t, nil, append([]string{"exec", "--"}, tc.cmd...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
			if tc.stderr == "" && r.stderr != "" {
				t.Errorf("metricwrap wrote %q on the job's stderr", r.stderr)
			}
		})
	}
}

func TestExecSetupFailureBeforeTheJobStarts(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("jobs:\n  j:\n    metrics:\n      - name: x\n        help: x\n        when: '{{nope}} == 1'\n        gauge: {value: '1'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		msg  string
	}{
		{"bad config", []string{"--config.file", bad, "exec", "--job", "j"}, nil, "nope"},
		{"missing config", []string{"--config.file", filepath.Join(dir, "missing.yml"), "exec"}, nil, "missing.yml"},
		{"unknown sink", []string{"exec", "--push", "nosuch"}, nil, "nosuch"},
		{"sink without settings", []string{"exec", "--push", "pushgateway"}, nil, "PUSHGATEWAY_URL"},
		{"bad prefix", []string{"exec", "--prefix", "1x"}, nil, "prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			r := runMetricwrap(t, tc.env, append(tc.args, "--", "touch", marker)...)
			if r.code != exitExecSetup || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", r.code, r.stderr, exitExecSetup, tc.msg)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the job ran although metricwrap failed to set up")
			}
		})
	}
}

func TestExecInvalidMetricsFileStillDeliversJobMetrics(t *testing.T) {
	pg := startPushgateway(t)
	r := runMetricwrap(t, []string{"PUSHGATEWAY_URL=" + pg.URL}, "exec", "--job", "broken", "--push", "pushgateway", "--",
		"sh", "-c", `printf 'cost{ 1\n' > "$METRICS_FILE"`)
	if r.code != 0 {
		t.Errorf("exit %d, want the job's 0", r.code)
	}
	if !strings.Contains(r.stderr, "METRICS_FILE: line 1") {
		t.Errorf("stderr %q does not report the invalid file", r.stderr)
	}
	if got := series(t, pg, "broken"); got[`job_runs_total{status="Succeeded"}`] != "1" {
		t.Errorf("job metrics not delivered: %v", got)
	}
}

func TestExecUndeliverableIsSpooledAndKeepsExitCode(t *testing.T) {
	spool := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "metricwrap.yml")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) // nobody listens
	if err := os.WriteFile(cfg, []byte("spool: {dir: "+spool+"}\nsinks:\n  gw: {type: pushgateway, url: http://"+addr+", retry_for: 1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runMetricwrap(t, nil, "--config.file", cfg, "exec", "--job", "offline", "--push", "gw", "--", "sh", "-c", "exit 5")
	if r.code != 5 {
		t.Errorf("exit %d, want the job's 5: %s", r.code, r.stderr)
	}
	var spooled []string
	_ = filepath.Walk(spool, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && !strings.Contains(p, ".state") {
			spooled = append(spooled, p)
		}
		return nil
	})
	if len(spooled) == 0 {
		t.Errorf("nothing spooled in %s; stderr: %s", spool, r.stderr)
	}
}
