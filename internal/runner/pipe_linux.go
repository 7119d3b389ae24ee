package runner

import (
	"os"
	"syscall"
)

// pipe makes the pipe for one of the child's output streams (see
// pipeEnds), close-on-exec from the start.
func pipe() (r int, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return -1, nil, os.NewSyscallError("pipe2", err)
	}
	return pipeEnds(p)
}
