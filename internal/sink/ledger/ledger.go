// Package ledger is the pinning rule the delta sinks (Dynatrace's line
// protocol and OTLP in delta mode) share, decided here once so they cannot
// drift apart: a batch's points (counter deltas) are computed once, the first
// time the sink sees the batch ID, and pinned to that ID in a state file
// beside the spool until the batch is delivered or failed permanently. A
// retried or spooled batch, even after a restart, sends exactly its pinned
// points again and skips the requests a previous attempt already got
// answered (Sent), so a failed push neither loses nor double counts a delta.
// Done batches are kept, without points, until a TTL, so a redelivery after
// a crash between delivery and the spool's bookkeeping sends nothing instead
// of counting everything again.
//
// What a sink pins and how it computes it (series baselines, deltas,
// requests) stays in the sink: a sink's state type embeds Ledger beside its
// baselines, and its pin type embeds Entry beside its points, so each sink
// keeps its own JSON field names and the files written before this package
// existed still load.
package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink"
)

// Version is the state file format this package writes and reads. A file
// of a later version was written by a newer metricwrap, whose meaning this
// one cannot know, so it is refused rather than misread.
const Version = 1

// TTL bounds how long a batch is remembered for redelivery; it matches the
// spool's default max_age, after which the spool gives up on a batch.
const TTL = 72 * time.Hour

// Entry is the bookkeeping of one batch seen: when, how many of its
// requests (or lines) the receiver already answered, and whether it is
// settled for good. A sink's pin type embeds it; the JSON fields are
// promoted, so the file keeps the shape it always had.
type Entry struct {
	Created time.Time `json:"created"`
	Sent    int       `json:"sent,omitempty"`
	Done    bool      `json:"done,omitempty"`
}

func (e *Entry) entry() *Entry { return e }

// Pin is a sink's pin type: a pointer to a struct that embeds Entry and
// holds the batch's points, which Unpin drops once the batch is done (a
// done batch only has to be recognised, not resent).
type Pin[T any] interface {
	*T
	entry() *Entry
	Unpin()
}

// Ledger is the pinned batches, by batch ID. A sink's state type embeds it
// (by value), which puts version and pending at the top of the state file
// beside the sink's own baselines. It is not safe for concurrent use: the
// sinks hold their lock around it.
type Ledger[T any, P Pin[T]] struct {
	Version int          `json:"version"`
	Pending map[string]P `json:"pending,omitempty"`
}

func (l *Ledger[T, P]) ledger() *Ledger[T, P] { return l }

// Init readies an empty ledger.
func (l *Ledger[T, P]) Init() {
	l.Version = Version
	l.Pending = map[string]P{}
}

// check is called after a load: it refuses a newer format and fills in
// what an older file (or one without pending batches) left out.
func (l *Ledger[T, P]) check() error {
	if l.Version > Version {
		return fmt.Errorf("version %d is newer than this metricwrap's %d", l.Version, Version)
	}
	l.Version = Version
	if l.Pending == nil {
		l.Pending = map[string]P{}
	}
	return nil
}

// Lookup returns the batch pinned to id, if any. An empty id (a batch not
// kept by the spool) is never pinned.
func (l *Ledger[T, P]) Lookup(id string) (P, bool) {
	if id == "" {
		return nil, false
	}
	p, ok := l.Pending[id]
	return p, ok
}

// Pin remembers p under id, created now; an empty id is not remembered.
func (l *Ledger[T, P]) Pin(id string, p P, now time.Time) {
	p.entry().Created = now
	if id != "" {
		l.Pending[id] = p
	}
}

// Settle records the outcome of delivering p, whose requests up to sent
// were answered: delivered (err nil) or failed permanently is done and
// unpinned; a retryable failure remembers sent, so the retry resumes there.
// It reports whether the ledger changed and must be saved; a batch that is
// not (or no longer) pinned under id, or already done, changes nothing.
func (l *Ledger[T, P]) Settle(id string, p P, sent int, err error) bool {
	if id == "" || l.Pending[id] != p {
		return false
	}
	e := p.entry()
	switch {
	case e.Done:
		return false
	case err == nil || sink.IsPermanent(err):
		e.Done, e.Sent = true, 0
		p.Unpin()
	case sent == e.Sent:
		return false // nothing changed since the last save
	default:
		e.Sent = sent
	}
	return true
}

// Expire forgets batches older than TTL and, when maxDone > 0, the oldest
// done batches beyond the newest maxDone. The cap is for a sink that
// remembers every batch of a busy server and rewrites the file on every
// one; batches not yet done are kept whatever their number.
func (l *Ledger[T, P]) Expire(now time.Time, maxDone int) {
	var done []string
	for id, p := range l.Pending {
		e := p.entry()
		switch {
		case now.Sub(e.Created) > TTL:
			delete(l.Pending, id)
		case e.Done:
			done = append(done, id)
		}
	}
	if maxDone > 0 && len(done) > maxDone {
		slices.SortFunc(done, func(a, b string) int {
			return l.Pending[a].entry().Created.Compare(l.Pending[b].entry().Created)
		})
		for _, id := range done[:len(done)-maxDone] {
			delete(l.Pending, id)
		}
	}
}

// File is a sink's state type: a struct embedding Ledger.
type File interface {
	check() error
}

// file is a File whose Ledger pins P.
type file[T any, P Pin[T]] interface {
	File
	ledger() *Ledger[T, P]
}

// ParseError is a state file that exists but cannot be read as ours: an
// operator must look at it, so the sink refuses to start rather than
// silently starting over (and resending or losing deltas).
type ParseError struct{ err error }

func (e *ParseError) Error() string { return e.err.Error() }
func (e *ParseError) Unwrap() error { return e.err }

// Store reads and writes one sink's state file, and its lock guards the
// state in memory: a sink holds it while it looks up, computes and pins a
// batch's points, never while it sends. A save failure (a read-only volume)
// costs one warning, then debug lines until a save works again, not one
// warning per batch.
type Store struct {
	// Path is the state file; empty keeps the state in memory only.
	Path string
	// Noun names the state in errors and logs ("counter state").
	Noun string
	// Log gets the save failures; nil discards them.
	Log *slog.Logger

	mu     sync.Mutex
	failed bool
}

// Lock locks the state.
func (s *Store) Lock() { s.mu.Lock() }

// Unlock unlocks the state.
func (s *Store) Unlock() { s.mu.Unlock() }

// Settle records, under the store's lock, the outcome of delivering the
// batch p pinned to id in f (see Ledger.Settle) and saves f when that
// changed it. It returns err, so that a sink's Push can end with it.
func Settle[F file[T, P], T any, P Pin[T]](s *Store, f F, id string, p P, sent int, err error) error {
	if id == "" {
		return err
	}
	s.Lock()
	defer s.Unlock()
	if f.ledger().Settle(id, p, sent, err) {
		s.Save(f)
	}
	return err
}

// Load reads the file into f, which the caller has initialised (a missing
// file, or no Path, leaves it as it is). A file that does not parse, or of
// a newer version, is a *ParseError.
func (s *Store) Load(f File) error {
	if s.Path == "" {
		return nil
	}
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", s.Noun, err)
	}
	if err := json.Unmarshal(data, f); err != nil {
		return &ParseError{fmt.Errorf("parse %s %s (delete it to start over): %w", s.Noun, s.Path, err)}
	}
	if err := f.check(); err != nil {
		return &ParseError{fmt.Errorf("parse %s %s (delete it to start over): %w", s.Noun, s.Path, err)}
	}
	return nil
}

// Save persists f, under the store's lock; a failure is logged, not returned: the data still goes
// out and the state in memory stays right.
func (s *Store) Save(f File) {
	err := s.write(f)
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case err != nil && !s.failed:
		s.Log.Warn("cannot persist the "+s.Noun+"; keeping it in memory, so a restart may resend or lose deltas", "err", err)
	case err != nil:
		s.Log.Debug("cannot persist the "+s.Noun, "err", err)
	}
	s.failed = err != nil
}

// write replaces the file atomically: temp file, fsync, rename, fsync dir,
// so a crash leaves the old state or the new one, never half of either.
func (s *Store) write(f File) error {
	if s.Path == "" {
		return nil
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode %s: %w", s.Noun, err)
	}
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s dir: %w", s.Noun, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.Path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", s.Noun, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", s.Noun, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", s.Noun, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", s.Noun, err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("replace %s: %w", s.Noun, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every filesystem syncs directories
		d.Close()
	}
	return nil
}
