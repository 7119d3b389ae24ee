package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
)

// The replay kill test: a child replays a spool of Dynatrace batches whose
// counter grows by 10 per batch, and is SIGKILLed at one step of the replay
// (each step, in turn, over the whole replay); a second child finishes it.
// The receiver must end with every batch, the counter deltas of distinct
// batches must add up to the true increase, and a batch may arrive twice
// only when the kill fell between the receiver's answer and the record of
// it, and then with the very same lines (SPEC 4.5's at-least-once).
const (
	replayDirEnv  = "METRICWRAP_REPLAY_HELPER_DIR"
	replayURLEnv  = "METRICWRAP_REPLAY_HELPER_URL"
	replayStepEnv = "METRICWRAP_REPLAY_HELPER_STEP"
	// replayFreshEnv makes the child deliver the last batch itself, as
	// exec does with its run, instead of finding it spooled.
	replayFreshEnv = "METRICWRAP_REPLAY_HELPER_FRESH"
	replayBatches  = 4
	// Steps per batch: the spool hands it out ("deliver"), the sink sends
	// ("send") and gets the answer ("answered"), the spool records the
	// delivery ("delivered") and removes the entry ("removed").
	stepsPerBatch = 5
)

// replayQueue is the queue of sink dt at url.
func replayQueue(url string) sink.Queue {
	return sink.Queue{Sink: "dt", Destination: "dynatrace " + url}
}

// killBatch is batch i of the replay: its sequence number as a gauge and a
// counter at 10*i.
func killBatch(i int) *batch.Batch {
	seq, total := float64(i), float64(10*i)
	return &batch.Batch{
		ID: fmt.Sprintf("k%02d", i), Job: "kill", Start: time.Now(),
		Families: []*dto.MetricFamily{
			{Name: ptr("kill_seq"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &seq}}}},
			{Name: ptr("kill_total"), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{{Counter: &dto.Counter{Value: &total}}}},
		},
	}
}

// stepper prints each step and, at the chosen one, waits to be killed.
type stepper struct {
	mu   sync.Mutex
	n    int
	stop int
}

func (s *stepper) step(what, id string) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	fmt.Fprintf(os.Stdout, "step %d %s %s\n", n, what, id)
	if n == s.stop {
		select {} // the parent kills us here
	}
}

// stepTransport marks the steps around the request itself.
type stepTransport struct{ s *stepper }

func (t stepTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.s.step("send", "")
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		t.s.step("answered", "")
	}
	return resp, err
}

// TestHelperReplay is not a test: the child of TestReplaySurvivesKill9AtEveryStep.
func TestHelperReplay(t *testing.T) {
	dir := os.Getenv(replayDirEnv)
	if dir == "" {
		t.Skip("helper process for TestReplaySurvivesKill9AtEveryStep")
	}
	stop, _ := strconv.Atoi(os.Getenv(replayStepEnv))
	st := &stepper{stop: stop}
	die := func(err error) { fmt.Fprintln(os.Stderr, err); os.Exit(2) }
	sp, err := Open(Options{Dir: dir})
	if err != nil {
		die(err)
	}
	sp.step = func(what string, b *batch.Batch) { st.step(what, b.ID) }
	dt, err := dynatrace.New(dynatrace.Options{
		Name: "dt", URL: os.Getenv(replayURLEnv), Token: "tok",
		StateFile: filepath.Join(dir, ".state", "dt.json"),
		Client:    &http.Client{Transport: stepTransport{st}},
	})
	if err != nil {
		die(err)
	}
	f, err := sink.NewFanout([]sink.Sink{dt}, sink.FanoutOptions{Spool: sp})
	if err != nil {
		die(err)
	}
	if q := replayQueue(os.Getenv(replayURLEnv)); f.Queues()[0] != q {
		die(fmt.Errorf("queue %+v, want %+v", f.Queues()[0], q))
	}
	if os.Getenv(replayFreshEnv) != "" {
		r := f.Deliver(context.Background(), killBatch(replayBatches-1))[0]
		if r.Outcome != sink.OutcomeSuccess {
			die(fmt.Errorf("fresh batch: %+v", r))
		}
		os.Exit(0)
	}
	if err := f.Flush(context.Background()); err != nil {
		die(err)
	}
	os.Exit(0)
}

// receiver is the strict Dynatrace fake, recording the lines of each
// request it accepted.
type receiver struct {
	fake *dtfake.Server
	mu   sync.Mutex
	reqs [][]string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	rec := httptest.NewRecorder()
	r.fake.ServeHTTP(rec, req)
	if rec.Code/100 == 2 {
		r.mu.Lock()
		r.reqs = append(r.reqs, strings.Split(strings.TrimSpace(string(body)), "\n"))
		r.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

var (
	seqLine   = regexp.MustCompile(`^kill_seq(?:,job=\S+)? gauge,(\d+)`)
	deltaLine = regexp.MustCompile(`^kill_total(?:,job=\S+)? count,delta=(\d+)`)
)

func TestReplaySurvivesKill9AtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, fresh := range []bool{false, true} {
		name, total, spooled := "flush", replayBatches*stepsPerBatch, replayBatches
		if fresh {
			// The run's own batch is spooled first (one more step), then
			// replayed behind the backlog.
			name, total, spooled = "run", 1+replayBatches*stepsPerBatch, replayBatches-1
		}
		t.Run(name, func(t *testing.T) { testReplayKills(t, fresh, total, spooled) })
	}
}

func testReplayKills(t *testing.T, fresh bool, total, spooled int) {
	for k := 1; k <= total; k++ {
		t.Run(fmt.Sprintf("kill at step %d", k), func(t *testing.T) {
			recv := &receiver{fake: dtfake.New("tok")}
			srv := httptest.NewServer(recv)
			defer srv.Close()
			url := srv.URL + "/api/v2/metrics/ingest"
			dir := t.TempDir()
			sp, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			for i := range spooled {
				if err := sp.Put(replayQueue(url), killBatch(i)); err != nil {
					t.Fatal(err)
				}
			}
			_ = sp.Close()

			killedAt := runReplayChild(t, dir, url, k, fresh)
			if killedAt == "" {
				t.Fatalf("the child finished before step %d", k)
			}
			if runReplayChild(t, dir, url, 0, false) != "" {
				t.Fatal("the recovering child was killed")
			}

			seen := map[int][]string{}
			dups := 0
			for _, lines := range recv.reqs {
				m := seqLine.FindStringSubmatch(lines[0])
				if m == nil {
					t.Fatalf("request without its sequence line: %q", lines)
				}
				seq, _ := strconv.Atoi(m[1])
				if prev, ok := seen[seq]; ok {
					dups++
					if strings.Join(prev, "\n") != strings.Join(lines, "\n") {
						t.Errorf("batch %d was sent again with other lines:\n%q\n%q", seq, prev, lines)
					}
					continue
				}
				seen[seq] = lines
			}
			sum := 0
			for i := range replayBatches {
				lines, ok := seen[i]
				if !ok {
					t.Errorf("batch %d was lost (killed at %s)", i, killedAt)
					continue
				}
				for _, l := range lines {
					if m := deltaLine.FindStringSubmatch(l); m != nil {
						d, _ := strconv.Atoi(m[1])
						sum += d
					}
				}
			}
			// The first batch is the counter's first sighting: the increase
			// is what came after it.
			if want := 10 * (replayBatches - 1); sum != want {
				t.Errorf("the deltas of distinct batches add up to %d, want %d (killed at %s)", sum, want, killedAt)
			}
			mayRepeat := strings.HasPrefix(killedAt, "answered")
			if dups > 1 || dups == 1 && !mayRepeat {
				t.Errorf("%d batches arrived twice after a kill at %s", dups, killedAt)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, queueKey(replayQueue(url)), "*"+entrySuffix)); len(left) != 0 {
				t.Errorf("the spool still holds %v", left)
			}
		})
	}
}

// runReplayChild runs TestHelperReplay on dir, kills it at step stop (0:
// never) and returns the step it was killed at, "" when it finished.
func runReplayChild(t *testing.T, dir, url string, stop int, fresh bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperReplay$")
	cmd.Env = append(os.Environ(), replayDirEnv+"="+dir, replayURLEnv+"="+url, replayStepEnv+"="+strconv.Itoa(stop))
	if fresh {
		cmd.Env = append(cmd.Env, replayFreshEnv+"=1")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killedAt := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "step" {
			continue
		}
		if n, _ := strconv.Atoi(f[1]); n == stop {
			killedAt = strings.Join(f[2:], " ")
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Errorf("kill child: %v", err)
			}
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case killedAt != "" && (!errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL):
		t.Fatalf("child did not die of SIGKILL: %v\nstderr: %s", err, stderr.String())
	case killedAt == "" && err != nil:
		t.Fatalf("child failed: %v\nstderr: %s", err, stderr.String())
	}
	return killedAt
}
