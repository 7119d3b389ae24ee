package runner

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

// Passthrough runs a batch job for `metricwrap exec`: unlike Run, which
// captures an exporter's output, it hands the job metricwrap's own stdio
// and forwards signals to the job's process group.

// Exit codes of a command that never ran, as POSIX shells, env and
// docker run report them.
const (
	// ExitCannotExecute: the command was found but could not be executed
	// (no permission, not an executable format).
	ExitCannotExecute = 126
	// ExitNotFound: no such command.
	ExitNotFound = 127
)

// ErrCommandNotFound and ErrCannotExecute classify why a passthrough
// command did not start; ErrKilled marks one metricwrap had to kill (grace
// period over, or a second SIGTERM).
var (
	ErrCommandNotFound = errors.New("command not found")
	ErrCannotExecute   = errors.New("command cannot be executed")
	ErrKilled          = errors.New("killed with SIGKILL by metricwrap")
)

// Passthrough is a batch job and how it is wired.
type Passthrough struct {
	Argv           []string
	Env            []string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Signals received here are forwarded to the job's process group.
	Signals <-chan os.Signal
	// Grace is how long the job may run after the first forwarded signal
	// before its group is killed; 0 means no limit.
	Grace  time.Duration
	Logger *slog.Logger
}

// PassthroughResult is how the job ended.
type PassthroughResult struct {
	ExitCode int
	Signal   syscall.Signal // the signal that ended it; 0 when it exited
	// Err is set when the command did not start (wrapping
	// ErrCommandNotFound or ErrCannotExecute) or when metricwrap had to
	// kill it (ErrKilled).
	Err      error
	Start    time.Time
	Duration time.Duration
}

// Run starts the command in a process group of its own, with stdio passed
// as given (an *os.File is handed to the child as is, so nothing is copied
// or buffered), and waits for it. Signals arriving on p.Signals go to the
// whole group; a second SIGTERM, or p.Grace after the first forwarded
// signal, kills the group with SIGKILL. When the command exits, what is
// left of its group is killed too, so no grandchild outlives the job.
func (p *Passthrough) Run() PassthroughResult {
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Env = p.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.Stdin, p.Stdout, p.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Only copied stdio (not an *os.File) can keep Wait waiting after the
	// group is dead; bound that.
	cmd.WaitDelay = time.Second
	start := time.Now()
	run := beginRun(envValue(p.Env, "METRICS_FILE"))
	if err := startChild(cmd); err != nil {
		endRun(run)
		code, err := passthroughStartError(p.Argv[0], err)
		return PassthroughResult{ExitCode: code, Err: err, Start: start}
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
		err := cmd.Wait()
		reapedChild(pid)
		exited <- end{waitErr: err}
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
			p.Logger.Warn("killing the job's process group", "reason", why)
		}
		sentKill = true
		killGroup(pid, syscall.SIGKILL)
	}
	for !exitKnown {
		select {
		case sig := <-p.Signals:
			s, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			if s == syscall.SIGTERM && sawTerm {
				kill("second SIGTERM")
				continue
			}
			sawTerm = sawTerm || s == syscall.SIGTERM
			p.Logger.Debug("forwarding signal to the job", "signal", s)
			killGroup(pid, s)
			if grace == nil && p.Grace > 0 {
				grace = time.After(p.Grace)
			}
		case <-grace:
			kill(fmt.Sprintf("still running %s after the signal", p.Grace))
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
		reapedChild(pid)
	}
	endRun(run)
	o := PassthroughResult{Start: start, Duration: time.Since(start)}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled():
		o.Signal = ws.Signal()
		o.ExitCode = 128 + int(o.Signal)
		if sentKill && o.Signal == syscall.SIGKILL {
			o.Err = ErrKilled
		}
	default:
		o.ExitCode = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		// Copying stdio failed (WaitDelay expired); the exit status stands.
		p.Logger.Warn("job's standard streams were not fully copied", "err", waitErr)
	}
	return o
}

// passthroughStartError maps a failed start to a shell's exit code and a message that
// says what to check.
func passthroughStartError(name string, err error) (int, error) {
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist), errors.Is(err, exec.ErrDot):
		return ExitNotFound, fmt.Errorf("%s: %w (check the name and PATH)", name, ErrCommandNotFound)
	default:
		return ExitCannotExecute, fmt.Errorf("%s: %w (check its permissions and format): %w", name, ErrCannotExecute, err)
	}
}
