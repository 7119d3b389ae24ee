package dynatrace

import (
	"context"
	"time"
)

// NewTestCounters returns the Counters a sink uses for a batch it sees for
// the first time, over a fresh state, so tests can chain serializations.
func NewTestCounters() Counters {
	return &advance{st: newState(), deltas: map[string]float64{}}
}

// AppendDimValue exposes the value escaping to the table tests.
var AppendDimValue = appendDimValue

// SetClock replaces the sink's clock and its waiting, so tests control
// timestamps and Retry-After waits without sleeping.
func (s *Sink) SetClock(now func() time.Time, sleep func(context.Context, time.Duration) error) {
	s.now = now
	s.sleep = sleep
}
