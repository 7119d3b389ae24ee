package dynatrace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// state is the counter state of one sink: the last cumulative value of
// every counter series, and the deltas of batches not yet delivered.
//
// The rule: a batch's deltas are computed once, the first time the sink
// sees its ID, against the values of the batches seen before it; the series
// values advance right then, and the deltas are pinned to the batch ID until
// the batch is delivered (or failed permanently). A retried or spooled
// batch, even after a restart, sends exactly its pinned deltas again and
// skips the lines a previous attempt already got accepted; the next batch's
// deltas start where this one's ended. So a failed push neither loses nor
// double counts a delta, and a batch delivered twice counts once. Pinned
// batches older than pendingTTL (the spool
// gave up on them) are forgotten, and their deltas with them.
type state struct {
	Version  int                 `json:"version"`
	Counters map[string]float64  `json:"counters"`
	Pending  map[string]*pending `json:"pending,omitempty"`
}

// pending is one batch seen: its pinned deltas and how many of its lines
// were already accepted or rejected by Dynatrace. Done batches are kept
// (without deltas) until the TTL, so that a duplicate redelivery, say after
// a crash between delivery and the spool's bookkeeping, sends nothing
// instead of counting everything again as a counter reset.
type pending struct {
	Created time.Time          `json:"created"`
	Sent    int                `json:"sent,omitempty"`
	Done    bool               `json:"done,omitempty"`
	Deltas  map[string]float64 `json:"deltas,omitempty"`
}

// pendingTTL bounds how long a batch's deltas are kept for redelivery; it
// matches the spool's default max_age.
const pendingTTL = 72 * time.Hour

func newState() *state {
	return &state{Version: 1, Counters: map[string]float64{}, Pending: map[string]*pending{}}
}

// stateParseError is a state file that exists but is not ours to read: an
// operator must look at it, so the sink refuses to start.
type stateParseError struct{ err error }

func (e *stateParseError) Error() string { return e.err.Error() }
func (e *stateParseError) Unwrap() error { return e.err }

// loadState reads path; a missing file is an empty state.
func loadState(path string) (*state, error) {
	st := newState()
	if path == "" {
		return st, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read counter state: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, &stateParseError{fmt.Errorf("parse counter state %s (delete it to start over): %w", path, err)}
	}
	if st.Counters == nil {
		st.Counters = map[string]float64{}
	}
	if st.Pending == nil {
		st.Pending = map[string]*pending{}
	}
	return st, nil
}

// save writes the state atomically: temp file, fsync, rename, fsync dir.
func (st *state) save(path string) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode counter state: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create counter state dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write counter state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write counter state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync counter state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write counter state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace counter state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every filesystem syncs directories
		d.Close()
	}
	return nil
}

// expire forgets pinned batches older than the TTL.
func (st *state) expire(now time.Time) {
	for id, p := range st.Pending {
		if now.Sub(p.Created) > pendingTTL {
			delete(st.Pending, id)
		}
	}
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
