package exposition

// slab hands out pointers into chunks of T, so that a parse of 100,000
// series makes a few hundred allocations instead of a million. Chunks are
// never reused, and each handed-out slice has its capacity capped, so an
// append by a caller (AddLabels) never writes into a neighbour.
type slab[T any] struct {
	buf  []T
	next int
}

const maxChunk = 1024

func (s *slab[T]) grow(n int) {
	if s.next == 0 {
		// Most documents an exporter writes per run are small: the first
		// chunk holds one, and chunks double from there.
		s.next = 1
	} else if s.next < maxChunk {
		s.next *= 2
	}
	s.buf = make([]T, max(s.next, n))
}

// one returns a pointer to a fresh zero T.
func (s *slab[T]) one() *T {
	if len(s.buf) == 0 {
		s.grow(1)
	}
	v := &s.buf[0]
	s.buf = s.buf[1:]
	return v
}

// many returns n fresh zero Ts.
func (s *slab[T]) many(n int) []T {
	if n > len(s.buf) {
		s.grow(n)
	}
	v := s.buf[:n:n]
	s.buf = s.buf[n:]
	return v
}
