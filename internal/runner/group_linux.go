package runner

import (
	"os"
	"syscall"
	"unsafe"
)

// Constants of waitid(2) and pidfd_open(2) that package syscall lacks.
const (
	pPID         = 1
	pPIDFD       = 3
	sysPidfdOpen = 434 // the same number on every Linux architecture
	// siPIDOffset is where siginfo_t holds si_pid on 64-bit systems.
	siPIDOffset = 16
)

// waitExited blocks until process pid has exited, without reaping it
// (waitid with WNOWAIT), so its pid, and so its process group id, stays
// reserved while Run kills what is left of the group. It reports whether it
// could; when not, Run reaps first and kills the group afterwards.
func waitExited(pid int) bool {
	if exited, ok := pollExited(pid); ok {
		return exited
	}
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

// pollExited is waitExited through a pidfd in Go's network poller: the
// goroutine parks until the child exits instead of holding a thread in a
// blocking waitid, which under load costs a thread hand-off (and the
// runtime's monitor waking every 20 µs to do it) per run. ok is false
// where pidfds are not supported (Linux before 5.10); the caller then
// blocks.
func pollExited(pid int) (exited, ok bool) {
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), syscall.O_NONBLOCK, 0)
	if errno != 0 {
		return false, false
	}
	f := os.NewFile(fd, "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false, false
	}
	var werr syscall.Errno
	err = rc.Read(func(fd uintptr) bool {
		var info [128]byte // siginfo_t
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPIDFD, fd,
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT|syscall.WNOHANG, 0, 0)
		switch {
		case errno == syscall.EINTR:
			return false
		case errno != 0:
			werr = errno
			return true
		}
		// With WNOHANG, si_pid stays 0 while the child runs.
		if *(*int32)(unsafe.Pointer(&info[siPIDOffset])) == 0 {
			return false
		}
		exited = true
		return true
	})
	if err != nil || werr != 0 {
		return false, false
	}
	return exited, true
}

// killGroup sends sig to every process of the group led by pid. ESRCH (the
// group is already empty) is the normal case after a clean exit.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}
