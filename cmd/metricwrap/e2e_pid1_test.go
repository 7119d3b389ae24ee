package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// leakyExporter leaves background children behind when it exits, as the
// exporter of issue 17 did: plain ones (killed with the group, then
// orphans of PID 1), an orphan of an orphan, and one that calls setsid()
// and so leaves the group.
const leakyExporter = `#!/bin/sh
sh -c 'sleep 3600' leaky-child &
sh -c 'sh -c "sleep 3600" leaky-grandchild & exit 0' leaky-child &
setsid sh -c 'sleep 3600' leaky-setsid &
(exit 0) &
echo 'leaky 1' > "$METRICS_FILE"
`

// TestPID1ReapsAndKillsEverything runs the built binary as PID 1 of a PID
// namespace, as a container's ENTRYPOINT does, serves the leaky exporter
// 100 times, and then counts what is left in the namespace besides
// metricwrap itself: no zombie, no surviving child or grandchild.
func TestPID1ReapsAndKillsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 100 exporters in a PID namespace")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "PID namespaces need root here")
	}
	if out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("unshare --pid --fork --mount-proc does not work here: %v %s", err, out))
	}
	exporters := t.TempDir()
	writeFile(t, exporters, "leaky.sh", leakyExporter, 0o755)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
		binary(t), "serve", "--web.listen-address="+addr, "--exporters.dir", exporters)
	cmd.Env = baseEnv()
	cmd.Dir = t.TempDir()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("metricwrap output:\n%s", out.String())
		}
	}()
	url := "http://" + addr
	testenv.WaitHTTP(t, url+"/-/healthy", 30*time.Second)
	mw := childPIDs(cmd.Process.Pid)
	if len(mw) != 1 {
		t.Fatalf("unshare has children %v, want metricwrap alone", mw)
	}
	const runs = 100
	for i := range runs {
		if code, body := get(t, url+"/metrics/leaky"); code != 200 || !strings.Contains(body, "leaky 1") {
			t.Fatalf("run %d: %d %s", i, code, body)
		}
	}
	// The last run's orphans die on its next SIGCHLD; poll for that.
	var zombies, alive []int
	deadline := time.Now().Add(20 * time.Second)
	for {
		zombies, alive = descendants(mw[0])
		if len(zombies)+len(alive) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("after %d runs as PID 1: %d zombies, %d live processes left", runs, len(zombies), len(alive))
	if len(zombies) > 0 || len(alive) > 0 {
		t.Errorf("zombies %v and live processes %v left in the namespace: %s", zombies, alive, cmdlines(append(zombies, alive...)))
	}
	// SIGTERM still stops PID 1 cleanly.
	if err := syscall.Kill(mw[0], syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("metricwrap as PID 1 did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("metricwrap as PID 1 did not stop within 15s of SIGTERM")
	}
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// childPIDs lists pid's children, from every thread's children file.
func childPIDs(pid int) []int {
	var out []int
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range bytes.Fields(b) {
			if n, err := strconv.Atoi(string(w)); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// descendants splits every descendant of pid into zombies and the rest.
func descendants(pid int) (zombies, alive []int) {
	queue := childPIDs(pid)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i >= 0 && bytes.HasPrefix(bytes.TrimSpace(b[i+1:]), []byte("Z")) {
			zombies = append(zombies, p)
		} else {
			alive = append(alive, p)
		}
		queue = append(queue, childPIDs(p)...)
	}
	return zombies, alive
}

func cmdlines(pids []int) string {
	var b strings.Builder
	for _, p := range pids {
		c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		fmt.Fprintf(&b, "\n  %d: %s", p, bytes.ReplaceAll(c, []byte{0}, []byte{' '}))
	}
	return b.String()
}
