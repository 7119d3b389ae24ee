package runner

import (
	"os/exec"
	"sync"
)

// The runner reaps its own children through os/exec's Wait. When it also
// reaps orphans (Supervise: as PID 1, or as a child subreaper), the orphan
// reaper must never take the exit status of one of those children, or that
// child's Wait would fail. So every child the runner starts is registered
// here between its fork and its reaping, and the reaper only waits for a
// zombie child whose pid is not registered, while holding startMu for
// writing: no start is then half done, so an unregistered child of ours is
// certainly an orphan that was re-parented to us.
var children = struct {
	startMu sync.RWMutex // read: a start in progress; write: the reaper at work
	mu      sync.Mutex
	pids    map[int]int // pid -> registrations (a reused pid may overlap its predecessor's last moments)
}{pids: map[int]int{}}

// startChild starts cmd and registers its pid; the caller calls
// reapedChild(pid) once cmd.Wait has returned.
func startChild(cmd *exec.Cmd) error {
	children.startMu.RLock()
	defer children.startMu.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	children.mu.Lock()
	children.pids[cmd.Process.Pid]++
	children.mu.Unlock()
	return nil
}

// reapedChild forgets a child started by startChild, after its Wait.
func reapedChild(pid int) {
	children.mu.Lock()
	defer children.mu.Unlock()
	if children.pids[pid]--; children.pids[pid] <= 0 {
		delete(children.pids, pid)
	}
}

// isRegistered reports whether pid is a child the runner reaps itself.
func isRegistered(pid int) bool {
	children.mu.Lock()
	defer children.mu.Unlock()
	return children.pids[pid] > 0
}
