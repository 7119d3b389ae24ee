package sink

import (
	"testing"
	"time"
)

func TestBackoffIsFullJitterUnderACappedExponential(t *testing.T) {
	base, limit := 200*time.Millisecond, 5*time.Second
	for _, tc := range []struct {
		attempt int
		ceiling time.Duration
	}{
		{1, 200 * time.Millisecond},
		{2, 400 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{5, 3200 * time.Millisecond},
		{6, 5 * time.Second},
		{60, 5 * time.Second}, // no overflow
	} {
		t.Run(tc.ceiling.String(), func(t *testing.T) {
			var largest time.Duration
			for range 2000 {
				d := backoff(tc.attempt, base, limit)
				if d < 0 || d >= tc.ceiling {
					t.Fatalf("backoff(%d) = %v, want in [0, %v)", tc.attempt, d, tc.ceiling)
				}
				largest = max(largest, d)
			}
			// 2000 uniform draws all below half the ceiling: p = 2^-2000.
			if largest < tc.ceiling/2 {
				t.Fatalf("backoff(%d) never above %v: not spread over [0, %v)", tc.attempt, largest, tc.ceiling)
			}
		})
	}
}
