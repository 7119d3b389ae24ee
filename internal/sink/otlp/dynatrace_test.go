package otlp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/sink/otlp"
	"github.com/metricwrap/metricwrap/internal/sink/otlp/dtotlp"
	"github.com/metricwrap/metricwrap/internal/spool"
)

const dtToken = "dt0c01.SECRET.otlp"

// dtEnv is an otlp sink behind a fan-out with a spool, pushing to the
// strict Dynatrace OTLP fake as {tenant}/api/v2/otlp/v1/metrics.
type dtEnv struct {
	fake *dtotlp.Server
	fan  *sink.Fanout
	reg  *prometheus.Registry
	dir  string
}

func newDT(t *testing.T, temporality otlp.Temporality, token string) *dtEnv {
	return newDTLogged(t, temporality, token, nil)
}

func newDTLogged(t *testing.T, temporality otlp.Temporality, token string, logs io.Writer) *dtEnv {
	t.Helper()
	fake := dtotlp.New(dtToken)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	sp, err := spool.Open(spool.Options{Dir: dir, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	s, err := otlp.New(otlp.Options{
		Name: "dt", URL: srv.URL + "/api/v2/otlp/v1/metrics", Temporality: temporality,
		Headers:   map[string]string{"Authorization": "Api-Token " + token},
		StateFile: filepath.Join(dir, ".state", "otlp-dt.json"),
		Logger:    logger(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := sink.NewFanout([]sink.Sink{s}, sink.FanoutOptions{
		Spool: sp, Registerer: reg, RetryFor: 30 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &dtEnv{fake: fake, fan: f, reg: reg, dir: dir}
}

func logger(w io.Writer) *slog.Logger {
	if w == nil {
		return nil
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func (e *dtEnv) quarantine(t *testing.T) []string {
	t.Helper()
	reasons, _ := filepath.Glob(filepath.Join(e.dir, "*", "quarantine", "*.reason"))
	var out []string
	for _, r := range reasons {
		b, _ := os.ReadFile(r)
		out = append(out, string(b))
	}
	return out
}

// TestDynatraceDelta: in delta mode everything metricwrap sends passes the
// strict fake, and a batch spooled while Dynatrace was down is replayed
// with its pinned deltas: the deltas add up to the true increase.
func TestDynatraceDelta(t *testing.T) {
	e := newDT(t, otlp.Delta, dtToken)
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	ctx := context.Background()
	if r := e.fan.Deliver(ctx, run(t, "r1", at, 7, 1, 3, 4, 2.5))[0]; r.Outcome != sink.OutcomeSuccess {
		t.Fatalf("run 1: %+v", r)
	}
	// Dynatrace is unavailable for run 2: it waits in the spool.
	e.fake.SetStatus(503, "1")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	r := e.fan.Deliver(short, run(t, "r2", at.Add(time.Minute), 10, 2, 5, 7, 4))[0]
	cancel()
	if r.Outcome != sink.OutcomeSpooled {
		t.Fatalf("run 2 during the outage: %+v, want spooled", r)
	}
	e.fake.SetStatus(0, "")
	r = e.fan.Deliver(ctx, run(t, "r3", at.Add(2*time.Minute), 16, 4, 9, 12, 8))[0]
	if r.Outcome != sink.OutcomeSuccess || r.Replayed != 1 {
		t.Fatalf("run 3: %+v, want success after replaying run 2", r)
	}
	if rej := e.fake.Rejected(); len(rej) != 0 {
		t.Fatalf("the fake rejected %v in delta mode", rej)
	}
	var counted, observed float64
	var buckets [3]uint64
	for _, p := range e.fake.Accepted() {
		switch p.Metric {
		case "jobs_total":
			if !p.Delta || !p.Monotonic || p.Type != "sum" || p.Dimensions["queue"] != "a" || p.Dimensions["service.name"] != "nightly" {
				t.Errorf("jobs_total point %+v", p)
			}
			counted += p.Value
		case "lat":
			observed += float64(p.Count)
			for i, n := range p.Buckets {
				buckets[i] += n
			}
		}
	}
	// 7 -> 10 -> 16: the deltas are 3 and 6, each counted once.
	if counted != 9 {
		t.Errorf("jobs_total deltas add up to %v, want 9 (16-7)", counted)
	}
	if observed != 8 || buckets != [3]uint64{3, 3, 2} {
		t.Errorf("lat deltas: count %v, buckets %v; want 8 and [3 3 2]", observed, buckets)
	}
}

// TestDynatraceCumulativeRefused: cumulative sums and histograms, and
// summaries, are refused by Dynatrace for good; the batch is quarantined
// with the answer after one request, not retried.
func TestDynatraceCumulativeRefused(t *testing.T) {
	var logs strings.Builder
	e := newDTLogged(t, otlp.Cumulative, dtToken, &logs)
	if !strings.Contains(logs.String(), "set temporality: delta") {
		t.Errorf("no warning that Dynatrace takes deltas only: %q", logs.String())
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	r := e.fan.Deliver(context.Background(), run(t, "c1", at, 7, 1, 3, 4, 2.5))[0]
	if r.Outcome != sink.OutcomeDropped || !sink.IsPermanent(r.Err) {
		t.Fatalf("cumulative run: %+v, want dropped for good", r)
	}
	if n := e.fake.Requests(); n != 1 {
		t.Errorf("%d requests, want 1 (a permanent refusal is not retried)", n)
	}
	rej := e.fake.Rejected()
	if rej["UNSUPPORTED_METRIC_TYPE_MONOTONIC_CUMULATIVE_SUM"] != 1 || rej["UNSUPPORTED_METRIC_TYPE_CUMULATIVE_HISTOGRAM"] != 1 ||
		rej["UNSUPPORTED_METRIC_TYPE_SUMMARY"] != 1 {
		t.Errorf("rejected %v", rej)
	}
	q := e.quarantine(t)
	if len(q) != 1 || !strings.Contains(q[0], "rejected 3 data points") || !strings.Contains(q[0], "MONOTONIC_CUMULATIVE_SUM") {
		t.Fatalf("quarantine %q, want the batch with Dynatrace's answer", q)
	}
	// A batch of counters only is refused whole (400): permanent too.
	only := run(t, "c2", at, 7, 1, 3, 4, 2.5)
	only.Families = only.Families[:1]
	if r := e.fan.Deliver(context.Background(), only)[0]; r.Outcome != sink.OutcomeDropped || !strings.Contains(r.Err.Error(), "400") {
		t.Fatalf("counters only: %+v, want dropped with the 400", r)
	}
	if n := e.fake.Requests(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if got := quarantined(t, e.reg); got != 2 {
		t.Errorf("quarantined %v, want 2", got)
	}
}

func TestDynatraceWrongToken(t *testing.T) {
	e := newDT(t, otlp.Delta, "dt0c01.WRONG")
	r := e.fan.Deliver(context.Background(), run(t, "w1", time.Now(), 7, 1, 3, 4, 2.5))[0]
	if r.Outcome != sink.OutcomeDropped || !strings.Contains(r.Err.Error(), "401") || strings.Contains(r.Err.Error(), "WRONG") {
		t.Fatalf("wrong token: %+v, want dropped with the 401 and no token in the error", r)
	}
}

// quarantined sums metricwrap_spool_quarantined_total over its sinks.
func quarantined(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == "metricwrap_spool_quarantined_total" {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// TestDynatraceRequestLimits: runs larger than one Dynatrace request (over
// 15,000 data points; over 4 MB) go out in requests within both limits,
// and every point is accepted.
func TestDynatraceRequestLimits(t *testing.T) {
	e := newDT(t, otlp.Delta, dtToken)
	gauges := func(name string, n int, pad string) *dto.MetricFamily {
		g := &dto.MetricFamily{Name: ptr(name), Type: dto.MetricType_GAUGE.Enum()}
		for i := range n {
			g.Metric = append(g.Metric, &dto.Metric{
				Label: []*dto.LabelPair{label("i", strconv.Itoa(i)), label("a", pad), label("b", pad)},
				Gauge: &dto.Gauge{Value: ptr(1.0)},
			})
		}
		return g
	}
	// 16,000 small points; then 10,000 points of about 450 bytes, 4.5 MB.
	pad := strings.Repeat("x", 200)
	at := time.Now().Add(-time.Minute)
	for i, b := range []*batch.Batch{mkBatch("l1", at, gauges("many", 16000, "")), mkBatch("l2", at, gauges("wide", 10000, pad))} {
		if r := e.fan.Deliver(context.Background(), b)[0]; r.Outcome != sink.OutcomeSuccess {
			t.Fatalf("run %d: %+v", i+1, r)
		}
	}
	if rej := e.fake.Rejected(); len(rej) != 0 {
		t.Fatalf("rejected %v", rej)
	}
	counts := map[string]int{}
	for _, p := range e.fake.Accepted() {
		counts[p.Metric]++
	}
	if counts["many"] != 16000 || counts["wide"] != 10000 {
		t.Errorf("accepted %v, want 16000 and 10000", counts)
	}
	if n := e.fake.Requests(); n != 4 {
		t.Errorf("%d requests, want 4 (2 by points, 2 by size)", n)
	}
}
