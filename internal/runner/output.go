package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// sizeWatch stops the run when the metrics file grows past its limit, or
// the private directory as a whole past its own, so a child writing
// without end fills neither the disk (often a RAM-backed /dev/shm) nor the
// run's time. It checks on a timer that re-arms itself, not from a
// goroutine of its own: a run that ends within pollInterval is never
// checked here (the checks after it enforce the limits anyway) and costs
// nothing.
type sizeWatch struct {
	mu       sync.Mutex
	t        *time.Timer
	stopped  bool
	path     string // the metrics file; "" in stdout mode
	limit    int64
	overflow func()
	dir      string
	dirLimit int64
	dirFull  func()
}

func watchRunDir(path string, limit int64, overflow func(), dir string, dirLimit int64, dirFull func()) *sizeWatch {
	w := &sizeWatch{path: path, limit: limit, overflow: overflow, dir: dir, dirLimit: dirLimit, dirFull: dirFull}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(pollInterval, w.check)
	return w
}

func (w *sizeWatch) check() {
	if w.path != "" {
		if st, err := os.Stat(w.path); err == nil && st.Size() > w.limit {
			w.overflow()
			return
		}
	}
	if dirUsage(w.dir) > w.dirLimit {
		w.dirFull()
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Reset(pollInterval)
	}
}

// maxDirEntries bounds the walk of a private directory: a child that
// makes more files than this is stopped as if it had filled the directory,
// so the check stays cheap whatever it does.
const maxDirEntries = 10000

// dirFullError tells the operator which setting stopped the run.
func dirFullError(limit int64) error {
	return fmt.Errorf("%w: the exporter's private directory (its working directory, where METRICS_FILE is) holds more than max_dir_bytes (%d bytes) or more than %d files; the exporter was stopped, raise max_dir_bytes or make it write less there", ErrOutputTooLarge, limit, maxDirEntries)
}

// stop ends the checks; one already running may still call overflow.
func (w *sizeWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
}

// copyBufs are the buffers the stdout and stderr copiers read into, reused
// across runs: io.Copy would allocate (and clear) 32 KiB per stream per run.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyStream copies r to w through a pooled buffer. r is wrapped so that
// *os.File's WriteTo, which would bring its own buffer, is not used.
func copyStream(w io.Writer, r io.Reader) {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	_, _ = io.CopyBuffer(w, struct{ io.Reader }{r}, *buf)
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
// permissions on something inside it. The usual dir holds at most the
// metrics file, so that and the dir go first, without reading the dir.
func removeAll(dir, metricsFile string) {
	if err := syscall.Unlink(metricsFile); err == nil || errors.Is(err, syscall.ENOENT) {
		if syscall.Rmdir(dir) == nil {
			return
		}
	}
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
