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
// metrics file's content; nil with any error.
func readMetricsOutput(stdout *capBuffer, file string, limit int64) ([]byte, error) {
	if stdout != nil {
		return stdout.Bytes(), nil
	}
	b, err := readMetricsFile(file, limit)
	if err != nil {
		return nil, err
	}
	return b, nil
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

// readMetricsFile reads at most limit bytes of the metrics file. A missing
// file is empty output; anything but a regular file is refused, so a
// symlink to a FIFO or device cannot block or flood the read.
func readMetricsFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return []byte{}, nil
	}
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: METRICS_FILE is not a regular file (a symlink); write the metrics to the file itself", ErrExit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: metrics file unreadable: %w", ErrExit, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: metrics file unreadable: %w", ErrExit, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: METRICS_FILE is not a regular file (%s); write the metrics to a plain file", ErrExit, st.Mode().Type())
	}
	if st.Size() > limit {
		return nil, tooLargeError(limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading metrics file: %w", ErrExit, err)
	}
	if int64(len(b)) > limit {
		return nil, tooLargeError(limit)
	}
	return b, nil
}
