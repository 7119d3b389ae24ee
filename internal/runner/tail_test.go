package runner

import (
	"bytes"
	"testing"
)

func TestTailBufferKeepsLastBytes(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		writes []int // sizes of successive writes
	}{
		{"empty", 8, nil},
		{"under capacity", 8, []int{3, 2}},
		{"exactly full", 8, []int{8}},
		{"single write larger", 8, []int{20}},
		{"wraps in small writes", 8, []int{3, 3, 3, 3, 3}},
		{"wraps across the end", 8, []int{6, 5, 7}},
		{"big after wrap", 8, []int{5, 5, 9, 1}},
		{"one byte ring", 1, []int{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTailBuffer(tt.n)
			var all []byte
			next := byte('a')
			for _, size := range tt.writes {
				p := make([]byte, size)
				for i := range p {
					p[i] = next
					next++
					if next > 'z' {
						next = 'a'
					}
				}
				all = append(all, p...)
				if n, err := tb.Write(p); n != size || err != nil {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, size)
				}
			}
			want := all
			if len(want) > tt.n {
				want = want[len(want)-tt.n:]
			}
			if got := tb.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("Bytes() = %q, want %q", got, want)
			}
		})
	}
}

func TestCapBufferOverflowsOnce(t *testing.T) {
	calls := 0
	c := newCapBuffer(10, func() { calls++ })
	for _, p := range []string{"12345", "67890"} {
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got := string(c.Bytes()); got != "1234567890" || calls != 0 {
		t.Fatalf("at the cap: Bytes() = %q, overflow calls %d; want all ten bytes, no call", got, calls)
	}
	for range 3 {
		if n, err := c.Write([]byte("x")); n != 1 || err != nil {
			t.Fatalf("Write past the cap = %d, %v; want 1, nil (discard, never block the child)", n, err)
		}
	}
	if calls != 1 {
		t.Errorf("overflow called %d times, want 1", calls)
	}
	if c.Bytes() != nil {
		t.Errorf("Bytes() after overflow = %q, want nil", c.Bytes())
	}
}

func TestLastBytesCutsAtRuneStart(t *testing.T) {
	s := []byte("aé€b") // 1 + 2 + 3 + 1 bytes
	tests := []struct {
		n    int
		want string
	}{
		{7, "aé€b"}, {4, "€b"}, {3, "b"}, {2, "b"}, {1, "b"},
	}
	for _, tt := range tests {
		if got := string(lastBytes(s, tt.n)); got != tt.want {
			t.Errorf("lastBytes(%q, %d) = %q, want %q", s, tt.n, got, tt.want)
		}
	}
}
