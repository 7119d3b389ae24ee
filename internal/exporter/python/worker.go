package python

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/metricwrap/metricwrap/internal/runner"
)

// Timeouts of a worker's life outside any run.
var (
	// startTimeout bounds the worker's imports; an exporter module that
	// hangs at import must not keep its siblings cold forever.
	startTimeout = 30 * time.Second
	// writeTimeout bounds one request to a worker that stopped reading.
	writeTimeout = 10 * time.Second
	// stopGrace is how long a worker told to stop may take before SIGKILL.
	stopGrace = 5 * time.Second
)

// errWorkerLost is what a run learns when its worker died under it.
var errWorkerLost = errors.New("the python worker running it died")

// worker is one Python process in worker mode and the protocol to it. Its
// methods are safe for concurrent use.
type worker struct {
	key     Key
	log     *slog.Logger
	svc     *runner.Service
	conn    *net.UnixConn
	started time.Time
	stamps  []fileStamp
	dirs    []fileStamp

	wmu sync.Mutex // one frame at a time on conn

	mu    sync.Mutex
	calls map[uint64]*call
	next  uint64

	inflight sync.WaitGroup // runs that acquired the worker

	dead     chan struct{} // closed once the worker is gone
	deadOnce sync.Once
}

// call is one run in flight in the worker.
type call struct {
	started chan reply // pid or error, then
	done    chan reply // how it ended
}

// startWorker starts a worker for key that imports names, and waits until
// it is ready.
func startWorker(key Key, names []string, log *slog.Logger) (*worker, error) {
	dirs := dirStamps(key.ExportersDir)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("python worker socket: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "python-worker")
	theirs := os.NewFile(uintptr(fds[1]), "python-worker-child")
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("python worker socket: %w", err)
	}
	conn := fc.(*net.UnixConn)

	svc, err := runner.StartService(runner.ServiceSpec{
		Path:       key.Python,
		Args:       append([]string{key.Runner, "--worker", "--exporters-dir", key.ExportersDir, "--"}, names...),
		Env:        runner.BaseEnv(),
		Dir:        filepath.Dir(key.ExportersDir),
		ExtraFiles: []*os.File{theirs}, // fd 3
		Stdout:     &logWriter{log: log, level: slog.LevelInfo, stream: "stdout"},
		Stderr:     &logWriter{log: log, level: slog.LevelWarn, stream: "stderr"},
	})
	// Only the worker may hold its end, so its death is our EOF.
	theirs.Close()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("python worker: %w", err)
	}
	w := &worker{
		key: key, log: log, svc: svc, conn: conn, started: time.Now(), dirs: dirs,
		calls: map[uint64]*call{}, dead: make(chan struct{}),
	}
	go func() {
		<-svc.Exited()
		w.die()
	}()

	r := bufio.NewReader(conn)
	var first reply
	_ = conn.SetReadDeadline(time.Now().Add(startTimeout))
	if err := readFrame(r, &first); err != nil {
		w.stop()
		return nil, fmt.Errorf("python worker did not start: %w", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if !first.Ready {
		w.stop()
		return nil, fmt.Errorf("python worker could not import the exporters' support code: %s", lastLine(first.Fatal))
	}
	w.stamps = first.Files
	for name, problem := range first.Failed {
		log.Info("exporter not imported by the python worker; each run imports it", "exporter", name, "err", problem)
	}
	go w.read(r)
	return w, nil
}

// read dispatches the worker's replies until the connection ends.
func (w *worker) read(r *bufio.Reader) {
	defer w.die()
	for {
		var msg reply
		if err := readFrame(r, &msg); err != nil {
			return
		}
		w.mu.Lock()
		c := w.calls[msg.ID]
		if c != nil && (msg.Code != nil || msg.Signal != 0) {
			delete(w.calls, msg.ID)
		}
		w.mu.Unlock()
		if c == nil {
			continue
		}
		if msg.Pid != 0 || msg.Error != "" {
			c.started <- msg
		} else {
			c.done <- msg
		}
	}
}

// die marks the worker gone: runs waiting on it stop waiting.
func (w *worker) die() {
	w.deadOnce.Do(func() { close(w.dead) })
}

func (w *worker) isDead() bool {
	select {
	case <-w.dead:
		return true
	default:
		return false
	}
}

// stop ends the worker: closing the socket makes it kill its children's
// groups and exit; SIGKILL follows if it does not.
func (w *worker) stop() {
	w.conn.Close()
	w.die()
	w.svc.Stop(stopGrace)
}

// send writes one frame, with fds attached to its first byte.
func (w *worker) send(msg *request, fds ...int) error {
	frame, err := encodeFrame(msg)
	if err != nil {
		return err
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	n, _, err := w.conn.WriteMsgUnix(frame, oob, nil)
	if err == nil && n < len(frame) {
		_, err = w.conn.Write(frame[n:])
	}
	if err != nil {
		// A half-written frame leaves the stream unusable.
		w.conn.Close()
		w.die()
	}
	return err
}

// launch is the runner.Launcher that hands the run to the worker, which
// gives it to the child it forked ahead of time (or forks one now).
func (w *worker) launch(l runner.Launch) (runner.Launched, error) {
	if len(l.Args) < 2 || l.Args[1] != w.key.Runner {
		return nil, fmt.Errorf("%w: not a run of this worker's runner", ErrUnavailable)
	}
	dir := l.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		dir = wd
	}
	c := &call{started: make(chan reply, 1), done: make(chan reply, 1)}
	w.mu.Lock()
	w.next++
	id := w.next
	w.calls[id] = c
	w.mu.Unlock()
	forget := func() {
		w.mu.Lock()
		delete(w.calls, id)
		w.mu.Unlock()
	}
	req := &request{Op: "run", ID: id, Args: l.Args[2:], Env: l.Env, Dir: dir}
	if err := w.send(req, int(l.Stdout.Fd()), int(l.Stderr.Fd())); err != nil {
		forget()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	select {
	case msg := <-c.started:
		if msg.Error != "" {
			forget()
			return nil, fmt.Errorf("%w: %s", ErrUnavailable, msg.Error)
		}
		return &launched{w: w, id: id, pid: msg.Pid, c: c}, nil
	case <-w.dead:
		select {
		case msg := <-c.started:
			if msg.Error == "" {
				// Forked and reported: Wait finds the worker gone and
				// kills the orphaned group.
				return &launched{w: w, id: id, pid: msg.Pid, c: c}, nil
			}
		default:
		}
		forget()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, errWorkerLost)
	}
}

// launched is a run's child, forked by the worker.
type launched struct {
	w   *worker
	id  uint64
	pid int
	c   *call

	mu   sync.Mutex
	done bool
}

// Signal asks the worker to signal the group: it alone knows whether the
// child has been reaped, so a reused pid is never hit. With the worker gone
// the orphaned group is signalled directly.
func (l *launched) Signal(sig syscall.Signal) error {
	l.mu.Lock()
	done := l.done
	l.mu.Unlock()
	if done {
		return nil
	}
	if l.w.isDead() {
		return syscall.Kill(-l.pid, sig)
	}
	return l.w.send(&request{Op: "signal", ID: l.id, Sig: int(sig)})
}

// Wait returns how the run ended once the worker says so: either the child
// reported its exit code, after closing its stdout and stderr, just before
// exiting, or it exited without a report (a signal, a plain script's exec)
// and has been reaped; in both cases the child's group has then been sent
// SIGKILL. A child that reported may not be reaped yet: unlike what
// runner.Launched's Wait promises, this does not wait for the reaping,
// which would wait for the kernel to tear down the child's copy of the
// worker (about a millisecond). No reused pid is hit for it: Signal does
// nothing once Wait has returned, and the worker signals a group only
// while its leader is unreaped. With the worker gone, Wait sends SIGKILL
// to the group itself and returns errWorkerLost.
func (l *launched) Wait() (runner.Exit, error) {
	var msg reply
	select {
	case msg = <-l.c.done:
	case <-l.w.dead:
		select {
		case msg = <-l.c.done:
		default:
			_ = syscall.Kill(-l.pid, syscall.SIGKILL)
			l.setDone()
			return runner.Exit{Code: -1, Signal: syscall.SIGKILL}, errWorkerLost
		}
	}
	l.setDone()
	if msg.Signal != 0 {
		return runner.Exit{Code: -1, Signal: syscall.Signal(msg.Signal)}, nil
	}
	return runner.Exit{Code: *msg.Code}, nil
}

func (l *launched) setDone() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

// logWriter logs what the worker itself prints (warnings at import, a
// traceback when it crashes), a line at a time.
type logWriter struct {
	log    *slog.Logger
	level  slog.Level
	stream string
	mu     sync.Mutex
	buf    []byte
}

// maxLogLine bounds a logged line; the rest of a longer one is dropped.
const maxLogLine = 4096

func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for _, b := range p {
		if b == '\n' {
			lw.log.Log(context.Background(), lw.level, "python worker output", "stream", lw.stream, "line", string(lw.buf))
			lw.buf = lw.buf[:0]
			continue
		}
		if len(lw.buf) < maxLogLine {
			lw.buf = append(lw.buf, b)
		}
	}
	return len(p), nil
}

var _ io.Writer = (*logWriter)(nil)
