package spool

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/metricwrap/metricwrap/internal/batch"
)

// expired reports whether e is older than MaxAge at now.
func (s *Spool) expired(e entry, now time.Time) bool {
	return s.opts.MaxAge > 0 && now.Sub(e.put) > s.opts.MaxAge
}

// victim is an entry taken out of the index by the bounds, still to unlink.
type victim struct {
	q      *queue
	e      entry
	reason string
}

// enforceBounds drops, across all sinks, the entries older than MaxAge and
// then the oldest entries until the spool holds at most MaxBytes.
func (s *Spool) enforceBounds() {
	now := s.now()
	var victims []victim
	s.mu.Lock()
	if s.opts.MaxAge > 0 {
		for _, q := range s.queues {
			for len(q.entries) > 0 && s.expired(q.entries[0], now) {
				victims = append(victims, victim{q, s.popLocked(q), ReasonMaxAge})
			}
		}
	}
	for s.opts.MaxBytes > 0 && s.bytes > s.opts.MaxBytes {
		var oldest *queue
		for _, q := range s.queues {
			if len(q.entries) > 0 && (oldest == nil || q.entries[0].seq < oldest.entries[0].seq) {
				oldest = q
			}
		}
		if oldest == nil {
			break
		}
		victims = append(victims, victim{oldest, s.popLocked(oldest), ReasonMaxBytes})
	}
	s.mu.Unlock()
	for _, v := range victims {
		s.unlink(v.q, v.e)
		s.logDrop(v.q, v.e, v.reason, nil)
	}
}

// popLocked removes the queue's first entry from the index.
func (s *Spool) popLocked(q *queue) entry {
	e := q.entries[0]
	q.entries = q.entries[1:]
	q.bytes -= e.size
	s.bytes -= e.size
	return e
}

// remove takes e out of the index; false when it was no longer there.
func (s *Spool) remove(q *queue, e entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range q.entries {
		if x.seq == e.seq {
			if i == 0 {
				q.entries = q.entries[1:] // the usual case; no copy
			} else {
				q.entries = append(q.entries[:i], q.entries[i+1:]...)
			}
			q.bytes -= e.size
			s.bytes -= e.size
			return true
		}
	}
	return false
}

// unlink deletes e's file. A failure only means the entry may be seen again
// after a restart (at least once), so it is logged, not returned.
func (s *Spool) unlink(q *queue, e entry) {
	_ = os.Remove(filepath.Join(q.dir, e.name+refusedSuffix))
	err := os.Remove(filepath.Join(q.dir, e.name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger.Error("cannot remove spool entry; it may be delivered again after a restart", "sink", q.sink, "queue", q.key, "file", e.name, "err", err)
	}
}

// drop removes e for reason, logs and counts it.
func (s *Spool) drop(q *queue, e entry, reason string, cause error) {
	if !s.remove(q, e) {
		return
	}
	s.unlink(q, e)
	s.logDrop(q, e, reason, cause)
}

func (s *Spool) logDrop(q *queue, e entry, reason string, cause error) {
	if s.dropped != nil {
		s.dropped.WithLabelValues(q.sink, reason).Inc()
	}
	attrs := []any{"sink", q.sink, "queue", q.key, "file", e.name, "reason", reason, "age", s.now().Sub(e.put).Round(time.Second)}
	if cause != nil {
		attrs = append(attrs, "err", cause)
	}
	s.logger.Warn("dropped spooled batch", attrs...)
}

// setAside quarantines an entry its destination refused (see Replay) and
// logs it once, with the destination's answer.
func (s *Spool) setAside(qu *queue, e entry, b *batch.Batch, cause error) {
	if s.quarantine(qu, e, "refused", cause) {
		s.logger.Error("quarantined a batch its destination refuses; the batches behind it go on",
			"sink", qu.sink, "queue", qu.key, "batch", b.ID, "file", filepath.Join(qu.dir, quarantineDir, e.name), "answer", cause)
	}
}

// quarantine moves an entry out of the queue into DIR/QUEUE/quarantine/,
// with the cause in a .reason file beside it, for an operator to look at,
// so that replay goes on. If even that fails the file is deleted: a bad
// entry must never block a queue. It reports whether the entry was moved.
func (s *Spool) quarantine(qu *queue, e entry, reason string, cause error) bool {
	if !s.remove(qu, e) {
		return false
	}
	if reason == ReasonCorrupt {
		if s.dropped != nil {
			s.dropped.WithLabelValues(qu.sink, ReasonCorrupt).Inc()
		}
	} else if s.quarantined != nil {
		s.quarantined.WithLabelValues(qu.sink).Inc()
	}
	s.mu.Lock()
	qu.quarantines++
	s.mu.Unlock()
	qdir := filepath.Join(qu.dir, quarantineDir)
	dst := filepath.Join(qdir, e.name)
	err := os.MkdirAll(qdir, 0o700)
	if err == nil {
		err = os.WriteFile(dst+reasonSuffix, []byte(cause.Error()+"\n"), 0o600)
	}
	if err == nil {
		err = os.Rename(filepath.Join(qu.dir, e.name), dst)
	}
	_ = os.Remove(filepath.Join(qu.dir, e.name+refusedSuffix))
	if err != nil {
		s.unlink(qu, e)
		s.logger.Error("deleted a spool entry that could not be quarantined", "sink", qu.sink, "file", e.name, "err", cause, "quarantine_err", err)
		return false
	}
	if reason == ReasonCorrupt {
		s.logger.Error("quarantined corrupt spool entry", "sink", qu.sink, "file", dst, "err", cause)
	}
	s.pruneQuarantine(qu.dir)
	return true
}

// pruneQuarantine removes the quarantined batches of the queue in dir (and
// their .reason files) that are older than MaxAge, as spooled ones are
// dropped: what a destination refused is kept for an operator to look at
// for that long, not for ever. It runs when a queue is loaded and after
// each quarantine, so a destination that refuses every run cannot fill
// the disk.
func (s *Spool) pruneQuarantine(dir string) {
	if s.opts.MaxAge <= 0 {
		return
	}
	qdir := filepath.Join(dir, quarantineDir)
	files, err := os.ReadDir(qdir)
	if err != nil {
		return
	}
	now := s.now()
	for _, f := range files {
		// NAME.batch and its NAME.batch.reason, each judged by NAME.
		e, ok := parseEntryName(strings.TrimSuffix(f.Name(), reasonSuffix))
		if !ok || !s.expired(e, now) {
			continue
		}
		if err := os.Remove(filepath.Join(qdir, f.Name())); err == nil && !strings.HasSuffix(f.Name(), reasonSuffix) {
			s.logger.Info("removed a quarantined batch older than spool.max_age", "queue", filepath.Base(dir), "file", f.Name())
		}
	}
}
