// Package shard splits serve's scheduled exporters across replicas, as
// Prometheus splits its targets with hashmod: each replica is told how many
// shards there are (N) and which one it is (I), and runs only the schedules
// whose hash, mod N, is I. On-demand runs (/metrics/NAME) are not sharded:
// every replica serves them.
//
// Sharded runs sit on a wall-clock grid: a schedule of interval T runs at
// the instants t where (t - phase) is a multiple of T, the phase coming from
// the same hash (so the schedules of one interval spread over it). Two
// replicas that both believe they own a schedule would therefore run it at
// the same instant, never twice in one interval by drift; and a replica
// that gains a schedule in a reload waits for the first grid point at least
// min(T, HandoverMax) after the reload, so the old owner, reloaded a little
// later, has stopped it by then (the rule is in docs/scaling.md).
package shard

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// HandoverMax bounds the wait of a schedule a reload moved to this replica:
// it first runs at the first point of its grid at least min(interval,
// HandoverMax) after the reload. Replicas reloaded within that time of each
// other never both run a moved schedule in one interval.
const HandoverMax = time.Minute

// Cluster is this process's place in the cluster: the flags, resolved once,
// and the plan of the current generation. A nil Cluster shards nothing.
type Cluster struct {
	flagShards int
	index      int // -1: --cluster.shard not given
	log        *slog.Logger

	mu  sync.Mutex
	cur *Plan
}

// New resolves --cluster.shards and --cluster.shard. shard is "", a number,
// or "auto": the ordinal at the end of hostname, as a StatefulSet names its
// pods (NAME-0, NAME-1, ...).
func New(shards int, shard, hostname string, reg prometheus.Registerer, log *slog.Logger) (*Cluster, error) {
	if shards < 0 {
		return nil, fmt.Errorf("--cluster.shards=%d: must be at least 1 (or left out: no sharding)", shards)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{flagShards: shards, index: -1, log: log}
	switch shard {
	case "":
	case "auto":
		i := strings.LastIndexByte(hostname, '-')
		n, err := strconv.Atoi(hostname[i+1:])
		if i < 0 || err != nil || n < 0 || hostname[i+1:] != strconv.Itoa(n) {
			return nil, fmt.Errorf("--cluster.shard=auto: the host name %q does not end in a StatefulSet ordinal (NAME-0, NAME-1, ...); run in a StatefulSet or set --cluster.shard=I", hostname)
		}
		c.index = n
	default:
		n, err := strconv.Atoi(shard)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--cluster.shard=%q: must be a shard number from 0 to N-1, or auto", shard)
		}
		c.index = n
	}
	if reg != nil {
		if err := reg.Register(collector{c}); err != nil {
			return nil, fmt.Errorf("registering the cluster metrics: %w", err)
		}
	}
	return c, nil
}

// Plan is which schedules one generation runs, and when. A nil Plan means
// no sharding: every schedule, at once and then every interval.
type Plan struct {
	shards, index int
	// prevShards is the shard count of the generation before (0: none, or
	// not sharded); a schedule it did not give to this replica is gained.
	prevShards int
	prevIndex  int
	at         time.Time
	owned      int
	total      int
}

// String is the current plan as the status page shows it: "" without
// sharding.
func (c *Cluster) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.String()
}

// Elsewhere names the shard that runs the scheduled exporter e when this
// replica does not: "" without sharding or when e is this replica's.
func (c *Cluster) Elsewhere(e *exporter.Entry) string {
	c.mu.Lock()
	p := c.cur
	c.mu.Unlock()
	if p == nil || p.shards == 0 || p.Owns(e) {
		return ""
	}
	return fmt.Sprintf("shard %d", Shard(e.Name(), e.ScheduleParams, p.shards))
}

// Plan decides the sharding of a new generation with the exporters of set;
// cfgShards is global.cluster_shards (0: unset), which overrides
// --cluster.shards so that a reload can change N. The first plan of the
// process refuses a shard outside [0, N); a reload that leaves this replica
// outside (N lowered before the StatefulSet is scaled down) makes it run no
// schedules, with a warning, rather than fail and keep running the old
// share. The plan takes effect with Use.
func (c *Cluster) Plan(cfgShards int, set *exporter.Set, now time.Time) (*Plan, error) {
	if c == nil {
		return nil, nil
	}
	n := c.flagShards
	if cfgShards > 0 {
		n = cfgShards
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.cur == nil
	switch {
	case n == 0 && c.index >= 0:
		return nil, fmt.Errorf("--cluster.shard=%d needs the shard count: set --cluster.shards=N or global.cluster_shards", c.index)
	case n == 0:
		return nil, nil
	case c.index < 0:
		return nil, fmt.Errorf("sharding into %d shards needs this replica's shard: set --cluster.shard=I (0 to %d) or --cluster.shard=auto in a StatefulSet", n, n-1)
	case c.index >= n && first:
		return nil, fmt.Errorf("--cluster.shard=%d is outside the %d shards (0 to %d): give each replica a shard below --cluster.shards, or raise it", c.index, n, n-1)
	case c.index >= n:
		c.log.Warn("this replica's shard is outside the shard count: it runs no schedules until it is scaled down or the count raised",
			"shard", c.index, "shards", n)
	}
	p := &Plan{shards: n, index: c.index, at: now}
	if c.cur != nil {
		p.prevShards, p.prevIndex = c.cur.shards, c.cur.index
	}
	for _, e := range set.Entries() {
		if e.Schedule > 0 {
			p.total++
			if p.Owns(e) {
				p.owned++
			}
		}
	}
	return p, nil
}

// Use records the plan of the generation that now runs (nil: not
// sharded), for the metrics and for what the next plan counts as gained.
func (c *Cluster) Use(p *Plan) {
	if c == nil {
		return
	}
	if p == nil {
		p = &Plan{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = p
}

// hash is the stable hash of a schedule: its exporter's name and its
// schedule_params sorted by name. The first half picks the shard, the
// second the phase.
func hash(name string, params map[string]string) (uint64, uint64) {
	h := sha256.New()
	h.Write([]byte(name))
	for _, k := range slices.Sorted(maps.Keys(params)) {
		h.Write([]byte{0xff})
		h.Write([]byte(k))
		h.Write([]byte{0xfe})
		h.Write([]byte(params[k]))
	}
	sum := h.Sum(nil)
	return binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])
}

// Shard is the shard, from 0 to shards-1, that runs a schedule.
func Shard(name string, params map[string]string, shards int) int {
	s, _ := hash(name, params)
	return int(s % uint64(shards))
}

// Phase is the offset of a schedule's grid: with sharding on, it runs at
// the instants phase + k*interval since the Unix epoch.
func Phase(name string, params map[string]string, interval time.Duration) time.Duration {
	_, ph := hash(name, params)
	return time.Duration(ph % uint64(interval))
}

// Owns says whether this replica runs the scheduled exporter e.
func (p *Plan) Owns(e *exporter.Entry) bool {
	return p.shards > 0 && Shard(e.Name(), e.ScheduleParams, p.shards) == p.index
}

// gained says whether the generation before did not run e here.
func (p *Plan) gained(e *exporter.Entry) bool {
	if p.prevShards == 0 {
		return false
	}
	return p.prevIndex >= p.prevShards || Shard(e.Name(), e.ScheduleParams, p.prevShards) != p.prevIndex
}

// Next is when e runs next after now: the first point of its grid after
// now, and for a schedule this generation gained, not before
// min(interval, HandoverMax) after the reload.
func (p *Plan) Next(e *exporter.Entry, now time.Time) time.Time {
	t := e.Schedule
	phase := Phase(e.Name(), e.ScheduleParams, t)
	after := now
	if p.gained(e) {
		if hold := p.at.Add(min(t, HandoverMax)); hold.After(after) {
			after = hold.Add(-1) // a grid point exactly at hold is allowed
		}
	}
	// The grid is phase + k*T since the Unix epoch; k is the first with
	// a point strictly after `after`.
	since := after.Sub(time.Unix(0, 0).Add(phase))
	k := since/t + 1
	return time.Unix(0, 0).Add(phase + k*t)
}

// String is the plan as the status page shows it.
func (p *Plan) String() string {
	if p == nil || p.shards == 0 {
		return ""
	}
	return fmt.Sprintf("shard %d of %d (--cluster.shards): runs %d of %d schedules", p.index, p.shards, p.owned, p.total)
}

var (
	shardDesc = prometheus.NewDesc("metricwrap_cluster_shard",
		"The shard (0 to N-1) of scheduled exporters this replica runs; absent without sharding.", nil, nil)
	shardsDesc = prometheus.NewDesc("metricwrap_cluster_shards",
		"The number of shards scheduled exporters are split into (--cluster.shards, global.cluster_shards).", nil, nil)
	ownedDesc = prometheus.NewDesc("metricwrap_cluster_owned_schedules",
		"Scheduled exporters this replica runs, of all in its config.", nil, nil)
)

// collector exports the current plan.
type collector struct{ c *Cluster }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- shardDesc
	ch <- shardsDesc
	ch <- ownedDesc
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	k.c.mu.Lock()
	p := k.c.cur
	k.c.mu.Unlock()
	if p == nil || p.shards == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(shardDesc, prometheus.GaugeValue, float64(p.index))
	ch <- prometheus.MustNewConstMetric(shardsDesc, prometheus.GaugeValue, float64(p.shards))
	ch <- prometheus.MustNewConstMetric(ownedDesc, prometheus.GaugeValue, float64(p.owned))
}
