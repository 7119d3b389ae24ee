package job

import "github.com/metricwrap/metricwrap/internal/runner"

// Exit codes and errors of a command that did not run to its own end; the
// runner, which starts the job, defines them.
const (
	ExitCannotExecute = runner.ExitCannotExecute
	ExitNotFound      = runner.ExitNotFound
)

var (
	// ErrNotFound means the command does not exist (exit 127).
	ErrNotFound = runner.ErrCommandNotFound
	// ErrCannotExecute means the command exists but cannot be executed (126).
	ErrCannotExecute = runner.ErrCannotExecute
	// ErrKilled means metricwrap had to kill the command (grace period over, or
	// a second SIGTERM).
	ErrKilled = runner.ErrKilled
)
