//go:build unix && !linux

package runner

import "syscall"

// waitExited cannot wait without reaping outside Linux; Run then reaps
// first and kills the remaining group afterwards.
func waitExited(int) bool { return false }

// killGroup sends sig to every process of the group led by pid.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}
