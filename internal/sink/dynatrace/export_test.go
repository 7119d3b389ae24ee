package dynatrace

import (
	"time"
)

// NewTestCounters returns the Counters a sink uses for a batch it sees for
// the first time, over a fresh state, so tests can chain serializations.
func NewTestCounters() Counters {
	return &advance{st: newState(), deltas: map[string]float64{}}
}

// AppendDimValue exposes the value escaping to the table tests.
var AppendDimValue = appendDimValue

// SetClock replaces the sink's clock, so tests control timestamps.
func (s *Sink) SetClock(now func() time.Time) {
	s.now = now
}
