package runner

import (
	"os"
	"syscall"
)

// pipe makes the pipe for one of the child's output streams: the read end
// raw and non-blocking (an outPipe decides whether it ever goes into Go's
// poller), the write end the child's, blocking, and never registered, made
// non-blocking, then made blocking again for the fork, as os.Pipe's would
// be.
func pipe() (r int, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return -1, nil, os.NewSyscallError("pipe2", err)
	}
	if err := syscall.SetNonblock(p[0], true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return -1, nil, os.NewSyscallError("fcntl", err)
	}
	return p[0], os.NewFile(uintptr(p[1]), "|1"), nil
}
