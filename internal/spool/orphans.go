package spool

import (
	"time"

	"github.com/metricwrap/metricwrap/internal/sink"
)

// Orphan is a queue that no sink of this process owns: its sink's
// destination changed (another URL, tenant, bucket, job), the sink was
// renamed or removed, or it was written by a version that keyed queues by
// sink name only (Legacy). Its batches are never delivered elsewhere.
type Orphan struct {
	// Queue is the queue's directory name under the spool dir.
	Queue string
	// Sink is the sink name the queue was made for.
	Sink string
	// Destination is where its batches were meant to go; empty when
	// unknown (Legacy).
	Destination string
	Legacy      bool
	Batches     int
	Bytes       int64
	// Oldest is when the oldest batch was spooled.
	Oldest time.Time
}

// Orphans lists the queues holding batches that no sink of this process
// owns (see Own), sorted by directory name.
func (s *Spool) Orphans() []Orphan {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Orphan
	for _, q := range s.queues {
		if q.owned || len(q.entries) == 0 {
			continue
		}
		out = append(out, Orphan{
			Queue: q.key, Sink: q.sink, Destination: q.destination, Legacy: q.legacy,
			Batches: len(q.entries), Bytes: q.bytes, Oldest: q.entries[0].put,
		})
	}
	sortOrphans(out)
	return out
}

func sortOrphans(o []Orphan) {
	for i := 1; i < len(o); i++ {
		for j := i; j > 0 && o[j].Queue < o[j-1].Queue; j-- {
			o[j], o[j-1] = o[j-1], o[j]
		}
	}
}

// LogOrphans logs one warning per orphaned queue, naming it and saying what
// to do.
func (s *Spool) LogOrphans() {
	for _, o := range s.Orphans() {
		attrs := []any{"queue", o.Queue, "sink", o.Sink, "batches", o.Batches, "oldest", o.Oldest.UTC().Format(time.RFC3339)}
		if o.Legacy {
			attrs = append(attrs, "destination", "unknown (spooled by a version that keyed queues by sink name)")
		} else {
			attrs = append(attrs, "destination", o.Destination)
		}
		s.logger.Warn("spooled batches whose destination no sink delivers to are kept, not delivered elsewhere, until spool.max_age; "+
			"restore that sink's settings to deliver them, or run `metricwrap flush --drop-orphans` to drop them", attrs...)
	}
}

// DropOrphans deletes every batch of the queues Orphans lists, counting
// them as dropped with reason "orphan", and returns how many it dropped.
func (s *Spool) DropOrphans() int {
	n := 0
	for _, o := range s.Orphans() {
		s.mu.Lock()
		q := s.queues[o.Queue]
		entries := append([]entry(nil), q.entries...)
		s.mu.Unlock()
		for _, e := range entries {
			s.drop(q, e, ReasonOrphan, nil)
			n++
		}
	}
	return n
}

// Depth is how many batches wait in q's queue.
func (s *Spool) Depth(q sink.Queue) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if qu, ok := s.queues[queueKey(q)]; ok {
		return len(qu.entries)
	}
	return 0
}
