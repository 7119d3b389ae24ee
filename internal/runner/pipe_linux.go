package runner

import (
	"os"
	"syscall"
)

// pipe makes the pipe for one of the child's output streams. Only the read
// end goes into Go's poller (the copier waits on it, and drainPipes sets a
// deadline on it); the write end is the child's and stays blocking, so it
// is never registered, made non-blocking, then made blocking again for
// the fork, as os.Pipe's would be.
func pipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	if err := syscall.SetNonblock(p[0], true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}
