//go:build !linux

package runner

import (
	"os"
	"syscall"
)

// pipe makes the pipe for one of the child's output streams (see
// pipeEnds). Without pipe2 the close-on-exec flags are set under ForkLock,
// so no fork in between inherits the pipe.
func pipe() (r int, w *os.File, err error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err = syscall.Pipe(p[:])
	if err == nil {
		syscall.CloseOnExec(p[0])
		syscall.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, os.NewSyscallError("pipe", err)
	}
	return pipeEnds(p)
}
