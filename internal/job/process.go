package job

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Exit codes of a command that never ran, as POSIX shells, env and
// docker run report them.
const (
	// ExitCannotExecute: the command was found but could not be executed
	// (no permission, not an executable format).
	ExitCannotExecute = 126
	// ExitNotFound: no such command.
	ExitNotFound = 127
)

// ErrNotFound and ErrCannotExecute classify why a command did not start;
// ErrKilled marks a command metricwrap had to kill (grace period over, or
// a second SIGTERM).
var (
	ErrNotFound      = errors.New("command not found")
	ErrCannotExecute = errors.New("command cannot be executed")
	ErrKilled        = errors.New("killed with SIGKILL by metricwrap")
)

// process is what runProcess needs: the command and how it is wired.
type process struct {
	argv           []string
	env            []string
	stdin          io.Reader
	stdout, stderr io.Writer
	signals        <-chan os.Signal
	grace          time.Duration
	log            *slog.Logger
}

// outcome is how the command ended.
type outcome struct {
	exitCode int
	signal   syscall.Signal // the signal that ended it; 0 when it exited
	// err is set when the command did not start (wrapping ErrNotFound or
	// ErrCannotExecute) or when metricwrap had to kill it.
	err      error
	start    time.Time
	duration time.Duration
}

// run starts the command in a process group of its own, with stdio passed
// as given (an *os.File is handed to the child as is, so nothing is copied
// or buffered), and waits for it. Signals arriving on p.signals go to the
// whole group; a second SIGTERM, or p.grace after the first forwarded
// signal, kills the group with SIGKILL. When the command exits, what is
// left of its group is killed too, so no grandchild outlives the job.
func (p *process) run() outcome {
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = p.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.stdin, p.stdout, p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Only copied stdio (not an *os.File) can keep Wait waiting after the
	// group is dead; bound that.
	cmd.WaitDelay = time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		code, err := startError(p.argv[0], err)
		return outcome{exitCode: code, err: err, start: start}
	}
	pid := cmd.Process.Pid

	// exited reports the end of the command: unreaped on Linux (see
	// waitExited), else already reaped by Wait, whose error comes along.
	type end struct {
		unreaped bool
		waitErr  error
	}
	exited := make(chan end, 1)
	go func() {
		if waitExited(pid) {
			exited <- end{unreaped: true}
			return
		}
		exited <- end{waitErr: cmd.Wait()}
	}()

	var (
		grace     <-chan time.Time
		sawTerm   bool
		sentKill  bool
		e         end
		exitKnown bool
	)
	kill := func(why string) {
		if !sentKill {
			p.log.Warn("killing the job's process group", "reason", why)
		}
		sentKill = true
		killGroup(pid, syscall.SIGKILL)
	}
	for !exitKnown {
		select {
		case sig := <-p.signals:
			s, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			if s == syscall.SIGTERM && sawTerm {
				kill("second SIGTERM")
				continue
			}
			sawTerm = sawTerm || s == syscall.SIGTERM
			p.log.Debug("forwarding signal to the job", "signal", s)
			killGroup(pid, s)
			if grace == nil && p.grace > 0 {
				grace = time.After(p.grace)
			}
		case <-grace:
			kill(fmt.Sprintf("still running %s after the signal", p.grace))
		case e = <-exited:
			exitKnown = true
		}
	}
	waitErr := e.waitErr
	if e.unreaped {
		// The pid is not reaped yet, so the group id cannot have been
		// reused: whatever is left in it belongs to this job.
		killGroup(pid, syscall.SIGKILL)
		waitErr = cmd.Wait()
	}
	o := outcome{start: start, duration: time.Since(start)}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled():
		o.signal = ws.Signal()
		o.exitCode = 128 + int(o.signal)
		if sentKill && o.signal == syscall.SIGKILL {
			o.err = ErrKilled
		}
	default:
		o.exitCode = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		// Copying stdio failed (WaitDelay expired); the exit status stands.
		p.log.Warn("job's standard streams were not fully copied", "err", waitErr)
	}
	return o
}

// startError maps a failed start to a shell's exit code and a message that
// says what to check.
func startError(name string, err error) (int, error) {
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist), errors.Is(err, exec.ErrDot):
		return ExitNotFound, fmt.Errorf("%s: %w (check the name and PATH)", name, ErrNotFound)
	default:
		return ExitCannotExecute, fmt.Errorf("%s: %w (check its permissions and format): %w", name, ErrCannotExecute, err)
	}
}
