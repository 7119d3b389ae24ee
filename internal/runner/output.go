package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// sizeWatch stops the run when the metrics file grows past its limit, or
// the private directory as a whole past its own, so a child writing
// without end fills neither the disk (often a RAM-backed /dev/shm) nor the
// run's time; it also drains the output pipes read lazily, so a chatty
// child is switched to streaming soon (outPipe). It checks on a timer that
// re-arms itself, not from a goroutine of its own: a run that ends within
// drainAfter is never looked at here (the checks after it enforce the
// limits anyway) and costs nothing.
type sizeWatch struct {
	mu       sync.Mutex
	t        *time.Timer
	stopped  bool
	checks   int
	path     string // the metrics file; "" in stdout mode
	limit    int64
	overflow func()
	dir      string
	dirLimit int64
	dirFull  func()
	pipes    []*outPipe
}

// drainAfter is when the output pipes are first drained: soon, so a child
// that prints more than a pipe holds waits on it at most that long before
// its pipe streams.
const drainAfter = 5 * time.Millisecond

func watchRunDir(path string, limit int64, overflow func(), dir string, dirLimit int64, dirFull func(), pipes ...*outPipe) *sizeWatch {
	w := &sizeWatch{path: path, limit: limit, overflow: overflow, dir: dir, dirLimit: dirLimit, dirFull: dirFull, pipes: pipes}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(drainAfter, w.check)
	return w
}

// check runs under w.mu, so stop waits for one in progress: the pipes are
// the run's again once stop returns.
func (w *sizeWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	for _, p := range w.pipes {
		p.drain()
	}
	if w.checks++; w.checks > 1 {
		over := false
		if w.path != "" {
			if st, err := os.Stat(w.path); err == nil && st.Size() > w.limit {
				w.overflow()
				over = true
			}
		}
		if !over && dirUsage(w.dir) > w.dirLimit {
			w.dirFull()
			over = true
		}
		if over {
			// The child is being stopped and may print on its way out:
			// its pipes stream until they close, so it never blocks on
			// one while the watch no longer drains them.
			for _, p := range w.pipes {
				p.stream()
			}
			return
		}
	}
	w.t.Reset(pollInterval)
}

// maxDirEntries bounds the walk of a private directory: a child that
// makes more files than this is stopped as if it had filled the directory,
// so the check stays cheap whatever it does.
const maxDirEntries = 10000

// dirFullError tells the operator which setting stopped the run.
func dirFullError(limit int64) error {
	return fmt.Errorf("%w: the exporter's private directory (its working directory, where METRICS_FILE is) holds more than max_dir_bytes (%d bytes) or more than %d files; the exporter was stopped, raise max_dir_bytes or make it write less there", ErrOutputTooLarge, limit, maxDirEntries)
}

// stop ends the checks, once one in progress is over.
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
func readMetricsOutput(stdout *capBuffer, file *metricsFD, limit int64) ([]byte, error) {
	if stdout != nil {
		return stdout.Bytes(), nil
	}
	b, err := file.read(limit)
	if err != nil && !errors.Is(err, ErrOutputTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrExit, err)
	}
	return b, err
}

// removeRunDir removes the private directory of a run that left nothing
// in it but the metrics file (the usual case), with two system calls and
// without reading the directory; it reports whether it could.
func removeRunDir(dir, metricsFile string) bool {
	if err := syscall.Unlink(metricsFile); err != nil && err != syscall.ENOENT {
		return false
	}
	return syscall.Rmdir(dir) == nil
}

// removeAll removes the private dir even when the child took away its own
// permissions on something inside it.
func removeAll(dir, metricsFile string) {
	if removeRunDir(dir, metricsFile) || os.RemoveAll(dir) == nil {
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
	m := openMetrics(path)
	return m.read(limit)
}

// metricsFD is a metrics file opened for reading. A run opens its
// METRICS_FILE before it removes the private directory, and reads it
// after: the open file outlives its name.
type metricsFD struct {
	fd   int   // -1 when there is no file, or err is set, or once closed
	size int64 // at open time
	err  error
}

// openMetrics opens path without following a symlink or blocking on a
// FIFO, and refuses anything but a regular file. It uses the system calls
// directly: an *os.File would try to add the file to Go's poller.
func openMetrics(path string) *metricsFD {
	m := &metricsFD{fd: -1}
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	}
	switch {
	case err == syscall.ENOENT:
		return m
	case err == syscall.ELOOP:
		m.err = errors.New("METRICS_FILE is not a regular file (a symlink); write the metrics to the file itself")
		return m
	case err != nil:
		m.err = fmt.Errorf("metrics file unreadable: %w", &os.PathError{Op: "open", Path: path, Err: err})
		return m
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		_ = syscall.Close(fd)
		m.err = fmt.Errorf("metrics file unreadable: %w", &os.PathError{Op: "fstat", Path: path, Err: err})
		return m
	}
	if kind := uint32(st.Mode) & syscall.S_IFMT; kind != syscall.S_IFREG {
		_ = syscall.Close(fd)
		m.err = fmt.Errorf("METRICS_FILE is not a regular file (%s); write the metrics to a plain file", fileKind(kind))
		return m
	}
	m.fd, m.size = fd, st.Size
	return m
}

// read returns the content, at most limit bytes, and closes the file.
func (m *metricsFD) read(limit int64) ([]byte, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.fd < 0 {
		return []byte{}, nil
	}
	defer m.close()
	if m.size > limit {
		return nil, tooLargeError(limit)
	}
	// One byte more than the size at open time: a file still growing is
	// seen to, and read on up to the limit.
	buf := make([]byte, 0, m.size+1)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, tooLargeError(limit)
			}
			buf = slices.Grow(buf, len(buf))
		}
		n, err := syscall.Read(m.fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading metrics file: %w", err)
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
		if len(buf) < cap(buf) && int64(len(buf)) >= m.size {
			// A short read of all the file held at open time: the end.
			break
		}
	}
	if int64(len(buf)) > limit {
		return nil, tooLargeError(limit)
	}
	return buf, nil
}

// close closes the file; it may be called more than once.
func (m *metricsFD) close() {
	if m.fd >= 0 {
		_ = syscall.Close(m.fd)
		m.fd = -1
	}
}

// fileKind names what a file is when it is not a regular file, from the
// S_IFMT bits of its mode.
func fileKind(kind uint32) string {
	switch kind {
	case syscall.S_IFIFO:
		return "a named pipe"
	case syscall.S_IFSOCK:
		return "a socket"
	case syscall.S_IFCHR, syscall.S_IFBLK:
		return "a device"
	case syscall.S_IFDIR:
		return "a directory"
	case syscall.S_IFLNK:
		return "a symlink"
	}
	return "of an unknown kind"
}

// makeRunDir makes a run's private directory under parent, mode 0700 even
// under a umask that takes bits from the owner.
func makeRunDir(parent string) (string, error) {
	dir, err := os.MkdirTemp(parent, "metricwrap-run-")
	if err != nil || umaskKeepsOwner() {
		return dir, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.Remove(dir)
		return "", err
	}
	return dir, nil
}
