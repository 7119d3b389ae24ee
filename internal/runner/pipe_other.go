//go:build !linux

package runner

import "os"

// pipe makes the pipe for one of the child's output streams.
func pipe() (r, w *os.File, err error) { return os.Pipe() }
