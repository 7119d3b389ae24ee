// Package spool is the durable retry queue shared by all sinks: a batch is
// written here before its first delivery attempt and removed only after its
// destination acknowledged it, so what a sink could not take is delivered
// later, in order, by the running server or by the next run, exec or flush.
//
// Layout: one directory per queue under Options.Dir. A queue belongs to one
// sink at one destination (sink.Queue): its directory is the sink name
// (escaped, see dirName), '@' and a hash of the sink name and destination,
// the way Prometheus keys each remote-write queue by a hash of its config; a
// queue.json beside the entries names both for people and for reports. One
// file per batch named SEQUENCE-UNIXNANO.batch so names sort in put order. A
// file appears only complete (temp file, fsync, rename, fsync of the
// directory), so a crash or kill at any moment loses nothing whose Put
// returned. Delivery is at least once: a crash between a delivery the
// destination took and the removal of its file delivers that same batch
// again.
//
// A queue no sink of the running process owns (its destination changed, or
// a directory written by a version that keyed queues by sink name only) is
// an orphan: never replayed, reported by Orphans, kept until max_age, and
// removed on purpose with DropOrphans.
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

	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

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
	ReasonMaxBytes = "max_bytes" // the spool was full; the oldest entry went
	ReasonMaxAge   = "max_age"   // the entry was older than MaxAge
	ReasonCorrupt  = "corrupt"   // unreadable; moved to quarantine/
	ReasonOrphan   = "orphan"    // its queue had no owner; dropped on purpose
)

const (
	entrySuffix   = ".batch"
	tempSuffix    = ".tmp"
	reasonSuffix  = ".reason"
	refusedSuffix = ".refused"
	quarantineDir = "quarantine"
	queueMetaFile = "queue.json"
)

// DefaultMaxRefusals is how many times a destination may refuse the batch
// at the head of its queue, while answering (sink.BlamesBatch), before the
// spool tries the batch behind it; if the destination takes that one, the
// head is set aside.
const DefaultMaxRefusals = sink.MaxRefusals

// Options configure a Spool. Zero MaxBytes or MaxAge means no such bound.
type Options struct {
	Dir      string
	MaxBytes int64
	MaxAge   time.Duration
	// MaxRefusals is DefaultMaxRefusals when zero.
	MaxRefusals int
	Logger      *slog.Logger
	// Registerer receives the spool's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Spool is a set of per-destination FIFO queues on disk. All methods are
// safe for concurrent use.
type Spool struct {
	opts   Options
	logger *slog.Logger
	lock   *os.File
	seq    atomic.Uint64
	now    func() time.Time
	nosync bool // tests only: skip fsync when building large fixtures
	// step, tests only, is called at each step of a replay, so a test can
	// kill the process at exactly that point.
	step func(what string, b *batch.Batch)

	mu     sync.Mutex // guards queues, every queue's entries, bytes, owned and strikes, and bytes
	queues map[string]*queue
	bytes  int64

	dropped     *prometheus.CounterVec
	quarantined *prometheus.CounterVec
	collector   prometheus.Collector
}

// queue is one destination's backlog.
type queue struct {
	key  string // the directory name
	sink string
	// destination is what the sink said when the queue was made; empty
	// for a queue of a version that keyed queues by sink name (legacy).
	destination string
	legacy      bool
	dir         string
	// owned: a sink of this process delivers this queue (Own, Put, Replay).
	owned bool
	// putMu makes a queue's Puts take sequence numbers and join entries in
	// the same order.
	putMu sync.Mutex
	// replaying admits one Replay at a time; a channel so waiting honours ctx.
	replaying chan struct{}
	entries   []entry // ascending seq
	bytes     int64
	// strikes counts the answered refusals of the entry at the head.
	strikes     int
	strikesSeq  uint64
	quarantines int
}

// entry is one spooled batch, as known from its file name and size.
type entry struct {
	seq  uint64
	name string
	put  time.Time
	size int64
}

// queueMeta is queue.json.
type queueMeta struct {
	Sink        string `json:"sink"`
	Destination string `json:"destination"`
}

// queueKey is the directory name of q's queue: readable (the sink name) and
// unique per sink and destination (the hash).
func queueKey(q sink.Queue) string {
	h := sha256.Sum256([]byte(q.Sink + "\x00" + q.Destination))
	return dirName(q.Sink) + "@" + hex.EncodeToString(h[:8])
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
		s.opts.Registerer.Unregister(s.quarantined)
	}
	return s.lock.Close()
}

// load indexes every queue directory that holds entries.
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
		q, err := s.loadQueue(de.Name())
		if err != nil {
			s.logger.Warn("ignoring directory in spool dir", "dir", de.Name(), "err", err)
			continue
		}
		files, err := os.ReadDir(q.dir)
		if err != nil {
			return fmt.Errorf("read spool queue %s: %w", q.key, err)
		}
		for _, f := range files {
			if !f.Type().IsRegular() {
				continue
			}
			if strings.HasSuffix(f.Name(), tempSuffix) {
				err := os.Remove(filepath.Join(q.dir, f.Name()))
				s.logger.Info("removed temp file left by an interrupted spool write", "queue", q.key, "file", f.Name(), "err", err)
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
		sort.Slice(q.entries, func(i, j int) bool { return q.entries[i].seq < q.entries[j].seq })
		s.pruneQuarantine(q.dir)
		s.queues[q.key] = q
		s.bytes += q.bytes
	}
	s.seq.Store(maxSeq)
	return nil
}

// loadQueue makes the queue of an existing directory: a keyed one (with
// its queue.json), or a legacy one named by sink only, which is an orphan
// for good: its destination is unknown.
func (s *Spool) loadQueue(name string) (*queue, error) {
	dir := filepath.Join(s.opts.Dir, name)
	sinkPart, _, keyed := strings.Cut(name, "@")
	sinkName, err := sinkName(sinkPart)
	if err != nil {
		return nil, err
	}
	q := newQueue(name, sinkName, dir)
	if !keyed {
		q.legacy = true
		return q, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, queueMetaFile))
	var m queueMeta
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	switch {
	case err != nil:
		s.logger.Warn("spool queue has no readable queue.json; it is reported by its directory name", "queue", name, "err", err)
	case queueKey(sink.Queue{Sink: m.Sink, Destination: m.Destination}) != name:
		s.logger.Warn("spool queue's queue.json does not match its directory name; it is reported by its directory name", "queue", name)
	default:
		q.destination = m.Destination
	}
	return q, nil
}

func newQueue(key, sinkName, dir string) *queue {
	return &queue{key: key, sink: sinkName, dir: dir, replaying: make(chan struct{}, 1)}
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

// queueFor returns q's queue and marks it owned, creating it (and its
// directory and queue.json) when create is set; nil when it does not exist
// and create is not set.
func (s *Spool) queueFor(q sink.Queue, create bool) (*queue, error) {
	key := queueKey(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	if qu, ok := s.queues[key]; ok || !create {
		if ok {
			qu.owned = true
			qu.destination = q.Destination
		}
		return qu, nil
	}
	if q.Sink == "" {
		return nil, errors.New("spool: empty sink name")
	}
	qu := newQueue(key, q.Sink, filepath.Join(s.opts.Dir, key))
	qu.destination, qu.owned = q.Destination, true
	if err := os.MkdirAll(qu.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool queue of sink %s: %w", q.Sink, err)
	}
	meta, err := json.Marshal(queueMeta{Sink: q.Sink, Destination: q.Destination})
	if err != nil {
		return nil, fmt.Errorf("spool queue of sink %s: %w", q.Sink, err)
	}
	if err := s.writeAtomic(qu.dir, queueMetaFile, meta); err != nil {
		return nil, fmt.Errorf("create spool queue of sink %s: %w", q.Sink, err)
	}
	s.queues[key] = qu
	return qu, nil
}

// Own marks the queues of qs as delivered by this process: they are not
// orphans, whether or not they hold anything yet.
func (s *Spool) Own(qs ...sink.Queue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range qs {
		if qu, ok := s.queues[queueKey(q)]; ok {
			qu.owned = true
		}
	}
}

// Put appends b to q's queue. When Put returns nil the batch is on disk
// and survives a crash; then the bounds are applied, oldest first.
func (s *Spool) Put(q sink.Queue, b *batch.Batch) error {
	data, err := encode(b)
	if err != nil {
		return err
	}
	if s.opts.MaxBytes > 0 && int64(len(data)) > s.opts.MaxBytes {
		return fmt.Errorf("spool batch %s: %d bytes is more than the spool's max_bytes (%d)", b.ID, len(data), s.opts.MaxBytes)
	}
	qu, err := s.queueFor(q, true)
	if err != nil {
		return err
	}
	qu.putMu.Lock()
	defer qu.putMu.Unlock()
	now := s.now()
	e := entry{seq: s.seq.Add(1), put: now, size: int64(len(data))}
	e.name = entryName(e.seq, now)
	if err := s.writeAtomic(qu.dir, e.name, data); err != nil {
		return fmt.Errorf("spool batch %s for sink %s: %w", b.ID, q.Sink, err)
	}
	s.mu.Lock()
	qu.entries = append(qu.entries, e)
	qu.bytes += e.size
	s.bytes += e.size
	s.mu.Unlock()
	s.stepHook("spooled", b)
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

// Replay delivers q's backlog oldest first, removing each entry only after
// deliver returned nil, so order is kept for everything delivered. It stops
// at a failure the destination may get over (it is down, or throttling) and
// returns that error. What never stops it:
//
//   - an entry deliver rejects with a permanent error (the destination, or
//     the sink's own check of the protocol's rules, refused it for good) is
//     quarantined with that answer;
//   - an entry the destination keeps refusing while it answers (MaxRefusals
//     refusals) is set aside the same way as soon as the destination takes
//     the entry behind it;
//   - an entry that cannot be decoded is quarantined as corrupt.
//
// Each quarantined entry is counted (metricwrap_spool_quarantined_total)
// and logged once, and lands in the queue's quarantine/ directory with a
// .reason file beside it. Entries Put during a Replay wait for the next one.
// One Replay per queue runs at a time; others wait, honouring ctx.
func (s *Spool) Replay(ctx context.Context, q sink.Queue, deliver func(context.Context, *batch.Batch) error) (int, error) {
	qu, _ := s.queueFor(q, false)
	if qu == nil {
		return 0, nil
	}
	select {
	case qu.replaying <- struct{}{}:
		defer func() { <-qu.replaying }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	s.enforceBounds()
	s.mu.Lock()
	var last uint64
	if n := len(qu.entries); n > 0 {
		last = qu.entries[n-1].seq
	}
	s.mu.Unlock()

	delivered := 0
	for {
		if err := ctx.Err(); err != nil {
			return delivered, err
		}
		e, b, ok, err := s.next(qu, 0, last)
		if !ok || err != nil {
			return delivered, err
		}
		s.stepHook("deliver", b)
		err = deliver(ctx, b)
		if err == nil {
			s.stepHook("delivered", b)
			s.done(qu, e)
			s.stepHook("removed", b)
			delivered++
			continue
		}
		if sink.IsPermanent(err) {
			s.setAside(qu, e, b, err)
			continue
		}
		if !sink.BlamesBatch(err) || s.strike(qu, e, refusals(err)) < s.maxRefusals() {
			return delivered, fmt.Errorf("deliver spooled batch %s to sink %s: %w", b.ID, q.Sink, err)
		}
		// The destination answers but keeps refusing this one: look behind
		// it. Entries refused as often (two poisoned batches in a row) are
		// passed over too; the first entry the destination takes sets aside
		// every struck-out entry before it, so order holds for everything
		// delivered. If none is taken, nothing is set aside.
		n, err := s.passOver(ctx, qu, q, last, e, b, err, deliver)
		delivered += n
		if err != nil {
			return delivered, err
		}
	}
}

// struck is an entry the destination refused MaxRefusals times.
type struck struct {
	e   entry
	b   *batch.Batch
	err error
}

// passOver is Replay's look behind a struck-out head (e, b, refused with
// err): it tries the entries behind it in order. A permanent refusal is
// set aside at once; a refusal that blames the batch strikes it, and when
// that entry too has struck out the look goes on; the first entry taken
// sets aside every struck-out entry before it. It returns how many were
// delivered (0 or 1) and a non-nil error when Replay must stop.
func (s *Spool) passOver(ctx context.Context, qu *queue, q sink.Queue, last uint64, e entry, b *batch.Batch, err error, deliver func(context.Context, *batch.Batch) error) (int, error) {
	aside := []struck{{e, b, err}}
	headErr := fmt.Errorf("deliver spooled batch %s to sink %s: %w", b.ID, q.Sink, err)
	for i := 1; ; {
		e2, b2, ok, err2 := s.next(qu, i, last)
		if !ok || err2 != nil {
			return 0, errors.Join(headErr, err2)
		}
		s.stepHook("deliver", b2)
		err2 = deliver(ctx, b2)
		if err2 == nil {
			s.stepHook("delivered", b2)
			for _, a := range aside {
				s.setAside(qu, a.e, a.b, fmt.Errorf("refused %d times while later batches were taken: %w", s.maxRefusals(), a.err))
			}
			s.done(qu, e2)
			s.stepHook("removed", b2)
			return 1, nil
		}
		if sink.IsPermanent(err2) {
			// Refused for good: it goes aside as it would at the head;
			// the entry behind it moves up to index i.
			s.setAside(qu, e2, b2, err2)
			continue
		}
		if !sink.BlamesBatch(err2) || s.strike(qu, e2, refusals(err2)) < s.maxRefusals() {
			return 0, headErr
		}
		aside = append(aside, struck{e2, b2, err2})
		i++
	}
}

// next reads the i-th live entry of qu up to seq last, dropping
// what expired or vanished and quarantining what cannot be decoded on the
// way; ok is false when there is none.
func (s *Spool) next(qu *queue, i int, last uint64) (entry, *batch.Batch, bool, error) {
	for {
		s.mu.Lock()
		if len(qu.entries) <= i || qu.entries[i].seq > last {
			s.mu.Unlock()
			return entry{}, nil, false, nil
		}
		e := qu.entries[i]
		s.mu.Unlock()
		if s.expired(e, s.now()) {
			s.drop(qu, e, ReasonMaxAge, nil)
			continue
		}
		data, err := os.ReadFile(filepath.Join(qu.dir, e.name))
		if errors.Is(err, fs.ErrNotExist) {
			s.remove(qu, e) // dropped by the bounds meanwhile, or removed by hand
			continue
		}
		if err != nil {
			return e, nil, false, fmt.Errorf("read spool entry %s of sink %s: %w", e.name, qu.sink, err)
		}
		b, err := decode(data)
		if err != nil {
			s.quarantine(qu, e, ReasonCorrupt, err)
			continue
		}
		return e, b, true, nil
	}
}

// done removes a delivered entry.
func (s *Spool) done(qu *queue, e entry) {
	if s.remove(qu, e) {
		s.unlink(qu, e)
	}
}

// strike records n answered refusals of e and returns e's total.
// The count is kept beside the entry (ENTRY.refused), so that refusals
// add up across processes too: each exec is one.
func (s *Spool) strike(qu *queue, e entry, n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	side := filepath.Join(qu.dir, e.name+refusedSuffix)
	if qu.strikesSeq != e.seq {
		qu.strikesSeq, qu.strikes = e.seq, 0
		if data, err := os.ReadFile(side); err == nil {
			qu.strikes, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		}
	}
	qu.strikes += max(n, 1)
	// Best effort: a count that is not written only delays setting the
	// batch aside.
	_ = os.WriteFile(side, []byte(strconv.Itoa(qu.strikes)+"\n"), 0o600)
	return qu.strikes
}

func (s *Spool) maxRefusals() int {
	if s.opts.MaxRefusals > 0 {
		return s.opts.MaxRefusals
	}
	return DefaultMaxRefusals
}

// refusals is how many answered refusals err stands for: what the fan-out's
// retries counted, else one.
func refusals(err error) int {
	var r interface{ Refusals() int }
	if errors.As(err, &r) {
		return r.Refusals()
	}
	return 1
}

func (s *Spool) stepHook(what string, b *batch.Batch) {
	if s.step != nil {
		s.step(what, b)
	}
}
