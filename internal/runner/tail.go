package runner

import "sync"

// tailBuffer keeps the last n bytes written to it, in a ring of fixed size,
// so a child printing without end costs n bytes of memory. Safe for
// concurrent use.
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte // len(buf) == n once full; grows up to n before that
	n     int
	start int // index of the oldest byte once full
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

// Write never fails, so the child is never blocked or cut off by it.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	written := len(p)
	if len(p) >= t.n {
		// Only the last n bytes of p can survive.
		t.buf = append(t.buf[:0], p[len(p)-t.n:]...)
		t.start = 0
		return written, nil
	}
	if room := t.n - len(t.buf); room > 0 {
		k := min(room, len(p))
		t.buf = append(t.buf, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := copy(t.buf[t.start:], p)
		p = p[k:]
		t.start = (t.start + k) % t.n
	}
	return written, nil
}

// Bytes returns a copy of the kept tail, oldest byte first.
func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]byte, 0, len(t.buf))
	out = append(out, t.buf[t.start:]...)
	return append(out, t.buf[:t.start]...)
}

// capBuffer collects at most limit bytes; on the first byte beyond it calls
// overflow once and from then on discards what it gets, so memory stays at
// limit while the child is being stopped. Safe for concurrent use.
type capBuffer struct {
	mu       sync.Mutex
	buf      []byte
	limit    int64
	over     bool
	overflow func()
}

func newCapBuffer(limit int64, overflow func()) *capBuffer {
	return &capBuffer{limit: limit, overflow: overflow}
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over {
		return len(p), nil
	}
	if int64(len(c.buf))+int64(len(p)) > c.limit {
		c.over = true
		c.buf = nil
		c.overflow()
		return len(p), nil
	}
	if need := len(c.buf) + len(p); need > cap(c.buf) {
		// Double, but never beyond the limit: append's gentler growth for large
		// slices would allocate about five times the limit on the way up.
		grown := make([]byte, len(c.buf), min(max(2*cap(c.buf), need, 4096), int(c.limit)))
		copy(grown, c.buf)
		c.buf = grown
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// Bytes returns what was collected (nil after an overflow). Call it only
// once writing has ended.
func (c *capBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil && !c.over {
		return []byte{}
	}
	return c.buf
}
