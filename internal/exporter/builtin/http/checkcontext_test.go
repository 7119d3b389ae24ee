package httpexporter

import (
	"context"
	"testing"
	"time"
)

// TestCheckContext: the check ends before the run's deadline, leaving a
// tenth of the time (at most maxReserve) to report the outcome, and the
// configured timeout wins when it is shorter.
func TestCheckContext(t *testing.T) {
	tests := []struct {
		name         string
		run, timeout time.Duration
		// gap is how long before the run's deadline the check ends.
		gap time.Duration
	}{
		{"long run keeps maxReserve", time.Hour, 0, maxReserve},
		{"short run keeps a tenth", 2 * time.Second, 0, 200 * time.Millisecond},
		{"timeout shorter", time.Hour, time.Minute, time.Hour - time.Minute},
		{"timeout longer", 10 * time.Second, time.Hour, maxReserve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, cancel := context.WithTimeout(t.Context(), tt.run)
			defer cancel()
			runDeadline, _ := parent.Deadline()
			ctx, cancelCheck := checkContext(parent, tt.timeout)
			defer cancelCheck()
			got, ok := ctx.Deadline()
			if !ok {
				t.Fatal("check has no deadline")
			}
			// The bounds are loose: only the clock reads between the two
			// deadlines separate them from tt.gap.
			if gap := runDeadline.Sub(got); gap < tt.gap/2 || gap > tt.gap+time.Second {
				t.Errorf("check ends %v before the run, want about %v", gap, tt.gap)
			}
		})
	}
	t.Run("no deadline, no timeout", func(t *testing.T) {
		ctx, cancel := checkContext(t.Context(), 0)
		defer cancel()
		if _, ok := ctx.Deadline(); ok {
			t.Error("check got a deadline from nowhere")
		}
	})
}
