package runner

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// ServiceSpec describes a long-lived child that metricwrap talks to rather
// than runs once (a warm Python worker): no private directory, no metrics
// file, no timeout; the caller decides when it ends.
type ServiceSpec struct {
	// Path is the program, an absolute path.
	Path string
	// Args follow the program name.
	Args []string
	// Env is the whole environment; see BaseEnv.
	Env []string
	// Dir is the working directory; "" inherits metricwrap's.
	Dir string
	// ExtraFiles become fds 3, 4, ... in the child; the caller closes its
	// copies once Start returns.
	ExtraFiles []*os.File
	// Stdout and Stderr receive what the child prints; nil discards it.
	Stdout, Stderr io.Writer
}

// Service is a long-lived child in a process group of its own whose id is
// its pid. Its methods are safe for concurrent use.
type Service struct {
	cmd    *exec.Cmd
	exited chan struct{}

	mu     sync.Mutex
	reaped bool
	err    error
}

// StartService starts s. The child's group is killed with it: Stop, or a
// child that exits on its own, leaves no process of the group behind once
// Exited is closed.
func StartService(s ServiceSpec) (*Service, error) {
	cmd := &exec.Cmd{
		Path:        s.Path,
		Args:        append([]string{s.Path}, s.Args...),
		Env:         s.Env,
		Dir:         s.Dir,
		ExtraFiles:  s.ExtraFiles,
		Stdout:      s.Stdout,
		Stderr:      s.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
		WaitDelay:   time.Second,
	}
	if err := startChild(cmd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	sv := &Service{cmd: cmd, exited: make(chan struct{})}
	go sv.wait()
	return sv, nil
}

// wait reaps the child, after killing what is left of its group while the
// unreaped leader still reserves the group id.
func (sv *Service) wait() {
	pid := sv.cmd.Process.Pid
	if waitExited(pid) {
		killGroup(pid, syscall.SIGKILL)
	}
	err := sv.cmd.Wait()
	reapedChild(pid)
	sv.mu.Lock()
	sv.reaped, sv.err = true, err
	sv.mu.Unlock()
	killGroup(pid, syscall.SIGKILL)
	close(sv.exited)
}

// Pid is the child's pid, which is also its process group id.
func (sv *Service) Pid() int { return sv.cmd.Process.Pid }

// Exited is closed once the child has been reaped and its group killed.
func (sv *Service) Exited() <-chan struct{} { return sv.exited }

// Signal sends sig to the child's group unless the child has been reaped.
func (sv *Service) Signal(sig syscall.Signal) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if !sv.reaped {
		killGroup(sv.cmd.Process.Pid, sig)
	}
}

// Stop waits up to grace for the child to exit (the caller has asked it to,
// say by closing its socket), then kills its group, and waits until it is
// reaped.
func (sv *Service) Stop(grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-sv.exited:
		return
	case <-t.C:
	}
	sv.Signal(syscall.SIGKILL)
	<-sv.exited
}
