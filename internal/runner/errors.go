package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors; check them with errors.Is. Every error Run returns wraps
// exactly one of them, or context.Canceled when the caller cancelled.
var (
	// ErrStart: the child could not be started (program not found, not
	// executable, bad working directory, private dir not creatable).
	ErrStart = errors.New("exporter could not be started")
	// ErrTimeout: the run hit Spec.Timeout or the context deadline and was
	// killed. The error also wraps context.DeadlineExceeded.
	ErrTimeout = errors.New("exporter timed out")
	// ErrOutputTooLarge: the metrics (file or stdout) exceeded
	// Spec.MaxOutputBytes.
	ErrOutputTooLarge = errors.New("exporter output too large")
	// ErrExit: the child exited non-zero or died from a signal it was not
	// sent by the runner. The message holds the exit code and the stderr tail.
	ErrExit = errors.New("exporter failed")
)

// errTailBytes bounds how much of stderr goes into an ErrExit message; the
// full tail stays in Result.Stderr.
const errTailBytes = 1024

// tooLargeError tells the operator which setting stopped the run.
func tooLargeError(limit int64) error {
	return fmt.Errorf("%w: metrics exceed max_output_bytes (%d bytes); the exporter was stopped, raise max_output_bytes or make it write less", ErrOutputTooLarge, limit)
}

// ctxError turns the end of the run's context into ErrTimeout (deadline) or
// a wrapped context.Canceled (the caller gave up).
func ctxError(ctx context.Context, cause error) error {
	if errors.Is(cause, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg := "killed at its deadline"
		if d, ok := ctx.Deadline(); ok {
			msg = "killed at its deadline " + d.Format(time.RFC3339Nano)
		}
		return fmt.Errorf("%w (%s); raise the exporter's timeout or make it faster: %w", ErrTimeout, msg, context.DeadlineExceeded)
	}
	if cause == nil {
		cause = context.Canceled
	}
	return fmt.Errorf("exporter run cancelled: %w", cause)
}

// exitError describes a non-zero exit with the tail of stderr.
func exitError(res *Result) error {
	what := "exited with code " + strconv.Itoa(res.ExitCode)
	if res.Signal != "" {
		what = "killed by signal " + res.Signal
	}
	tail := strings.TrimSpace(string(lastBytes(res.Stderr, errTailBytes)))
	if tail == "" {
		return fmt.Errorf("%w: %s (no stderr output)", ErrExit, what)
	}
	return fmt.Errorf("%w: %s: %s", ErrExit, what, tail)
}

// lastBytes returns the last n bytes of b, starting at a UTF-8 boundary.
func lastBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[len(b)-n:]
	for i := 0; i < utf8.UTFMax && i < len(b); i++ {
		if utf8.RuneStart(b[i]) {
			return b[i:]
		}
	}
	return b
}
