package job

import "github.com/metricwrap/metricwrap/internal/runner"

// Exit codes and errors of a command that did not run to its own end; the
// runner, which starts the job, defines them.
const (
	ExitCannotExecute = runner.ExitCannotExecute
	ExitNotFound      = runner.ExitNotFound
)

var (
	ErrNotFound      = runner.ErrCommandNotFound
	ErrCannotExecute = runner.ErrCannotExecute
	ErrKilled        = runner.ErrKilled
)
