package dynatrace_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
)

const token = "dt0c01.SECRETTOKEN.abcdef"

// env is a sink wired to a strict fake.
type env struct {
	fake *dtfake.Server
	sink *dynatrace.Sink
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, fake *dtfake.Server, o dynatrace.Options) *env {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := &env{fake: fake, logs: &syncBuffer{}}
	if o.Name == "" {
		o.Name = "dt"
	}
	o.URL = srv.URL + "/api/v2/metrics/ingest"
	o.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := dynatrace.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(time.Now)
	e.sink = s
	return e
}

var batchSeq int

func mkBatch(t *testing.T, text string) *batch.Batch {
	t.Helper()
	batchSeq++
	return &batch.Batch{ID: fmt.Sprintf("b%d", batchSeq), Families: parse(t, text), Start: time.Now()}
}

// gauges is exposition text with n gauge series.
func gauges(n int) string {
	var b strings.Builder
	b.WriteString("# TYPE series gauge\n")
	for i := range n {
		fmt.Fprintf(&b, "series{instance=\"host-%05d.example.com\"} %d\n", i, i)
	}
	return b.String()
}

func counterText(vals ...float64) string {
	var b strings.Builder
	b.WriteString("# TYPE jobs_total counter\n")
	for i, v := range vals {
		fmt.Fprintf(&b, "jobs_total{q=\"%d\"} %g\n", i, v)
	}
	return b.String()
}

// stripTS drops the timestamp so lines compare across runs.
func stripTS(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if j := strings.LastIndexByte(l, ' '); j > 0 && strings.Count(l, " ") >= 2 && !strings.HasPrefix(l, "#") {
			l = l[:j]
		}
		out[i] = l
	}
	return out
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPushToken(t *testing.T) {
	tests := []struct {
		name      string
		fakeToken string
		sinkToken string
		wantAuth  string
		permanent bool
	}{
		{"right token", token, token, "Api-Token " + token, false},
		{"wrong token", token, "dt0c01.WRONGTOKEN.zzz", "Api-Token dt0c01.WRONGTOKEN.zzz", true},
		{"missing token", token, "", "", true},
		{"OneAgent endpoint without token", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dtfake.New(tc.fakeToken), dynatrace.Options{Token: tc.sinkToken})
			err := e.sink.Push(context.Background(), mkBatch(t, gauges(3)))
			if got := sink.IsPermanent(err); got != tc.permanent || (err != nil) != tc.permanent {
				t.Fatalf("Push() = %v, permanent %v; want permanent %v", err, got, tc.permanent)
			}
			reqs := e.fake.Requests()
			if len(reqs) != 1 || reqs[0].Authorization != tc.wantAuth {
				t.Fatalf("requests = %+v, want one with Authorization %q", reqs, tc.wantAuth)
			}
			if reqs[0].ContentType != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q", reqs[0].ContentType)
			}
			if tc.permanent {
				if !strings.Contains(err.Error(), "metrics.ingest") {
					t.Errorf("error %q does not tell what to fix", err)
				}
				if tc.sinkToken != "" && (strings.Contains(err.Error(), tc.sinkToken) || strings.Contains(e.logs.String(), tc.sinkToken)) {
					t.Errorf("token leaked into error %q or logs %q", err, e.logs.String())
				}
			} else if len(e.fake.Lines()) != 3 {
				t.Errorf("fake accepted %d lines, want 3", len(e.fake.Lines()))
			}
		})
	}
}

func TestPushSplit(t *testing.T) {
	tests := []struct {
		name      string
		series    int
		maxBytes  int
		wantLines []int // lines per request
	}{
		{"by line count", 2500, 0, []int{1000, 1000, 500}},
		{"by bytes", 300, 10000, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dtfake.New(token), dynatrace.Options{Token: token, MaxBytesPerRequest: tc.maxBytes})
			if err := e.sink.Push(context.Background(), mkBatch(t, gauges(tc.series))); err != nil {
				t.Fatal(err)
			}
			reqs := e.fake.Requests()
			total := 0
			for i, r := range reqs {
				total += r.Lines
				if tc.wantLines != nil && (len(reqs) != len(tc.wantLines) || r.Lines != tc.wantLines[i]) {
					t.Errorf("request %d has %d lines; want split %v", i, r.Lines, tc.wantLines)
				}
				if tc.maxBytes > 0 && r.Bytes > tc.maxBytes {
					t.Errorf("request %d has %d bytes, more than %d", i, r.Bytes, tc.maxBytes)
				}
			}
			if tc.maxBytes > 0 && len(reqs) < 2 {
				t.Errorf("got %d requests, want the body split", len(reqs))
			}
			if total != tc.series || len(e.fake.Lines()) != tc.series {
				t.Errorf("sent %d, accepted %d lines; want %d", total, len(e.fake.Lines()), tc.series)
			}
		})
	}
}

func TestPushPartialRejection(t *testing.T) {
	fake := dtfake.New(token)
	fake.Reject = func(line string) error {
		if strings.Contains(line, "host-00003") || strings.Contains(line, "host-00007") {
			return errors.New("tenant limit reached for this series")
		}
		return nil
	}
	e := newEnv(t, fake, dynatrace.Options{Token: token})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.sink.Collectors()...)

	err := e.sink.Push(context.Background(), mkBatch(t, gauges(10)))
	var rej *dynatrace.RejectedError
	if !sink.IsPermanent(err) || !errors.As(err, &rej) || rej.Invalid != 2 || rej.OK != 8 {
		t.Fatalf("Push() = %v; want a permanent RejectedError with 2 invalid, 8 ok", err)
	}
	if len(fake.Lines()) != 8 {
		t.Errorf("fake ingested %d lines, want the 8 valid ones", len(fake.Lines()))
	}
	logs := e.logs.String()
	for _, want := range []string{`series,instance=host-00003.example.com gauge,3`, "tenant limit reached", "host-00007"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP metricwrap_dynatrace_lines_invalid_total Lines Dynatrace rejected as invalid; each is logged with its reason.
# TYPE metricwrap_dynatrace_lines_invalid_total counter
metricwrap_dynatrace_lines_invalid_total{sink="dt"} 2
# HELP metricwrap_dynatrace_lines_ok_total Lines Dynatrace accepted.
# TYPE metricwrap_dynatrace_lines_ok_total counter
metricwrap_dynatrace_lines_ok_total{sink="dt"} 8
`), "metricwrap_dynatrace_lines_invalid_total", "metricwrap_dynatrace_lines_ok_total")
	if err != nil {
		t.Error(err)
	}
	// Not retried: a second push of the same batch is a new delivery only
	// if the caller makes it; the sink itself sent one request.
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestPushFailures(t *testing.T) {
	tests := []struct {
		name       string
		failures   []dtfake.Failure
		wantErr    bool
		permanent  bool
		retryAfter time.Duration // at least, when not zero
		wantStatus []int
	}{
		{name: "413 halves the request", failures: []dtfake.Failure{{Status: 413}},
			wantStatus: []int{413, 202, 202}},
		{name: "413 twice halves again", failures: []dtfake.Failure{{Status: 413}, {Status: 413}},
			wantStatus: []int{413, 413, 202, 202, 202}},
		// The sink never waits itself: the fan-out honours Retry-After on
		// every answer, one place for every sink.
		{name: "429 with Retry-After seconds", failures: []dtfake.Failure{{Status: 429, RetryAfter: "2"}},
			wantErr: true, retryAfter: 2 * time.Second, wantStatus: []int{429}},
		{name: "429 with Retry-After date", failures: []dtfake.Failure{{Status: 429, RetryAfter: time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)}},
			wantErr: true, retryAfter: 18 * time.Second, wantStatus: []int{429}},
		{name: "429 without Retry-After is retryable", failures: []dtfake.Failure{{Status: 429}},
			wantErr: true, wantStatus: []int{429}},
		{name: "500 is retryable", failures: []dtfake.Failure{{Status: 500}},
			wantErr: true, wantStatus: []int{500}},
		{name: "503 is retryable", failures: []dtfake.Failure{{Status: 503}},
			wantErr: true, wantStatus: []int{503}},
		{name: "403 is permanent", failures: []dtfake.Failure{{Status: 403}},
			wantErr: true, permanent: true, wantStatus: []int{403}},
		{name: "404 is permanent", failures: []dtfake.Failure{{Status: 404}},
			wantErr: true, permanent: true, wantStatus: []int{404}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := dtfake.New(token)
			fake.FailNext(tc.failures...)
			e := newEnv(t, fake, dynatrace.Options{Token: token})
			err := e.sink.Push(context.Background(), mkBatch(t, gauges(10)))
			if (err != nil) != tc.wantErr || sink.IsPermanent(err) != tc.permanent {
				t.Fatalf("Push() = %v; want error %v, permanent %v", err, tc.wantErr, tc.permanent)
			}
			if got := sink.RetryAfter(err); tc.retryAfter > 0 && got < tc.retryAfter || tc.retryAfter == 0 && got != 0 {
				t.Errorf("Push() = %v asks to wait %s, want %s", err, got, tc.retryAfter)
			}
			var status []int
			for _, r := range fake.Requests() {
				status = append(status, r.Status)
			}
			if fmt.Sprint(status) != fmt.Sprint(tc.wantStatus) {
				t.Errorf("statuses = %v, want %v", status, tc.wantStatus)
			}
			if !tc.wantErr && len(fake.Lines()) != 10 {
				t.Errorf("fake accepted %d lines, want each of the 10 once", len(fake.Lines()))
			}
			if strings.Contains(fmt.Sprint(err), token) || strings.Contains(e.logs.String(), token) {
				t.Error("token leaked into the error or the logs")
			}
		})
	}
}

func TestPushTimeout(t *testing.T) {
	fake := dtfake.New(token)
	fake.FailNext(dtfake.Failure{Delay: time.Minute})
	e := newEnv(t, fake, dynatrace.Options{Token: token, Timeout: 50 * time.Millisecond})
	err := e.sink.Push(context.Background(), mkBatch(t, gauges(1)))
	if err == nil || sink.IsPermanent(err) {
		t.Fatalf("Push() = %v; want a retryable error", err)
	}
}

// TestCounterDeltasAcrossFailures checks the counter rule: a batch's deltas
// are computed once, a retry resends exactly them, and batches that
// overtake a failed one neither lose nor double count.
func TestCounterDeltasAcrossFailures(t *testing.T) {
	fake := dtfake.New(token)
	e := newEnv(t, fake, dynatrace.Options{Token: token})
	ctx := context.Background()
	push := func(b *batch.Batch) error { return e.sink.Push(ctx, b) }

	if err := push(mkBatch(t, counterText(10))); err != nil { // first sighting
		t.Fatal(err)
	}
	fake.FailNext(dtfake.Failure{Status: 500})
	failed := mkBatch(t, counterText(15))
	if err := push(failed); err == nil {
		t.Fatal("push against a 500 succeeded")
	}
	if err := push(mkBatch(t, counterText(17))); err != nil { // overtakes the failed one
		t.Fatal(err)
	}
	if err := push(failed); err != nil { // the caller's retry
		t.Fatal(err)
	}
	if err := push(failed); err != nil { // a duplicate redelivery sends nothing
		t.Fatal(err)
	}
	if err := push(mkBatch(t, counterText(3))); err != nil { // counter reset
		t.Fatal(err)
	}
	got := strings.Join(stripTS(fake.Lines()), "\n")
	want := strings.Join([]string{
		"jobs_total,q=0 count,delta=2",
		"jobs_total,q=0 count,delta=5",
		"jobs_total,q=0 count,delta=3",
	}, "\n")
	if got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
}

func TestPushResumesAfterPartialDelivery(t *testing.T) {
	fake := dtfake.New(token)
	e := newEnv(t, fake, dynatrace.Options{Token: token, MaxLinesPerRequest: 4})
	b := mkBatch(t, gauges(10))
	fake.FailNext(dtfake.Failure{}, dtfake.Failure{Status: 502})
	if err := e.sink.Push(context.Background(), b); err == nil {
		t.Fatal("push against a 502 succeeded")
	}
	if err := e.sink.Push(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	lines := fake.Lines()
	seen := map[string]int{}
	for _, l := range lines {
		seen[l]++
	}
	if len(lines) != 10 || len(seen) != 10 {
		t.Errorf("fake accepted %d lines (%d distinct), want each of the 10 once", len(lines), len(seen))
	}
}

func TestStatePersistence(t *testing.T) {
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "spool", "dt.counters.json")
	fake := dtfake.New(token)
	ctx := context.Background()
	open := func() *env {
		return newEnv(t, fake, dynatrace.Options{Token: token, StateFile: stateFile})
	}

	e := open()
	if err := e.sink.Push(ctx, mkBatch(t, counterText(100, 5))); err != nil {
		t.Fatal(err)
	}
	fake.FailNext(dtfake.Failure{Status: 500})
	failed := mkBatch(t, counterText(110, 5))
	if err := e.sink.Push(ctx, failed); err == nil {
		t.Fatal("push against a 500 succeeded")
	}

	e = open() // restart: the failed batch comes back from the spool
	if err := e.sink.Push(ctx, failed); err != nil {
		t.Fatal(err)
	}
	e = open()
	if err := e.sink.Push(ctx, mkBatch(t, counterText(111, 9))); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(stripTS(fake.Lines()), "\n")
	want := strings.Join([]string{
		"jobs_total,q=0 count,delta=10",
		"jobs_total,q=1 count,delta=0",
		"jobs_total,q=0 count,delta=1",
		"jobs_total,q=1 count,delta=4",
	}, "\n")
	if got != want {
		t.Errorf("lines across restarts:\n%s\nwant:\n%s", got, want)
	}
	entries, err := os.ReadDir(filepath.Dir(stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "dt.counters.json" {
		t.Errorf("state dir holds %v, want only the state file", entries)
	}
}

func TestPushTimestamps(t *testing.T) {
	tests := []struct {
		name   string
		age    time.Duration
		withTS bool
	}{
		{"fresh run carries its start time", time.Second, true},
		{"spooled run older than the window is sent without", 2 * time.Hour, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := dtfake.New(token)
			e := newEnv(t, fake, dynatrace.Options{Token: token})
			b := mkBatch(t, gauges(1))
			b.Start = time.Now().Add(-tc.age)
			if err := e.sink.Push(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			lines := fake.Lines()
			want := "series,instance=host-00000.example.com gauge,0"
			if tc.withTS {
				want += fmt.Sprintf(" %d", b.Start.UnixMilli())
			}
			if len(lines) != 1 || lines[0] != want {
				t.Errorf("lines = %q, want [%q]", lines, want)
			}
		})
	}
}

func TestOneAgentAnswerSpellings(t *testing.T) {
	for _, field := range []string{"linesOk", "linesOK", "linesValid"} {
		t.Run(field, func(t *testing.T) {
			fake := dtfake.New("")
			fake.OKField = field
			e := newEnv(t, fake, dynatrace.Options{})
			if err := e.sink.Push(context.Background(), mkBatch(t, gauges(4))); err != nil {
				t.Fatal(err)
			}
			var m dto.Metric
			if err := e.sink.Collectors()[0].(prometheus.Counter).Write(&m); err != nil {
				t.Fatal(err)
			}
			if got := m.GetCounter().GetValue(); got != 4 {
				t.Errorf("lines ok = %v, want 4", got)
			}
		})
	}
}

func TestPushConcurrent(t *testing.T) {
	fake := dtfake.New(token)
	e := newEnv(t, fake, dynatrace.Options{Token: token, StateFile: filepath.Join(t.TempDir(), "state.json")})
	batches := make([]*batch.Batch, 8)
	for i := range batches {
		batches[i] = mkBatch(t, counterText(float64(i)*10, 1)+gauges(20))
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		wg.Go(func() {
			if err := e.sink.Push(context.Background(), b); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Whatever the order, the deltas of series q=0 add up to the distance
	// between the first value seen and the last, unless a value arrived
	// below its predecessor (read as a reset); q=1 never moves.
	counts := 0
	for _, l := range fake.Lines() {
		if strings.HasPrefix(l, "jobs_total,q=1 ") && !strings.HasPrefix(l, "jobs_total,q=1 count,delta=0") {
			t.Errorf("unchanged series sent %q", l)
		}
		if strings.HasPrefix(l, "jobs_total,q=0 ") {
			counts++
		}
	}
	if counts != 7 {
		t.Errorf("series q=0 sent %d deltas, want 7 (one per batch after the first)", counts)
	}
}

// TestJobsAreSeparateSeries: two jobs (exec --job a and --job b, or two
// exporters) writing the same counter are two series, each line with its
// job dimension, and each job's deltas are its own; before, b's value was
// taken as a's next one (a reset) and both wrote one series.
func TestJobsAreSeparateSeries(t *testing.T) {
	fake := dtfake.New(token)
	e := newEnv(t, fake, dynatrace.Options{Token: token, DefaultDimensions: map[string]string{"env": "prod"}})
	for _, run := range []struct {
		job string
		v   float64
	}{{"a", 100}, {"b", 5}, {"a", 110}, {"b", 8}} {
		b := mkBatch(t, counterText(run.v))
		b.Job = run.job
		if err := e.sink.Push(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	// A metric's own job label wins, as over any default dimension.
	own := mkBatch(t, "# TYPE gauge_value gauge\ngauge_value{job=\"mine\"} 1\n")
	own.Job = "a"
	if err := e.sink.Push(context.Background(), own); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(stripTS(fake.Lines()), "\n")
	want := strings.Join([]string{
		"jobs_total,env=prod,job=a,q=0 count,delta=10",
		"jobs_total,env=prod,job=b,q=0 count,delta=3",
		"gauge_value,env=prod,job=mine gauge,1",
	}, "\n")
	if got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
}
