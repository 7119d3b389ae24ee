// Package spool is the durable retry queue shared by all sinks: what a sink
// could not take in time is written here and delivered later, in order, by
// the running server or by the next run, exec or flush.
//
// Layout: one directory per sink under Options.Dir (the name escaped, see
// dirName), one file per batch named SEQUENCE-UNIXNANO.batch so names sort in
// put order. A file appears only complete (temp file, fsync, rename, fsync of
// the directory), so a crash or kill at any moment loses nothing whose Put
// returned. Delivery is at least once: a crash between a successful delivery
// and the removal of its file delivers that batch again.
//
// One process owns a spool dir at a time: Open takes a flock on DIR/.lock and
// fails with ErrLocked while another process holds it.
package spool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// The Fanout spools through this package.
var _ sink.Spooler = (*Spool)(nil)

// ErrLocked is returned by Open when another process uses the spool dir.
var ErrLocked = errors.New("spool dir is in use by another process")

// Drop reasons, the values of the reason label of metricwrap_spool_dropped_total.
const (
	ReasonMaxBytes  = "max_bytes" // the spool was full; the oldest entry went
	ReasonMaxAge    = "max_age"   // the entry was older than MaxAge
	ReasonPermanent = "permanent" // the sink rejected it for good on replay
	ReasonCorrupt   = "corrupt"   // unreadable; moved to quarantine/
)

const (
	entrySuffix   = ".batch"
	tempSuffix    = ".tmp"
	quarantineDir = "quarantine"
)

// Options configure a Spool. Zero MaxBytes or MaxAge means no such bound.
type Options struct {
	Dir      string
	MaxBytes int64
	MaxAge   time.Duration
	Logger   *slog.Logger
	// Registerer receives the spool's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Spool is a set of per-sink FIFO queues on disk. All methods are safe for
// concurrent use.
type Spool struct {
	opts   Options
	logger *slog.Logger
	lock   *os.File
	seq    atomic.Uint64
	now    func() time.Time
	nosync bool // tests only: skip fsync when building large fixtures

	mu     sync.Mutex // guards queues, every queue's entries and bytes, and bytes
	queues map[string]*queue
	bytes  int64

	dropped   *prometheus.CounterVec
	collector prometheus.Collector
}

// queue is one sink's backlog.
type queue struct {
	sink string
	dir  string
	// putMu makes a sink's Puts take sequence numbers and join entries in
	// the same order.
	putMu sync.Mutex
	// replaying admits one Replay at a time; a channel so waiting honours ctx.
	replaying chan struct{}
	entries   []entry // ascending seq
	bytes     int64
}

// entry is one spooled batch, as known from its file name and size.
type entry struct {
	seq  uint64
	name string
	put  time.Time
	size int64
}

// Open opens (creating it if needed) the spool in o.Dir, removes temp files
// left by a crash and indexes every sink's backlog.
func Open(o Options) (*Spool, error) {
	if o.Dir == "" {
		return nil, errors.New("spool dir is not set")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{opts: o, logger: o.Logger, lock: lock, now: time.Now, queues: map[string]*queue{}}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if err := s.load(); err != nil {
		_ = lock.Close()
		return nil, err
	}
	if err := s.register(o.Registerer); err != nil {
		_ = lock.Close()
		return nil, err
	}
	s.enforceBounds()
	return s, nil
}

// Close releases the spool dir and unregisters the metrics. Calls after
// Close must not be made.
func (s *Spool) Close() error {
	if s.opts.Registerer != nil {
		s.opts.Registerer.Unregister(s.collector)
		s.opts.Registerer.Unregister(s.dropped)
	}
	return s.lock.Close()
}

// load indexes every sink directory that holds entries.
func (s *Spool) load() error {
	des, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("read spool dir: %w", err)
	}
	var maxSeq uint64
	for _, de := range des {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		name, err := sinkName(de.Name())
		if err != nil {
			s.logger.Warn("ignoring directory in spool dir", "dir", de.Name(), "err", err)
			continue
		}
		q := newQueue(name, filepath.Join(s.opts.Dir, de.Name()))
		files, err := os.ReadDir(q.dir)
		if err != nil {
			return fmt.Errorf("read spool dir of sink %s: %w", name, err)
		}
		for _, f := range files {
			if !f.Type().IsRegular() {
				continue
			}
			if strings.HasSuffix(f.Name(), tempSuffix) {
				err := os.Remove(filepath.Join(q.dir, f.Name()))
				s.logger.Info("removed temp file left by an interrupted spool write", "sink", name, "file", f.Name(), "err", err)
				continue
			}
			e, ok := parseEntryName(f.Name())
			if !ok {
				continue
			}
			info, err := f.Info()
			if err != nil {
				return fmt.Errorf("stat spool entry: %w", err)
			}
			e.size = info.Size()
			q.entries = append(q.entries, e)
			q.bytes += e.size
			maxSeq = max(maxSeq, e.seq)
		}
		if len(q.entries) == 0 {
			continue
		}
		sort.Slice(q.entries, func(i, j int) bool { return q.entries[i].seq < q.entries[j].seq })
		s.queues[name] = q
		s.bytes += q.bytes
	}
	s.seq.Store(maxSeq)
	return nil
}

func newQueue(sink, dir string) *queue {
	return &queue{sink: sink, dir: dir, replaying: make(chan struct{}, 1)}
}

func entryName(seq uint64, t time.Time) string {
	return fmt.Sprintf("%020d-%d%s", seq, t.UnixNano(), entrySuffix)
}

func parseEntryName(name string) (entry, bool) {
	base, ok := strings.CutSuffix(name, entrySuffix)
	if !ok {
		return entry{}, false
	}
	seqStr, nanoStr, ok := strings.Cut(base, "-")
	if !ok {
		return entry{}, false
	}
	seq, err1 := strconv.ParseUint(seqStr, 10, 64)
	nano, err2 := strconv.ParseInt(nanoStr, 10, 64)
	if err1 != nil || err2 != nil {
		return entry{}, false
	}
	return entry{seq: seq, name: name, put: time.Unix(0, nano)}, true
}

// queueFor returns the sink's queue, creating it (and its directory) when
// create is set; nil when it does not exist and create is not set.
func (s *Spool) queueFor(sinkName string, create bool) (*queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[sinkName]; ok || !create {
		return q, nil
	}
	if sinkName == "" {
		return nil, errors.New("spool: empty sink name")
	}
	q := newQueue(sinkName, filepath.Join(s.opts.Dir, dirName(sinkName)))
	if err := os.MkdirAll(q.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir of sink %s: %w", sinkName, err)
	}
	s.queues[sinkName] = q
	return q, nil
}

// Put appends b to the sink's queue. When Put returns nil the batch is on
// disk and survives a crash; then the bounds are applied, oldest first.
func (s *Spool) Put(sinkName string, b *batch.Batch) error {
	data, err := encode(b)
	if err != nil {
		return err
	}
	if s.opts.MaxBytes > 0 && int64(len(data)) > s.opts.MaxBytes {
		return fmt.Errorf("spool batch %s: %d bytes is more than the spool's max_bytes (%d)", b.ID, len(data), s.opts.MaxBytes)
	}
	q, err := s.queueFor(sinkName, true)
	if err != nil {
		return err
	}
	q.putMu.Lock()
	defer q.putMu.Unlock()
	now := s.now()
	e := entry{seq: s.seq.Add(1), put: now, size: int64(len(data))}
	e.name = entryName(e.seq, now)
	if err := s.writeAtomic(q.dir, e.name, data); err != nil {
		return fmt.Errorf("spool batch %s for sink %s: %w", b.ID, sinkName, err)
	}
	s.mu.Lock()
	q.entries = append(q.entries, e)
	q.bytes += e.size
	s.bytes += e.size
	s.mu.Unlock()
	s.enforceBounds()
	return nil
}

// writeAtomic makes dir/name appear complete or not at all.
func (s *Spool) writeAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, name+".*"+tempSuffix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if !s.nosync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	if s.nosync {
		return nil
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// Replay delivers the sink's backlog oldest first, removing each entry only
// after deliver returned nil. It stops at the first failure so that order is
// kept, and returns that error. Two exceptions never stop it: an entry that
// deliver rejects with a sink.Permanent error is dropped (the receiver will
// never take it; logged and counted with reason "permanent"), and an entry
// that cannot be decoded is moved to the sink's quarantine/ directory (logged
// and counted with reason "corrupt"). Entries Put during a Replay wait for the
// next one. One Replay per sink runs at a time; others wait, honouring ctx.
func (s *Spool) Replay(ctx context.Context, sinkName string, deliver func(context.Context, *batch.Batch) error) (int, error) {
	q, _ := s.queueFor(sinkName, false)
	if q == nil {
		return 0, nil
	}
	select {
	case q.replaying <- struct{}{}:
		defer func() { <-q.replaying }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	s.enforceBounds()
	s.mu.Lock()
	var last uint64
	if n := len(q.entries); n > 0 {
		last = q.entries[n-1].seq
	}
	s.mu.Unlock()

	delivered := 0
	for {
		if err := ctx.Err(); err != nil {
			return delivered, err
		}
		s.mu.Lock()
		if len(q.entries) == 0 || q.entries[0].seq > last {
			s.mu.Unlock()
			return delivered, nil
		}
		e := q.entries[0]
		s.mu.Unlock()

		if s.expired(e, s.now()) {
			s.drop(q, e, ReasonMaxAge, nil)
			continue
		}
		data, err := os.ReadFile(filepath.Join(q.dir, e.name))
		if errors.Is(err, fs.ErrNotExist) {
			s.remove(q, e) // dropped by the bounds meanwhile, or removed by hand
			continue
		}
		if err != nil {
			return delivered, fmt.Errorf("read spool entry %s of sink %s: %w", e.name, sinkName, err)
		}
		b, err := decode(data)
		if err != nil {
			s.quarantine(q, e, err)
			continue
		}
		if err := deliver(ctx, b); err != nil {
			if sink.IsPermanent(err) {
				s.drop(q, e, ReasonPermanent, err)
				continue
			}
			return delivered, fmt.Errorf("deliver spooled batch %s to sink %s: %w", b.ID, sinkName, err)
		}
		if s.remove(q, e) {
			s.unlink(q, e)
		}
		delivered++
	}
}
