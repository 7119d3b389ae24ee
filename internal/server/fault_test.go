package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/sink/pushgateway"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
	"github.com/metricwrap/metricwrap/internal/spool"
)

// healthBound is how long /-/healthy may take while the server is being
// abused. The spec's target is 100 ms; a unit test under -race on a shared
// machine only asserts a generous bound and logs what it observed.
const healthBound = 2 * time.Second

// faultExporter is a shell script standing in for a misbehaving exporter.
type faultExporter struct {
	name    string
	script  string // body of a /bin/sh script; {{MARK}} becomes a unique word
	options string // extra YAML keys of the exporter, in flow style
	status  int
	outcome string // metricwrap_exporter_runs_total's outcome label
	body    string // in the response body
}

var faultExporters = []faultExporter{
	{
		name:    "hang",
		script:  `sleep 60`,
		options: `timeout: 1s, kill_grace: 100ms`,
		status:  504, outcome: "timeout", body: "timed out",
	},
	{
		// Twenty children that outlive the exporter, holding its stdout
		// open: the run succeeds and the group is killed behind it.
		name: "fork",
		script: `i=0; while [ $i -lt 20 ]; do sh -c 'sleep 3600' {{MARK}} & i=$((i+1)); done
echo 'forked 20' > "$METRICS_FILE"`,
		status: 200, outcome: "success", body: "forked 20",
	},
	{
		name: "fork-hang",
		script: `i=0; while [ $i -lt 20 ]; do sh -c 'sleep 3600' {{MARK}} & i=$((i+1)); done
wait`,
		options: `timeout: 1s, kill_grace: 100ms`,
		status:  504, outcome: "timeout", body: "timed out",
	},
	{
		name: "close-stdout",
		script: `exec 1>&- 2>&-
sleep 0.2
echo 'closed 1' > "$METRICS_FILE"`,
		status: 200, outcome: "success", body: "closed 1",
	},
	{
		name:   "partial",
		script: `printf '# TYPE partial gauge\npartial{a="b' > "$METRICS_FILE"; exit 0`,
		status: 500, outcome: "invalid_output", body: "invalid exposition",
	},
	{
		name:    "huge-file",
		script:  `head -c 1073741824 /dev/zero | tr '\0' 'a' > "$METRICS_FILE"`,
		options: `max_output_bytes: 1MiB`,
		status:  500, outcome: "output_too_large", body: "max_output_bytes",
	},
	{
		// Not the metrics file: a second file in the private directory.
		name:    "huge-second-file",
		script:  `head -c 1073741824 /dev/zero > other.dat; echo 'second 1' > "$METRICS_FILE"`,
		options: `max_dir_bytes: 1MiB`,
		status:  500, outcome: "output_too_large", body: "max_dir_bytes",
	},
	{
		name:    "huge-stdout",
		script:  `yes 'huge_stdout 1' | head -c 1073741824`,
		options: `max_output_bytes: 1MiB, output: stdout`,
		status:  500, outcome: "output_too_large", body: "max_output_bytes",
	},
	{
		name:   "invalid-utf8",
		script: `printf '# TYPE bad gauge\nbad{a="\377\376"} 1\n' > "$METRICS_FILE"`,
		status: 500, outcome: "invalid_output", body: "invalid exposition",
	},
	{
		name:   "segv",
		script: `echo 'segv 1' > "$METRICS_FILE"; kill -SEGV $$`,
		status: 500, outcome: "failure", body: "signal",
	},
}

// healthPoller asks /-/healthy over and over until stopped, and keeps the
// worst latency and any answer other than 200.
type healthPoller struct {
	url    string
	stop   chan struct{}
	done   chan struct{}
	polls  atomic.Int64
	mu     sync.Mutex
	worst  time.Duration
	failed []string
}

func startHealthPoller(url string) *healthPoller {
	p := &healthPoller{url: url + "/-/healthy", stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		defer client.CloseIdleConnections()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			start := time.Now()
			resp, err := client.Get(p.url)
			d := time.Since(start)
			p.mu.Lock()
			p.worst = max(p.worst, d)
			switch {
			case err != nil:
				p.failed = append(p.failed, err.Error())
			case resp.StatusCode != http.StatusOK:
				p.failed = append(p.failed, resp.Status)
			}
			p.mu.Unlock()
			if err == nil {
				resp.Body.Close()
			}
			p.polls.Add(1)
		}
	}()
	return p
}

func (p *healthPoller) finish() (polls int64, worst time.Duration, failed []string) {
	close(p.stop)
	<-p.done
	return p.polls.Load(), p.worst, p.failed
}

// TestFaults runs misbehaving exporters and sinks against a real server
// built from a config, the way serve builds it, and checks each one's
// answer and metrics, that /-/healthy stays answered throughout, and that
// nothing is left behind: no process, no zombie, no temp file.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs real processes for several seconds")
	}
	dir := t.TempDir()
	runTmp := filepath.Join(dir, "tmp")
	scripts := filepath.Join(dir, "scripts")
	for _, d := range []string{runTmp, scripts, filepath.Join(dir, "exporters")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	mark := fmt.Sprintf("metricwrap-fault-%d-%d", os.Getpid(), time.Now().UnixNano())
	var yml strings.Builder
	yml.WriteString("exporters:\n")
	for _, fe := range faultExporters {
		path := filepath.Join(scripts, fe.name+".sh")
		script := "#!/bin/sh\n" + strings.ReplaceAll(fe.script, "{{MARK}}", mark) + "\n"
		if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		opts := ""
		if fe.options != "" {
			opts = ", " + fe.options
		}
		fmt.Fprintf(&yml, "  %s: {command: [/bin/sh, %q]%s}\n", fe.name, path, opts)
	}
	cfg, err := config.LoadBytes("fault.yml", []byte(yml.String()))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yml.String())
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{
		ConfigFile: "fault.yml", TempDir: runTmp, ExportersDir: filepath.Join(dir, "exporters"),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := New(set, Options{})
	limitTo(s, 2*len(faultExporters))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	poller := startHealthPoller(ts.URL)

	t.Run("exporters", func(t *testing.T) {
		for _, fe := range faultExporters {
			t.Run(fe.name, func(t *testing.T) {
				t.Parallel()
				status, body, _ := get(t, ts.URL+"/metrics/"+fe.name)
				if status != fe.status || !strings.Contains(body, fe.body) {
					t.Fatalf("got %d %q, want %d containing %q", status, shorten(body), fe.status, fe.body)
				}
				if got := metricValue(t, s, "metricwrap_exporter_runs_total", "exporter", fe.name, "outcome", fe.outcome); got != 1 {
					t.Fatalf("metricwrap_exporter_runs_total{outcome=%q} = %v, want 1", fe.outcome, got)
				}
			})
		}
	})
	t.Run("sinks", func(t *testing.T) { testSinkFaults(t) })

	polls, worst, failed := poller.finish()
	t.Logf("/-/healthy: %d polls, slowest %v", polls, worst)
	if len(failed) > 0 {
		t.Errorf("/-/healthy failed %d times, first: %s", len(failed), failed[0])
	}
	if polls == 0 || worst > healthBound {
		t.Errorf("/-/healthy: %d polls, slowest %v; want answers within %v", polls, worst, healthBound)
	}
	waitNoProcess(t, mark)
	if z := zombieChildren(t); len(z) > 0 {
		t.Errorf("zombie children left: %v", z)
	}
	if left, err := os.ReadDir(runTmp); err != nil || len(left) > 0 {
		t.Errorf("temp dir holds %d entries after the runs (%v)", len(left), err)
	}
}

// sinkFault is a receiver that misbehaves in one way.
type sinkFault struct {
	name    string
	handler http.HandlerFunc // nil: nothing listens (connection refused)
	outcome sink.Outcome
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, http.StatusText(code), code)
	}
}

var sinkFaults = []sinkFault{
	{name: "refuse", outcome: sink.OutcomeSpooled},
	{name: "timeout", handler: func(_ http.ResponseWriter, r *http.Request) {
		// Reading the body first lets the server notice the client
		// giving up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}, outcome: sink.OutcomeSpooled},
	{name: "500", handler: status(http.StatusInternalServerError), outcome: sink.OutcomeSpooled},
	{name: "429", handler: status(http.StatusTooManyRequests), outcome: sink.OutcomeSpooled},
	{name: "413", handler: status(http.StatusRequestEntityTooLarge), outcome: sink.OutcomeDropped},
	{name: "slow", handler: func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(150 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	}, outcome: sink.OutcomeSuccess},
}

// testSinkFaults delivers one batch through a Fanout to Pushgateway and
// remote-write sinks whose receivers misbehave, and checks what became of
// it: retried and spooled, dropped as permanent, or delivered.
func testSinkFaults(t *testing.T) {
	sp, err := spool.Open(spool.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var sinks []sink.Sink
	want := map[string]sink.Outcome{}
	for _, sf := range sinkFaults {
		url := refusedURL(t)
		if sf.handler != nil {
			srv := httptest.NewServer(sf.handler)
			defer srv.Close()
			url = srv.URL
		}
		pg, err := pushgateway.New(pushgateway.Options{Name: "pg-" + sf.name, URL: url, Timeout: 400 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		rw, err := remotewrite.New(remotewrite.Options{Name: "rw-" + sf.name, URL: url + "/api/v1/write", Timeout: 400 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, pg, rw)
		want[pg.Name()], want[rw.Name()] = sf.outcome, sf.outcome
	}
	f, err := sink.NewFanout(sinks, sink.FanoutOptions{
		RetryFor: 1500 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Spool: sp,
	})
	if err != nil {
		t.Fatal(err)
	}
	v := 1.0
	b := &batch.Batch{
		ID: "fault-1", Exporter: "fault", Job: "fault", Start: time.Now(),
		Families: []*dto.MetricFamily{{
			Name: strPtr("fault_value"), Help: strPtr("A value."), Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}},
		}},
	}
	for _, r := range f.Deliver(context.Background(), b) {
		t.Run(r.Sink, func(t *testing.T) {
			if r.Outcome != want[r.Sink] {
				t.Fatalf("outcome %s after %d attempts (%v), want %s", r.Outcome, r.Attempts, r.Err, want[r.Sink])
			}
		})
	}
}

// refusedURL is the URL of a port where nothing listens any more.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// waitNoProcess polls until no process has mark in its command line: the
// runner kills an exporter's whole group, children it left behind included.
func waitNoProcess(t *testing.T, mark string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := processesWith(mark)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d processes of the exporters are still running: %v", len(pids), pids)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func processesWith(mark string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(mark)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombieChildren lists this process' children in state Z (exited, never
// reaped).
func zombieChildren(t *testing.T) []int {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Log("no /proc: zombie check skipped")
		return nil
	}
	self := os.Getpid()
	var zombies []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: fields start
		// after its last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self && fields[0] == "Z" {
			zombies = append(zombies, pid)
		}
	}
	return zombies
}

func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
