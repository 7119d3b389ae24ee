package job

import (
	"syscall"
	"unsafe"
)

// pPID is idtype P_PID of waitid(2).
const pPID = 1

// waitExited blocks until process pid has exited without reaping it
// (waitid with WNOWAIT), so its process group id stays reserved while the
// rest of the group is killed. It reports whether it could.
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

// killGroup sends sig to every process of the group led by pid; ESRCH
// (nobody left) is the normal case.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}
