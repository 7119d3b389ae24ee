package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/shard"
)

// TestShardedSchedules runs three serve replicas with one config of 30
// schedules: each schedule runs on the replica its hash names, once per
// interval across the three; a reload that lowers the shard count to 2,
// reaching the replicas half an interval apart, moves schedules without
// ever running one twice in an interval, and the third replica, now
// outside the count, runs none.
func TestShardedSchedules(t *testing.T) {
	t.Parallel()
	const (
		n        = 30
		interval = 3 * time.Second
	)
	gw := startGateway(t)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	if err := os.Mkdir(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	config := func(shards int) string {
		var b strings.Builder
		if shards > 0 {
			fmt.Fprintf(&b, "global: {cluster_shards: %d}\n", shards)
		}
		b.WriteString("exporters:\n  ondemand: {command: [/bin/sh, -c, 'echo up 1 > \"$METRICS_FILE\"']}\n")
		for i := range n {
			// Each run appends its replica and its time to the schedule's file.
			fmt.Fprintf(&b, "  s%02d: {command: [/bin/sh, -c, 'echo \"$REPLICA $(date +%%s.%%N)\" >> %s/s%02d; echo up 1 > \"$METRICS_FILE\"'], schedule: %s, sinks: [gw], env_passthrough: [REPLICA]}\n",
				i, runs, i, interval)
		}
		fmt.Fprintf(&b, "sinks:\n  gw: {type: pushgateway, url: %q, retry_for: 0s}\n", gw.URL)
		return b.String()
	}
	cfg := writeFile(t, dir, "metricwrap.yml", config(0), 0o644)

	var replicas []*served
	for i := range 3 {
		// Each replica has its own spool, as each pod has its volume.
		env := baseEnv(fmt.Sprintf("REPLICA=%d", i), "HOSTNAME=metricwrap-2", "XDG_STATE_HOME="+filepath.Join(dir, fmt.Sprint("state", i)))
		shardFlag := strconv.Itoa(i)
		if i == 2 {
			shardFlag = "auto" // from HOSTNAME, as in a StatefulSet
		}
		replicas = append(replicas, startServe(t, env, "--config.file", cfg, "--cluster.shards=3", "--cluster.shard="+shardFlag))
	}
	gauge := func(s *served, name string) float64 {
		t.Helper()
		_, body := get(t, s.url+"/metrics")
		samples, _ := flatten(parseFamilies(t, body))
		v, ok := samples[name+"{}"]
		if !ok {
			return -1
		}
		return v
	}
	owned := func() (sum float64) {
		for _, s := range replicas {
			sum += gauge(s, "metricwrap_cluster_owned_schedules")
		}
		return sum
	}
	if got := owned(); got != n {
		t.Errorf("the replicas own %g schedules together, want %d", got, n)
	}
	for i, s := range replicas {
		if got := gauge(s, "metricwrap_cluster_shard"); got != float64(i) {
			t.Errorf("replica %d: metricwrap_cluster_shard %g", i, got)
		}
		_, body := get(t, s.url+"/")
		if !strings.Contains(body, fmt.Sprintf("shard %d of 3", i)) {
			t.Errorf("replica %d: the status page does not show its shard:\n%s", i, body)
		}
		// A schedule of another shard says where it runs.
		if owner := shard.Shard("s00", nil, 3); owner != i && !strings.Contains(body, fmt.Sprintf("runs on shard %d", owner)) {
			t.Errorf("replica %d: the status page does not say that s00 runs on shard %d:\n%s", i, owner, body)
		}
		// On-demand runs are not sharded.
		if code, body := get(t, s.url+"/metrics/ondemand"); code != 200 || !strings.Contains(body, "up 1") {
			t.Errorf("replica %d: /metrics/ondemand: %d %s", i, code, body)
		}
	}
	time.Sleep(4 * interval) // the runs are what the test is about

	writeFile(t, dir, "metricwrap.yml", config(2), 0o644)
	// Replicas 0 and 1 reload first and the third, which loses all its
	// schedules to them, half an interval later: the skew of a ConfigMap
	// reaching pods at different times. The new owners must wait for it.
	reloadAt := time.Now()
	for _, s := range replicas[:2] {
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(interval / 2)
	if err := replicas[2].cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range replicas {
		for gauge(s, "metricwrap_cluster_shards") != 2 {
			if time.Now().After(deadline) {
				t.Fatal("the replicas did not reload to 2 shards within 20s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	reloaded := time.Now()
	if got := gauge(replicas[2], "metricwrap_cluster_owned_schedules"); got != 0 {
		t.Errorf("replica 2, outside 2 shards, owns %g schedules", got)
	}
	if got := owned(); got != n {
		t.Errorf("after the reload the replicas own %g schedules together, want %d", got, n)
	}
	// The third replica is scaled down, as a StatefulSet would.
	_ = replicas[2].cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(5 * interval)
	end := time.Now()

	moved := 0
	for i := range n {
		name := fmt.Sprintf("s%02d", i)
		before, after := shard.Shard(name, nil, 3), shard.Shard(name, nil, 2)
		if before != after {
			moved++
		}
		data, err := os.ReadFile(filepath.Join(runs, name))
		if err != nil {
			t.Errorf("%s never ran: %v", name, err)
			continue
		}
		type run struct {
			replica int
			at      time.Time
		}
		var rs []run
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			r, ts, _ := strings.Cut(line, " ")
			ri, err1 := strconv.Atoi(r)
			sec, err2 := strconv.ParseFloat(ts, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: bad line %q", name, line)
			}
			rs = append(rs, run{ri, time.Unix(0, int64(sec*1e9))})
		}
		slices.SortFunc(rs, func(a, b run) int { return a.at.Compare(b.at) })
		// Runs sit on the schedule's grid (phase + k*interval) and are
		// never early, so each is counted in the grid slot it belongs
		// to: a run a stalled machine started late still counts in its
		// own interval, and the next slot's run is not a second one.
		phase := shard.Phase(name, nil, interval)
		slot := func(at time.Time) int64 { return int64(at.Sub(time.Unix(0, 0).Add(phase)) / interval) }
		for j, r := range rs {
			switch {
			case r.at.Before(reloadAt) && r.replica != before:
				t.Errorf("%s ran on replica %d before the reload, its shard is %d of 3", name, r.replica, before)
			case r.at.After(reloaded) && r.replica != after:
				t.Errorf("%s ran on replica %d after the reload, its shard is %d of 2", name, r.replica, after)
			}
			if j == 0 {
				continue
			}
			gap := r.at.Sub(rs[j-1].at)
			missed := slot(r.at) - slot(rs[j-1].at) - 1
			if missed < 0 {
				t.Errorf("%s ran twice in an interval: on replica %d at %s and on %d %s later", name, rs[j-1].replica, rs[j-1].at.Format(time.StampMilli), r.replica, gap)
			}
			// None is missed either, except where a schedule moves (its
			// new owner waits up to an interval after the reload).
			allowed := int64(0)
			if before != after || r.at.Sub(reloadAt) < 2*interval && r.at.After(reloadAt) {
				allowed = 2
			}
			if missed > allowed {
				t.Errorf("%s missed %d intervals: runs at %s and %s later", name, missed, rs[j-1].at.Format(time.StampMilli), gap)
			}
		}
		if len(rs) > 0 && end.Sub(rs[len(rs)-1].at) > 2*interval {
			t.Errorf("%s stopped running: its last run was %s before the end", name, end.Sub(rs[len(rs)-1].at))
		}
	}
	if moved == 0 || moved == n {
		t.Errorf("%d of %d schedules moved from 3 shards to 2: the test needs some of both", moved, n)
	}
}

// TestShardFlagsRefused: serve refuses shard flags that cannot work, with
// what to do, before it listens.
func TestShardFlagsRefused(t *testing.T) {
	t.Parallel()
	env := baseEnv("HOSTNAME=laptop")
	for args, want := range map[string]string{
		"--cluster.shards=3 --cluster.shard=auto": `the host name "laptop" does not end in a StatefulSet ordinal`,
		"--cluster.shards=3":                      "set --cluster.shard=I (0 to 2) or --cluster.shard=auto",
		"--cluster.shards=3 --cluster.shard=3":    "--cluster.shard=3 is outside the 3 shards (0 to 2)",
		"--cluster.shard=1":                       "--cluster.shard=1 needs the shard count",
		"--cluster.shards=2 --cluster.shard=x":    `--cluster.shard="x": must be a shard number`,
	} {
		r := runMW(t, env, append([]string{"serve", "--web.listen-address=127.0.0.1:0"}, strings.Fields(args)...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("serve %s: exit %d, stderr %q; want %d and %q", args, r.code, r.stderr, exitUsage, want)
		}
	}
}
