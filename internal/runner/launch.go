package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// Launch is a child ready to be started by a Launcher rather than by Run:
// the command line, environment and working directory Run would have used,
// and the write ends of the pipes Run reads the child's stdout and stderr
// from.
type Launch struct {
	// Args is the whole argv; Args[0] is Spec.Path as given.
	Args []string
	// Env is the whole environment (METRICS_FILE, SCRAPE_* included).
	Env []string
	// Dir is the working directory: Spec.Dir, else the run's private
	// directory.
	Dir string
	// Stdout and Stderr must become the child's fds 1 and 2. RunLaunched
	// closes them once the Launcher returns, so the launcher passes them on
	// (or duplicates them) before returning.
	Stdout, Stderr *os.File
}

// Exit is how a launched child ended.
type Exit struct {
	// Code is the exit code, -1 when Signal is set.
	Code int
	// Signal is the signal that ended the child, 0 when it exited.
	Signal syscall.Signal
}

// Launched is a child started by a Launcher, in a process group of its own
// whose id is its pid.
type Launched interface {
	// Signal sends sig to the child's process group, unless the child has
	// already been reaped (so a reused pid is never signalled).
	Signal(sig syscall.Signal) error
	// Wait blocks until the child has exited (or, forked by a warm worker,
	// has reported how it ends), every process left in its group has been
	// sent SIGKILL, and the child has been reaped or will be by its parent,
	// which keeps its pid, and so the group id, reserved until then. An error
	// means the child's fate is unknown (its supervisor was lost); the
	// group has then been sent SIGKILL anyway.
	Wait() (Exit, error)
}

// Launcher starts the child described by l. An error means no child runs;
// RunLaunched returns it wrapped in ErrStart, so a caller can tell it apart
// and run the same Spec another way.
type Launcher func(l Launch) (Launched, error)

// RunLaunched is Run with the child started by launch instead of by
// os/exec: the same private directory, environment, caps, timeout handling,
// Result and errors, for a process that someone else forks (a warm Python
// worker). The Spec's Path is not looked up; it is only Args[0].
func RunLaunched(ctx context.Context, s Spec, launch Launcher) (*Result, error) {
	s = s.withDefaults()
	res := &Result{ExitCode: -1}
	if err := ctx.Err(); err != nil {
		return res, ctxError(ctx, err)
	}
	var cancelTimeout context.CancelFunc = func() {}
	if s.Timeout > 0 {
		ctx, cancelTimeout = context.WithTimeout(ctx, s.Timeout)
	}
	defer cancelTimeout()
	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)

	dir, err := makeRunDir(s.TempDir)
	if err != nil {
		return res, fmt.Errorf("%w: private directory: %w", ErrStart, err)
	}
	metricsFile := filepath.Join(dir, metricsFileName)
	removed := false
	defer func() {
		if !removed {
			removeAll(dir, metricsFile)
		}
	}()
	res.MetricsFilename = metricsFile
	env, err := buildEnv(runCtx, s, metricsFile, time.Now())
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrStart, err)
	}
	args := make([]string, 0, len(s.Args)+3)
	args = append(args, s.Path)
	if s.Output == OutputSeed {
		args = append(args, "--output-filename", metricsFile)
	}
	args = append(args, s.Args...)

	stdoutTail := newTailBuffer(s.CaptureBytes)
	stderrTail := newTailBuffer(s.CaptureBytes)
	var tooLarge, dirFull atomic.Bool
	overflow := func() {
		tooLarge.Store(true)
		abort(ErrOutputTooLarge)
	}
	full := func() {
		dirFull.Store(true)
		abort(ErrOutputTooLarge)
	}
	var stdoutMetrics *capBuffer
	var stdoutW, stderrW io.Writer = stdoutTail, stderrTail
	if s.Output == OutputStdout {
		stdoutMetrics = newCapBuffer(s.MaxOutputBytes, overflow)
		stdoutW = io.MultiWriter(stdoutMetrics, stdoutTail)
	} else if s.Stdout != nil {
		stdoutW = io.MultiWriter(stdoutTail, s.Stdout)
	}
	if s.Stderr != nil {
		stderrW = io.MultiWriter(stderrTail, s.Stderr)
	}
	// Every byte of stdout counts when it carries the metrics, and a
	// pass-through shows output as it comes: those stream from the start.
	outP, outW, err := newOutPipe(stdoutW, s.Output == OutputStdout || s.Stdout != nil)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer outP.close()
	errP, errW, err := newOutPipe(stderrW, s.Stderr != nil)
	if err != nil {
		outW.Close()
		return res, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer errP.close()
	workDir := s.Dir
	if workDir == "" {
		workDir = dir
	}
	// Known before the child starts, so an orphan it makes at once is
	// never taken for one of a finished run.
	run := beginRun(metricsFile)
	res.Start = time.Now()
	child, err := launch(Launch{Args: args, Env: env, Dir: workDir, Stdout: outW, Stderr: errW})
	outW.Close()
	errW.Close()
	if err != nil {
		endRun(run)
		return res, fmt.Errorf("%w: %w", ErrStart, err)
	}

	term := startTerminator(runCtx, child, s.KillGrace)
	watchedFile := metricsFile
	if s.Output == OutputStdout {
		watchedFile = ""
	}
	watch := watchRunDir(watchedFile, s.MaxOutputBytes, overflow, dir, s.MaxDirBytes, full, outP, errP)
	exit, waitErr := child.Wait()
	signalled := term.childExited()
	watch.stop()
	// Orphans of the run that left its group (setsid) die within moments
	// (scanSpacing), well within the wait for the pipes they may hold.
	endRun(run)
	res.Duration = time.Since(res.Start)

	// As cmd.WaitDelay does: the group is dead, so only a process that left
	// it can still hold the pipes; stop reading after the delay.
	delay := max(s.KillGrace, minWaitDelay)
	pipesClosed := finishPipes(delay, outP, errP)
	res.Stdout = stdoutTail.Bytes()
	res.Stderr = stderrTail.Bytes()

	// The metrics file is opened before its directory goes; a directory
	// that held only that file is within max_dir_bytes when the file is,
	// and only one that held more is measured, for what the run wrote
	// faster than the watch looked.
	metrics := openMetrics(metricsFile)
	defer metrics.close()
	if removed = removeRunDir(dir, metricsFile); removed {
		if metrics.size > s.MaxDirBytes {
			dirFull.Store(true)
		}
	} else if !tooLarge.Load() && dirUsage(dir) > s.MaxDirBytes {
		dirFull.Store(true)
	}
	res.ExitCode = exit.Code
	if exit.Signal != 0 {
		res.ExitCode = -1
		res.Signal = exit.Signal.String()
	}

	switch {
	case tooLarge.Load():
		return res, tooLargeError(s.MaxOutputBytes)
	case dirFull.Load():
		return res, dirFullError(s.MaxDirBytes)
	case signalled:
		return res, ctxError(ctx, context.Cause(runCtx))
	case waitErr != nil:
		return res, fmt.Errorf("%w: %w", ErrExit, waitErr)
	case res.ExitCode != 0 || res.Signal != "":
		res.Metrics, _ = readMetricsOutput(stdoutMetrics, metrics, s.MaxOutputBytes)
		return res, exitError(res)
	case !pipesClosed && stdoutMetrics != nil:
		return res, fmt.Errorf("%w: stdout was still open %s after the exporter exited (a process it started left its group); the metrics may be incomplete", ErrExit, delay)
	}
	res.Metrics, err = readMetricsOutput(stdoutMetrics, metrics, s.MaxOutputBytes)
	return res, err
}

// BaseEnv is the part of every child's environment taken from metricwrap's
// own (PATH, HOME, LANG, TZ, when set), for a long-lived process that forks
// children and should see no more than they do.
func BaseEnv() []string {
	var env []string
	for _, name := range inherited {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}
