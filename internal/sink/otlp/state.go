package otlp

import (
	"time"

	"github.com/metricwrap/metricwrap/internal/sink/ledger"
)

// state is what one sink remembers, beside the spool: per series, the last
// values and time it saw (the baseline of the next delta) and the start of
// the series' cumulative run; and, in delta mode (or for exec's running
// totals), the points pinned to each batch by the ledger, whose rule this
// sink shares with the Dynatrace sink (see package ledger). The JSON field
// names are the state file's format: keep them.
type state struct {
	ledger.Ledger[pending, *pending]
	Series map[string]*series `json:"series"`
}

// series is the last sighting of one counter, histogram or summary series.
// Vals are the cumulative values: [value] for a counter; [count, sum,
// bucket counts...] (cumulative, one per bound) for a histogram.
type series struct {
	// Start is when the series' current cumulative run began, in Unix
	// nanoseconds (its created timestamp, its first sighting, or the
	// sighting before a reset).
	Start  int64     `json:"start"`
	Time   int64     `json:"time"`
	Vals   []float64 `json:"vals"`
	Bounds []float64 `json:"bounds,omitempty"`
}

// pending is one batch seen: the ledger's bookkeeping and its pinned points.
type pending struct {
	ledger.Entry
	Points map[string]*point `json:"points,omitempty"`
}

// Unpin implements ledger.Pin.
func (p *pending) Unpin() { p.Points = nil }

// point is one pinned delta: its start time and the increase of each value
// (per bucket, not cumulative, for a histogram; the last is +Inf's).
type point struct {
	Start int64     `json:"start"`
	Vals  []float64 `json:"vals"`
}

// seriesTTL forgets series not seen for this long, so the state of
// exporters long gone does not grow forever.
const seriesTTL = 7 * 24 * time.Hour

// maxDone bounds the delivered batches remembered: a busy serve would
// otherwise keep (and rewrite on every batch) one entry per run for
// ledger.TTL. Forgetting one is harmless in the usual case: a redelivery
// of it then finds the baselines it set and sends deltas of zero.
const maxDone = 10000

func newState() *state {
	st := &state{Series: map[string]*series{}}
	st.Init()
	return st
}

// loadState reads the store's file; a missing file is an empty state.
func loadState(store *ledger.Store) (*state, error) {
	st := newState()
	if err := store.Load(st); err != nil {
		return nil, err
	}
	if st.Series == nil {
		st.Series = map[string]*series{}
	}
	return st, nil
}

// expire forgets pinned batches and series older than their TTLs, and the
// oldest delivered batches beyond maxDone.
func (st *state) expire(now time.Time) {
	st.Expire(now, maxDone)
	cutoff := now.Add(-seriesTTL).UnixNano()
	for k, s := range st.Series {
		if s.Time < cutoff {
			delete(st.Series, k)
		}
	}
}

// tracker turns a series' cumulative values into what is sent. The
// converter asks it once per series and batch.
type tracker interface {
	// delta returns the increase since the previous sighting and its
	// start; ok is false when there is nothing to compare with (the first
	// sighting), and then nothing is sent for the series. hist says vals
	// are [count, sum, cumulative buckets...] with bounds; the returned
	// bucket values are per bucket with +Inf's last.
	delta(key string, vals, bounds []float64, hist bool, t, created int64) (p *point, ok bool)
	// start returns the start of the series' cumulative run.
	start(key string, vals, bounds []float64, t, created int64) int64
	// total adds one of exec's increments to the series' running total
	// (cumulative mode) and returns the total and its start; nil when a
	// pinned batch has none.
	total(key string, inc float64, t, runStart int64) *point
}

// advance is the tracker of a batch seen for the first time: it moves the
// baselines on and pins the deltas.
type advance struct {
	st     *state
	points map[string]*point
}

func (a *advance) delta(key string, vals, bounds []float64, hist bool, t, created int64) (*point, bool) {
	prev := a.st.Series[key]
	a.observe(key, vals, bounds, t, created)
	if prev == nil {
		return nil, false // first sighting: nothing to compare with
	}
	p := &point{Start: prev.Time, Vals: make([]float64, len(vals))}
	if isReset(prev, vals, bounds) {
		// Everything counted since the reset is new: the whole value, over
		// the time since the created timestamp when the exporter gave one.
		copy(p.Vals, vals)
		if created > prev.Time && created < t {
			p.Start = created
		}
	} else {
		for i := range vals {
			p.Vals[i] = vals[i] - prev.Vals[i]
		}
	}
	if hist {
		p.Vals = perBucket(p.Vals)
	}
	a.points[key] = p
	return p, true
}

func (a *advance) total(key string, inc float64, t, runStart int64) *point {
	p := &point{Start: runStart, Vals: []float64{inc}}
	if prev := a.st.Series[key]; prev != nil && len(prev.Vals) == 1 && len(prev.Bounds) == 0 {
		p.Start, p.Vals[0] = prev.Start, prev.Vals[0]+inc
	}
	a.st.Series[key] = &series{Start: p.Start, Time: t, Vals: []float64{p.Vals[0]}}
	a.points[key] = p
	return p
}

func (a *advance) start(key string, vals, bounds []float64, t, created int64) int64 {
	return a.observe(key, vals, bounds, t, created).Start
}

// observe records a sighting and keeps the start of the series' run: the
// created timestamp when given, else the first sighting, else, after a
// reset, the sighting before it (the reset happened after that).
func (a *advance) observe(key string, vals, bounds []float64, t, created int64) *series {
	prev := a.st.Series[key]
	s := &series{Time: t, Vals: append([]float64(nil), vals...), Bounds: append([]float64(nil), bounds...)}
	switch {
	case created > 0 && created <= t:
		s.Start = created
	case prev == nil:
		s.Start = t
	case isReset(prev, vals, bounds):
		s.Start = prev.Time
	default:
		s.Start = prev.Start
	}
	a.st.Series[key] = s
	return s
}

// isReset reports whether vals cannot follow prev: a count or bucket went
// down, or the buckets changed. A histogram's sum may go down (negative
// observations), so only its count and buckets decide.
func isReset(prev *series, vals, bounds []float64) bool {
	if len(prev.Vals) != len(vals) || len(prev.Bounds) != len(bounds) {
		return true
	}
	for i, b := range bounds {
		if prev.Bounds[i] != b {
			return true
		}
	}
	for i, v := range vals {
		if len(vals) > 1 && i == 1 {
			continue // a histogram's or summary's sum
		}
		if v < prev.Vals[i] {
			return true
		}
	}
	return false
}

// perBucket turns [count, sum, cumulative buckets...] into [count, sum,
// per-bucket counts..., +Inf's count].
func perBucket(vals []float64) []float64 {
	out := []float64{vals[0], vals[1]}
	prev := 0.0
	for _, c := range vals[2:] {
		out = append(out, c-prev)
		prev = c
	}
	return append(out, vals[0]-prev)
}

// pinned is the tracker of a redelivered batch: its pinned points; the
// start of a cumulative series' run comes from the state as before (a
// resend observes the same values again, which changes nothing).
type pinned struct {
	points  map[string]*point
	advance *advance
}

func (p pinned) delta(key string, _, _ []float64, _ bool, _, _ int64) (*point, bool) {
	pt, ok := p.points[key]
	return pt, ok
}

func (p pinned) start(key string, vals, bounds []float64, t, created int64) int64 {
	return p.advance.start(key, vals, bounds, t, created)
}

func (p pinned) total(key string, _ float64, _, _ int64) *point { return p.points[key] }
