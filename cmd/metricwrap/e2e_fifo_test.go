package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeFIFOConfig puts a FIFO where the config file was (issue 17,
// item 9): SIGHUP and POST /-/reload fail at once with a message naming
// the pipe, the old config keeps serving, and SIGTERM still stops the
// server within a couple of seconds.
func TestServeFIFOConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "metricwrap.yml", "exporters:\n  first:\n    command: [/bin/sh, -c, 'echo first_ok 1 > \"$METRICS_FILE\"']\n", 0o644)
	s := startServe(t, baseEnv(), "--config.file", cfg, "--web.enable-lifecycle")
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, body := request3(t, http.MethodPost, s.url+"/-/reload")
	if took := time.Since(start); code != http.StatusInternalServerError || !strings.Contains(body, "named pipe") || took > 2*time.Second {
		t.Errorf("POST /-/reload with a FIFO config: %d %q after %v, want 500 naming the pipe at once", code, body, took)
	}
	if code, body := get(t, s.url+"/metrics/first"); code != 200 || !strings.Contains(body, "first_ok 1") {
		t.Errorf("the old config stopped serving: %d %s", code, body)
	}
	// Both reloads failed and were counted; the SIGHUP one may still be
	// on its way.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.out.String(), "named pipe") || strings.Count(s.out.String(), "config reload failed") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the reloads' failures were not logged:\n%s", s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// startServe's cleanup reaps the process; here its exit is polled
	// for (signal 0 fails once it is gone).
	pid := s.cmd.Process.Pid
	start = time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("SIGTERM did not stop the server within 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("SIGTERM stopped the server in %v", time.Since(start))
}
