package dynatrace

import "github.com/metricwrap/metricwrap/internal/sink/ledger"

// state is the counter state of one sink: the last cumulative value of
// every counter series, and the deltas pinned to each batch seen by the
// ledger, whose rule this sink shares with the OTLP sink (see package
// ledger). So a failed push neither loses nor double counts a delta, and a
// batch delivered twice counts once. The JSON field names are the state
// file's format: keep them.
type state struct {
	ledger.Ledger[pending, *pending]
	Counters map[string]float64 `json:"counters"`
}

// pending is one batch seen: the ledger's bookkeeping (Sent counts lines
// Dynatrace accepted or rejected) and its pinned deltas.
type pending struct {
	ledger.Entry
	Deltas map[string]float64 `json:"deltas,omitempty"`
}

// Unpin implements ledger.Pin.
func (p *pending) Unpin() { p.Deltas = nil }

// maxDone is 0: every done batch is remembered until ledger.TTL, as before
// the ledger was shared. Unlike the OTLP sink, a forgotten batch redelivered
// here would count its counters again as a reset, so no cap trades that for
// a smaller file.
const maxDone = 0

func newState() *state {
	st := &state{Counters: map[string]float64{}}
	st.Init()
	return st
}

// loadState reads the store's file; a missing file is an empty state.
func loadState(store *ledger.Store) (*state, error) {
	st := newState()
	if err := store.Load(st); err != nil {
		return nil, err
	}
	if st.Counters == nil {
		st.Counters = map[string]float64{}
	}
	return st, nil
}

// advance is the Counters of a batch seen for the first time: it computes
// deltas from the state, moves the state on and pins the deltas.
type advance struct {
	st     *state
	deltas map[string]float64
}

func (a *advance) Delta(series []byte, v float64) (float64, bool) {
	prev, seen := a.st.Counters[string(series)]
	k := string(series)
	a.st.Counters[k] = v
	if !seen {
		return 0, false // first sighting: nothing to compare with
	}
	d := v - prev
	if d < 0 { // reset: everything counted since the restart is new
		d = v
	}
	a.deltas[k] = d
	return d, true
}

// pinned is the Counters of a redelivered batch.
type pinned map[string]float64

func (p pinned) Delta(series []byte, _ float64) (float64, bool) {
	d, ok := p[string(series)]
	return d, ok
}
