package runner

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// script writes body as an executable /bin/sh script in a fresh temp dir
// and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "exporter.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// spec returns a Spec for path whose private dirs go to a fresh temp dir,
// so tests can check nothing is left behind.
func spec(t *testing.T, path string) Spec {
	t.Helper()
	return Spec{Name: "test", Path: path, TempDir: t.TempDir(), KillGrace: 200 * time.Millisecond}
}

// assertEmptyDir fails when dir holds anything.
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in %s: %s", dir, e.Name())
	}
}

// procStat returns the state letter and parent pid of pid from
// /proc/PID/stat; ok is false when the process no longer exists.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// alive reports whether pid exists and is not a zombie. The kernel may need
// a moment to finish a process killed by SIGKILL: the caller polls.
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// waitGone polls until pid is dead and fails the test if it stays alive.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d survived the run", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// zombieChildren lists this process's children in Z state.
func zombieChildren(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	var zs []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(pid); ok && ppid == me && state == 'Z' {
			zs = append(zs, pid)
		}
	}
	return zs
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// readPids waits for file to hold whitespace-separated pids (written by a
// test exporter once it has forked) and returns them.
func readPids(t *testing.T, file string, want int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pids, ok := tryReadPids(t, file, want); ok {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter never wrote %d pids to %s", want, file)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tryReadPids returns the pids in file when it holds a complete line of
// want pids.
func tryReadPids(t *testing.T, file string, want int) ([]int, bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil || !strings.HasSuffix(string(b), "\n") {
		return nil, false
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid file %s: %v", file, err)
		}
		pids = append(pids, pid)
	}
	return pids, len(pids) == want
}
