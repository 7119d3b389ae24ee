package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// watchFileSize stops the run when the metrics file grows past limit, so a
// child writing without end fills neither the disk nor the run's time.
func watchFileSize(path string, limit int64, exited <-chan struct{}, overflow func()) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-exited:
			return
		case <-t.C:
			if st, err := os.Stat(path); err == nil && st.Size() > limit {
				overflow()
				return
			}
		}
	}
}

// readMetricsOutput returns the collected stdout in stdout mode, else the
// metrics file's content; nil with any error. A file that cannot be read
// is the exporter's failure (ErrExit), as a non-zero exit would be.
func readMetricsOutput(stdout *capBuffer, file string, limit int64) ([]byte, error) {
	if stdout != nil {
		return stdout.Bytes(), nil
	}
	b, err := ReadMetricsFile(file, limit)
	if err != nil && !errors.Is(err, ErrOutputTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrExit, err)
	}
	return b, err
}

// removeAll removes the private dir even when the child took away its own
// permissions on something inside it.
func removeAll(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

// ReadMetricsFile reads at most limit bytes of a metrics file a child
// wrote: the one reader of METRICS_FILE for exporter runs and exec jobs. A
// missing file is empty output; anything but a regular file is refused at
// once (a FIFO is opened non-blocking, a symlink not followed), so a child
// cannot block the read or make it read a device; more than limit bytes is
// ErrOutputTooLarge.
func ReadMetricsFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return []byte{}, nil
	}
	if errors.Is(err, syscall.ELOOP) {
		return nil, errors.New("METRICS_FILE is not a regular file (a symlink); write the metrics to the file itself")
	}
	if err != nil {
		return nil, fmt.Errorf("metrics file unreadable: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("metrics file unreadable: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("METRICS_FILE is not a regular file (%s); write the metrics to a plain file", fileKind(st.Mode()))
	}
	if st.Size() > limit {
		return nil, tooLargeError(limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading metrics file: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, tooLargeError(limit)
	}
	return b, nil
}

// fileKind names what a path is when it is not a regular file.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}
