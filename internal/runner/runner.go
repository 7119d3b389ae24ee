// Package runner is the only place in metricwrap that starts processes:
// each run of an exporter (Run, RunLaunched) and the long-lived children
// metricwrap talks to (StartService: warm Python workers). For runs it
// implements the child-process contract of SPEC 2.2: no shell, a process
// group of its own, a minimal environment, a private 0700 directory holding
// METRICS_FILE, a timeout that signals the whole group (SIGTERM, then SIGKILL
// after a grace period), capped metrics output and capped stdout/stderr
// tails. It knows nothing about HTTP, configuration files or the exposition
// format: it hands back bytes and a sentinel error, and callers decide.
//
// Cleanup guarantees, on every path (success, failure, timeout, output too
// large, cancellation): when Run returns, the child has been reaped, every
// process still in its process group has been sent SIGKILL (so a
// grandchild left running by an exporter that exited cleanly is killed too),
// and the private directory is removed. A grandchild that leaves the group
// on purpose (setsid) is killed too, within moments of the run's end, when
// main called Supervise (Linux: as PID 1, or as a child subreaper, orphans
// are re-parented to metricwrap);
// without it, it is beyond reach, and a bounded wait for the pipes makes
// sure it cannot hang Run by holding stdout or stderr open.
package runner

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Output selects where the child writes its metrics and how it is told.
type Output int

const (
	// OutputFile means the child writes to $METRICS_FILE (the default).
	OutputFile Output = iota
	// OutputStdout means metricwrap reads the metrics from the child's stdout.
	OutputStdout
	// OutputSeed is like OutputFile, and the arguments start with
	// "--output-filename FILE", the original tool's calling convention.
	OutputSeed
)

// String returns the config spelling (file, stdout, seed).
func (o Output) String() string {
	switch o {
	case OutputFile:
		return "file"
	case OutputStdout:
		return "stdout"
	case OutputSeed:
		return "seed"
	}
	return "Output(" + strconv.Itoa(int(o)) + ")"
}

// Defaults applied by Run to zero fields of Spec.
const (
	DefaultKillGrace      = 2 * time.Second
	DefaultMaxOutputBytes = 16 << 20
	DefaultMaxDirBytes    = 64 << 20
	DefaultCaptureBytes   = 64 << 10
)

// metricsFileName is the base name of METRICS_FILE inside the private dir.
const metricsFileName = "metrics.prom"

// minWaitDelay is the least time Run waits for stdout and stderr to reach
// EOF after the group is dead. Only a process that left the group can hold
// them longer, but on a loaded machine the copying goroutines may need a
// moment to drain what the child wrote before it exited.
const minWaitDelay = time.Second

// pollInterval is how often the size of METRICS_FILE is checked while the
// child runs, so a runaway writer is stopped early.
const pollInterval = 20 * time.Millisecond

// Spec describes one run. The zero value of every optional field means the
// default documented on it. Run does not modify the Spec.
type Spec struct {
	// Name is the exporter's name, given to the child as EXPORTER_NAME.
	Name string
	// Path is the program. Without a slash it is looked up in the PATH of
	// the child's environment (absolute entries only); a relative path with
	// a slash is relative to Dir, or to metricwrap's working directory when
	// Dir is empty.
	Path string
	// Args follow the program name (after "--output-filename FILE" with
	// OutputSeed).
	Args []string
	// Dir is the working directory; "" means the run's private directory,
	// so whatever the child writes by a relative path (an argument a
	// request chose, a stray log file) stays in the run's own directory
	// and is removed with it.
	Dir string
	// Env holds the exporter's configured env and pass_as: env params. It
	// overrides inherited names but not the names Run sets itself
	// (METRICS_FILE, EXPORTER_NAME, SCRAPE_TIMEOUT, SCRAPE_DEADLINE).
	Env map[string]string
	// Passthrough names are copied from metricwrap's environment when set,
	// besides PATH, HOME, LANG and TZ (config env_passthrough).
	Passthrough []string
	// Output selects file, stdout or seed mode.
	Output Output
	// Timeout bounds the run; 0 means no bound beyond ctx.
	Timeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL to the group, and
	// how long (at least 1s) Run waits for stdout/stderr to close after the
	// child exits. Default 2s.
	KillGrace time.Duration
	// MaxOutputBytes caps the metrics, file or stdout. Default 16 MiB.
	MaxOutputBytes int64
	// MaxDirBytes caps the disk space of the private directory, every file
	// the child writes there (by a relative name: it is the working
	// directory) together. Default 64 MiB, and never below MaxOutputBytes.
	MaxDirBytes int64
	// CaptureBytes is how much of stdout and of stderr is kept (the tail).
	// Default 64 KiB each.
	CaptureBytes int
	// TempDir is the parent of the per-run private directory; "" means
	// $TMPDIR when set, else a tmpfs when there is one (see
	// defaultTempDir), else os.TempDir().
	TempDir string
	// Stdout and Stderr, when set, also get the child's stdout (unless it
	// carries the metrics) and stderr as they come, uncapped: the command
	// line passes an exporter's own output through.
	Stdout, Stderr io.Writer
}

// Result is what a run produced. Run returns it even with an error, so
// debug output can show stdout, stderr and the exit code of a failed run.
type Result struct {
	// ExitCode is the child's exit code, -1 when it died from a signal or
	// never started.
	ExitCode int
	// Signal names the signal that ended the child ("killed",
	// "terminated", ...), "" when it exited.
	Signal string
	// Metrics is the METRICS_FILE content, or stdout with OutputStdout;
	// empty (not nil) when the child wrote nothing. After ErrExit it holds
	// what the child wrote anyway, for debug output only; after any other
	// error it is nil.
	Metrics []byte
	// MetricsFilename is the path the child was given; it no longer exists
	// when Run returns.
	MetricsFilename string
	// Stdout and Stderr are the last CaptureBytes of each stream.
	Stdout, Stderr []byte
	// Start is when the child was started; Duration runs until it exited.
	Start    time.Time
	Duration time.Duration
}

// withDefaults returns s with zero optional fields set to their defaults.
func (s Spec) withDefaults() Spec {
	if s.KillGrace <= 0 {
		s.KillGrace = DefaultKillGrace
	}
	if s.MaxOutputBytes <= 0 {
		s.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if s.MaxDirBytes <= 0 {
		s.MaxDirBytes = DefaultMaxDirBytes
	}
	// The metrics file lives in the directory: the output cap decides
	// for it.
	s.MaxDirBytes = max(s.MaxDirBytes, s.MaxOutputBytes)
	if s.CaptureBytes <= 0 {
		s.CaptureBytes = DefaultCaptureBytes
	}
	if s.TempDir == "" {
		s.TempDir = defaultTempDir()
	}
	return s
}

// Run starts the exporter described by s, waits for it under the contract
// described in the package comment, and returns what it produced. The
// child's stdin is /dev/null. It is safe to call concurrently; each run has
// its own directory and process group. The Result is never nil.
func Run(ctx context.Context, s Spec) (*Result, error) {
	prog := s.Path
	if s.Dir == "" && strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
		// The child runs in its private directory; the path was meant
		// from ours.
		if abs, err := filepath.Abs(prog); err == nil {
			prog = abs
		}
	}
	return RunLaunched(ctx, s, execLauncher(prog))
}

// execLauncher starts the child with os/exec, in a process group of its
// own. A program without a slash is looked up in the child's PATH.
func execLauncher(prog string) Launcher {
	return func(l Launch) (Launched, error) {
		path, err := lookPath(prog, envValue(l.Env, "PATH"))
		if err != nil {
			return nil, err
		}
		cmd := &exec.Cmd{
			Path:        path,
			Args:        l.Args,
			Env:         l.Env,
			Dir:         l.Dir,
			Stdout:      l.Stdout,
			Stderr:      l.Stderr,
			SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
		}
		if null := devNull(); null != nil {
			cmd.Stdin = null
		}
		if err := startChild(cmd); err != nil {
			return nil, err
		}
		return &execChild{cmd: cmd}, nil
	}
}

// execChild is a child started by execLauncher.
type execChild struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	reaped bool
}

// Signal signals the child's group until the child is reaped: while the
// leader is an unreaped zombie its pid, so the group id, cannot be reused.
func (c *execChild) Signal(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reaped {
		return nil
	}
	killGroup(c.cmd.Process.Pid, sig)
	return nil
}

// Wait waits for the child to exit without reaping it (where the system
// allows), kills what is left of its group, then reaps it.
func (c *execChild) Wait() (Exit, error) {
	pid := c.cmd.Process.Pid
	if waitExited(pid) {
		killGroup(pid, syscall.SIGKILL)
		c.mu.Lock()
		c.reap()
		c.mu.Unlock()
	} else {
		// Fallback: reap first (unlocked, so Signal can still reach a
		// child that hangs); the group is killed right after, with a tiny
		// window in which its id could be reused.
		_ = c.cmd.Wait()
		reapedChild(pid)
		c.mu.Lock()
		c.reaped = true
		c.mu.Unlock()
		killGroup(pid, syscall.SIGKILL)
	}
	var e Exit
	if ps := c.cmd.ProcessState; ps != nil {
		e.Code = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal()
		}
	}
	return e, nil
}

// reap waits for the exited child, under c.mu; an *exec.ExitError only
// says the exit was not 0, and the process state says how.
func (c *execChild) reap() {
	_ = c.cmd.Wait()
	reapedChild(c.cmd.Process.Pid)
	c.reaped = true
}

// devNull is /dev/null opened once, every run's stdin: os/exec would open
// (and register with the poller, and close) a new one per run. nil when it
// cannot be opened; os/exec then opens its own.
var devNull = sync.OnceValue(func() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	return f
})
