package runner

import (
	"syscall"
	"unsafe"
)

// pPID is idtype P_PID of waitid(2).
const pPID = 1

// waitExited blocks until process pid has exited, without reaping it
// (waitid with WNOWAIT), so its pid, and so its process group id, stays
// reserved while Run kills what is left of the group. It reports whether it
// could; when not, Run reaps first and kills the group afterwards.
func waitExited(pid int) bool {
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return true
		case syscall.EINTR:
			continue
		default:
			return false
		}
	}
}

// killGroup sends sig to every process of the group led by pid. ESRCH (the
// group is already empty) is the normal case after a clean exit.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}
