package shard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

func TestNewRefusesBadShards(t *testing.T) {
	for _, c := range []struct {
		shards      int
		shard, host string
		want        string
	}{
		{-1, "0", "", "--cluster.shards=-1"},
		{3, "x", "", `--cluster.shard="x": must be a shard number`},
		{3, "-1", "", `--cluster.shard="-1"`},
		{3, "auto", "laptop", `host name "laptop" does not end in a StatefulSet ordinal`},
		{3, "auto", "metricwrap-", "does not end in a StatefulSet ordinal"},
		{3, "auto", "metricwrap-01", "does not end in a StatefulSet ordinal"},
	} {
		_, err := New(c.shards, c.shard, c.host, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%d, %q, %q) = %v, want an error containing %q", c.shards, c.shard, c.host, err, c.want)
		}
	}
	c, err := New(3, "auto", "metricwrap-2", nil, nil)
	if err != nil || c.index != 2 {
		t.Fatalf("auto from metricwrap-2: index %v, %v; want 2", c, err)
	}
}

func TestPlanRefusesAShardOutsideTheCount(t *testing.T) {
	set := schedules(t, 0)
	for _, c := range []struct {
		flag      int
		shard     string
		cfg       int
		want      string
		unsharded bool
	}{
		{0, "", 0, "", true},
		{0, "1", 0, "--cluster.shard=1 needs the shard count", false},
		{3, "", 0, "needs this replica's shard: set --cluster.shard=I (0 to 2)", false},
		{3, "3", 0, "--cluster.shard=3 is outside the 3 shards (0 to 2)", false},
		{3, "2", 2, "--cluster.shard=2 is outside the 2 shards", false},
		{0, "2", 3, "", false},
	} {
		cl, err := New(c.flag, c.shard, "", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := cl.Plan(c.cfg, set, time.Now())
		switch {
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: Plan = %v, want an error containing %q", c, err, c.want)
		case c.want == "" && err != nil:
			t.Errorf("%+v: Plan: %v", c, err)
		case c.want == "" && (p == nil) != c.unsharded:
			t.Errorf("%+v: Plan = %v, unsharded %v", c, p, c.unsharded)
		}
	}
}

// schedules is a set of n scheduled exporters, half of them with
// schedule_params.
func schedules(t *testing.T, n int) *exporter.Set {
	t.Helper()
	var es []*exporter.Entry
	for i := range n {
		e := &exporter.Entry{Exporter: named(fmt.Sprint("job", i)), Schedule: time.Duration(1+i%5) * time.Second}
		if i%2 == 1 {
			e.ScheduleParams = map[string]string{"target": fmt.Sprint("host", i), "module": "m"}
		}
		es = append(es, e)
	}
	set, err := exporter.NewSet(es...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// named is an exporter that is only a name: the shard never runs one.
type named string

func (n named) Name() string          { return string(n) }
func (named) Kind() string            { return exporter.KindCommand }
func (named) Job() string             { return "" }
func (named) Params() exporter.Params { return exporter.Params{} }
func (named) Run(context.Context, *exporter.Request) (*exporter.Result, error) {
	return nil, errors.New("not run")
}

func plans(t *testing.T, set *exporter.Set, n int) []*Plan {
	t.Helper()
	var ps []*Plan
	for i := range n {
		cl, err := New(n, fmt.Sprint(i), "", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := cl.Plan(0, set, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestEachScheduleHasExactlyOneOwner(t *testing.T) {
	set := schedules(t, 300)
	for _, n := range []int{1, 2, 3, 7} {
		ps := plans(t, set, n)
		per := make([]int, n)
		for _, e := range set.Entries() {
			owners := 0
			for i, p := range ps {
				if p.Owns(e) {
					owners++
					per[i]++
				}
			}
			if owners != 1 {
				t.Fatalf("%d shards: %s %v has %d owners", n, e.Name(), e.ScheduleParams, owners)
			}
		}
		// A hash that is no better than a coin still leaves each shard
		// far above a third of its fair share of 300.
		for i, c := range per {
			if c < 300/n/3 {
				t.Errorf("%d shards: shard %d owns %d of 300", n, i, c)
			}
		}
		for i := range n {
			cl, _ := New(n, fmt.Sprint(i), "", nil, nil)
			cl.Use(ps[i])
			for _, e := range set.Entries() {
				want := ""
				if !ps[i].Owns(e) {
					want = fmt.Sprintf("shard %d", Shard(e.Name(), e.ScheduleParams, n))
				}
				if got := cl.Elsewhere(e); got != want {
					t.Fatalf("shard %d of %d: Elsewhere(%s) = %q, want %q", i, n, e.Name(), got, want)
				}
			}
		}
		if got := ps[0].String(); !strings.Contains(got, fmt.Sprintf("shard 0 of %d", n)) || !strings.Contains(got, fmt.Sprintf("runs %d of 300 schedules", per[0])) {
			t.Errorf("String() = %q", got)
		}
	}
}

func TestTheShardIgnoresTheOrderOfParams(t *testing.T) {
	a := Shard("x", map[string]string{"a": "1", "b": "2"}, 1000)
	for range 20 {
		if b := Shard("x", map[string]string{"b": "2", "a": "1"}, 1000); b != a {
			t.Fatalf("shard %d then %d", a, b)
		}
	}
	if Shard("x", map[string]string{"a": "1b"}, 1<<30) == Shard("x", map[string]string{"a1": "b"}, 1<<30) {
		t.Error("a=1b and a1=b hash alike")
	}
}

func TestNextIsOnTheGridStrictlyAfterNow(t *testing.T) {
	set := schedules(t, 20)
	p := plans(t, set, 1)[0]
	now := time.Date(2026, 12, 1, 23, 59, 58, 123, time.UTC)
	for _, e := range set.Entries() {
		a := p.Next(e, now)
		b := p.Next(e, a)
		if !a.After(now) || a.Sub(now) > e.Schedule {
			t.Errorf("%s: next %v after %v, interval %v", e.Name(), a, now, e.Schedule)
		}
		if b.Sub(a) != e.Schedule {
			t.Errorf("%s: %v then %v, not one interval %v apart", e.Name(), a, b, e.Schedule)
		}
		if c := p.Next(e, a.Add(-time.Nanosecond)); !c.Equal(a) {
			t.Errorf("%s: next just before %v is %v", e.Name(), a, c)
		}
	}
}

func TestAScheduleGainedInAReloadWaitsOneInterval(t *testing.T) {
	set := schedules(t, 60)
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cl, err := New(3, "0", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, err := cl.Plan(0, set, at)
	if err != nil {
		t.Fatal(err)
	}
	cl.Use(before)
	after, err := cl.Plan(2, set, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	gained, kept := 0, 0
	reload := at.Add(time.Hour)
	for _, e := range set.Entries() {
		if !after.Owns(e) {
			continue
		}
		next := after.Next(e, reload)
		if before.Owns(e) {
			kept++
			if next.Sub(reload) > e.Schedule {
				t.Errorf("%s kept: first run %v after the reload", e.Name(), next.Sub(reload))
			}
			continue
		}
		gained++
		if d := next.Sub(reload); d < e.Schedule || d > 2*e.Schedule {
			t.Errorf("%s gained: first run %v after the reload, want between one and two intervals (%v)", e.Name(), d, e.Schedule)
		}
	}
	if gained == 0 || kept == 0 {
		t.Fatalf("gained %d, kept %d: the test needs both", gained, kept)
	}
}

// TestMetricsPassPromtool checks the cluster metrics with `promtool check
// metrics`, and that they say the plan in use.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := testenv.Promtool(t)
	reg := prometheus.NewRegistry()
	cl, err := New(3, "1", "", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil || len(fams) != 0 {
		t.Fatalf("before a plan: %d families, %v; want none", len(fams), err)
	}
	set := schedules(t, 30)
	p, err := cl.Plan(0, set, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cl.Use(p)
	fams, err = reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	got := map[string]float64{}
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
		got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
	}
	want := map[string]float64{"metricwrap_cluster_shard": 1, "metricwrap_cluster_shards": 3, "metricwrap_cluster_owned_schedules": float64(p.owned)}
	if !maps.Equal(got, want) || p.owned == 0 {
		t.Errorf("metrics %v, want %v", got, want)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, buf.String())
	}
}
