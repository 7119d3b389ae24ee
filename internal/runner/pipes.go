package runner

import (
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// outPipe is the read end of one of the child's output streams (stdout or
// stderr) and where what comes out of it goes.
//
// Most exporters print little or nothing there, and a pipe holds 64 KiB.
// So the pipe is read lazily: what a quiet child prints waits in the pipe
// and is read at once after it exited, without a goroutine, Go's poller or
// a wake-up per write. A pipe found holding a lot while the child runs
// (drain, from the run's watch timer) is switched to streaming: a goroutine
// copies it through the poller until EOF, as os/exec would. Streams whose
// every byte matters (the metrics on stdout, a pass-through to the
// terminal) stream from the start.
type outPipe struct {
	w io.Writer

	mu sync.Mutex // drain and stream, between the watch timer and the run
	fd int        // the raw, non-blocking read end; -1 once streaming or closed
	f  *os.File   // the read end once streaming
	// done is closed when the copier reached EOF or failed; nil until
	// streaming.
	done chan struct{}
}

// streamAbove is how much a drain may find in the pipe before the child
// is taken for a chatty one and the pipe switched to streaming: a page,
// the least a pipe holds (a user past pipe-user-pages-soft gets no more),
// so no child waits long on a full pipe.
const streamAbove = 4 << 10

// newOutPipe makes the pipe for one stream; the child gets childEnd, which
// the caller closes once the child has it.
func newOutPipe(w io.Writer, stream bool) (p *outPipe, childEnd *os.File, err error) {
	r, childEnd, err := pipe()
	if err != nil {
		return nil, nil, err
	}
	p = &outPipe{w: w, fd: r}
	if stream {
		p.stream()
	}
	return p, childEnd, nil
}

// drain reads what the pipe holds now, without waiting; it reports
// whether it reached EOF. A pipe that held more than streamAbove is
// switched to streaming.
func (p *outPipe) drain() (eof bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return p.f == nil
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	got := 0
	for {
		n, err := syscall.Read(p.fd, *buf)
		if err == syscall.EINTR {
			continue
		}
		if n > 0 {
			_, _ = p.w.Write((*buf)[:n])
			got += n
			continue
		}
		if n == 0 && err == nil {
			return true
		}
		// EAGAIN: the writer is alive and has written all there is for
		// now; any other error ends the stream as EOF would.
		if err != syscall.EAGAIN {
			return true
		}
		if got >= streamAbove {
			p.streamLocked()
		}
		return false
	}
}

// stream switches the pipe to a copying goroutine.
func (p *outPipe) stream() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streamLocked()
}

func (p *outPipe) streamLocked() {
	if p.fd < 0 {
		return
	}
	// A non-blocking descriptor: os.NewFile adds it to the poller.
	p.f = os.NewFile(uintptr(p.fd), "|0")
	p.fd = -1
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		copyStream(p.w, p.f)
	}()
}

// finish reads the rest of a pipe the child has stopped writing to, after
// it exited. A lazy pipe is drained to EOF at once; one that some other
// process still holds open (a process that left the child's group) is
// streamed from then on. It returns the channel that is closed once the
// stream is over, nil when it already is.
func (p *outPipe) finish() <-chan struct{} {
	if p.drain() {
		return nil
	}
	p.stream()
	return p.done
}

// close releases the read end, whatever state it is in.
func (p *outPipe) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd >= 0 {
		_ = syscall.Close(p.fd)
		p.fd = -1
	}
	if p.f != nil {
		p.f.Close()
	}
}

// finishPipes reads both pipes to their end after the child exited,
// waiting up to delay for the ones some other process still holds; past
// it their reads are made to fail. It reports whether every pipe closed
// in time.
func finishPipes(delay time.Duration, pipes ...*outPipe) bool {
	var waiting []*outPipe
	for _, p := range pipes {
		if done := p.finish(); done != nil {
			waiting = append(waiting, p)
		}
	}
	if len(waiting) == 0 {
		return true
	}
	deadline := time.NewTimer(delay)
	defer deadline.Stop()
	closed := true
	for _, p := range waiting {
		select {
		case <-p.done:
			continue
		case <-deadline.C:
		}
		closed = false
		break
	}
	if !closed {
		for _, p := range waiting {
			_ = p.f.SetReadDeadline(time.Now())
		}
	}
	for _, p := range waiting {
		<-p.done
	}
	return closed
}

// pipeEnds is a new pipe's read end raw and non-blocking (an outPipe
// decides whether it ever goes into Go's poller) and its write end, the
// child's, blocking: never registered, made non-blocking, then made
// blocking again for the fork, as os.Pipe's would be.
func pipeEnds(p [2]int) (r int, w *os.File, err error) {
	if err := syscall.SetNonblock(p[0], true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return -1, nil, os.NewSyscallError("fcntl", err)
	}
	return p[0], os.NewFile(uintptr(p[1]), "|1"), nil
}
