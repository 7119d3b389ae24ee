//go:build unix && !linux

package job

import "syscall"

// waitExited cannot wait without reaping outside Linux: it reports false at
// once, and the caller reaps with Wait and leaves the group's leftovers be.
func waitExited(int) bool { return false }

// killGroup sends sig to every process of the group led by pid.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}
