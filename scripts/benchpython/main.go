// Command benchpython measures warm Python workers (issue 8): one `serve`
// with the same Python class exporter twice, `warm` (the default) and
// `cold` (`warm: false`), driven in interleaved rounds at each concurrency;
// it prints p50/p99 latency and throughput of /metrics/NAME for both and
// their ratio. With -soak N it then runs N warm requests and reports the
// worker's RSS, fds and children before and after, and leftover private
// directories. The runs' private directories are made (via TMPDIR) in a
// directory of /dev/shm when that is a writable tmpfs, as the runner's own
// default puts them there, else in the bench's temporary directory. Driven
// by scripts/bench-python:
//
//	benchpython -bin PATH [-c 1,8] [-d 3s] [-rounds 3] [-soak 0]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// exporterSrc is a small class exporter of the original layout.
const exporterSrc = `from exporters.exporter import Exporter


class Bench(Exporter):
    job_name = 'bench'

    def gather_metrics(self):
        g = self.metrics.Gauge('bench_value', 'A value per item.', ['item'])
        for i in range(20):
            g.labels(str(i)).set(i)
        self.metrics.Counter('bench_runs', 'Runs.').inc()
`

func main() {
	bin := flag.String("bin", "", "metricwrap binary")
	conc := flag.String("c", "1,8", "concurrencies, comma-separated")
	dur := flag.Duration("d", 3*time.Second, "length of one round per side")
	rounds := flag.Int("rounds", 3, "interleaved rounds per concurrency")
	soak := flag.Int("soak", 0, "warm requests of the leak check (0: none)")
	flag.Parse()
	if err := run(*bin, *conc, *dur, *rounds, *soak); err != nil {
		fmt.Fprintln(os.Stderr, "benchpython:", err)
		os.Exit(1)
	}
}

func run(bin, conc string, dur time.Duration, rounds, soak int) error {
	if bin == "" {
		return errors.New("-bin is required")
	}
	tmp, err := os.MkdirTemp("", "benchpython-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	exp := filepath.Join(tmp, "checkout", "exporters")
	if err := os.MkdirAll(exp, 0o755); err != nil {
		return err
	}
	runs, err := runsDir(tmp)
	if err != nil {
		return err
	}
	defer os.RemoveAll(runs)
	file := filepath.Join(exp, "bench.py")
	if err := os.WriteFile(file, []byte(exporterSrc), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`global:
  timeout: 30s
  max_concurrency: 16
exporters_dir: %s
exporters:
  warm: {python: %s}
  cold: {python: %s, warm: false}
`, filepath.Join(tmp, "none"), file, file)
	cfgFile := filepath.Join(tmp, "metricwrap.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--config.file", cfgFile, "serve", "--web.listen-address", addr)
	cmd.Env = append(os.Environ(), "TMPDIR="+runs)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	if err := waitReady(client, base+"/metrics/warm", 60*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, logs.String())
	}
	if err := waitWarm(client, base, 60*time.Second); err != nil {
		return err
	}
	for _, name := range []string{"warm", "cold"} { // first runs out of the way
		for range 3 {
			if _, err := get(client, base+"/metrics/"+name); err != nil {
				return err
			}
		}
	}
	fmt.Printf("python class exporter, /metrics/NAME, %d interleaved rounds of %s per side\n", rounds, dur)
	var ratios []string
	for _, cs := range strings.Split(conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil {
			return err
		}
		var warm, cold stats
		for range rounds {
			warm.add(load(client, base+"/metrics/warm", c, dur))
			cold.add(load(client, base+"/metrics/cold", c, dur))
		}
		if warm.errors+cold.errors > 0 {
			return fmt.Errorf("concurrency %d: %d warm and %d cold requests failed", c, warm.errors, cold.errors)
		}
		fmt.Printf("concurrency %d\n  warm: %s\n  cold: %s\n", c, &warm, &cold)
		ratios = append(ratios, fmt.Sprintf("%.1fx (concurrency %d)", warm.throughput()/cold.throughput(), c))
	}
	fmt.Printf("warm/cold throughput ratio: %s\n", strings.Join(ratios, ", "))
	if soak > 0 {
		return soakCheck(client, base, cmd.Process.Pid, runs, soak)
	}
	return nil
}

// runsDir makes the parent of the runs' private directories: in /dev/shm
// when it is a writable tmpfs, as users get by default, else under tmp.
func runsDir(tmp string) (string, error) {
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic && syscall.Access("/dev/shm", 0o2 /* W_OK */) == nil {
		if dir, err := os.MkdirTemp("/dev/shm", "benchpython-runs-"); err == nil {
			return dir, nil
		}
	}
	dir := filepath.Join(tmp, "runs")
	return dir, os.Mkdir(dir, 0o755)
}

// tmpfsMagic is TMPFS_MAGIC of statfs(2).
const tmpfsMagic = 0x01021994

// stats collects request latencies over rounds.
type stats struct {
	lat     []time.Duration
	elapsed time.Duration
	errors  int
}

type round struct {
	lat     []time.Duration
	elapsed time.Duration
	errors  int
}

func (s *stats) add(r round) {
	s.lat = append(s.lat, r.lat...)
	s.elapsed += r.elapsed
	s.errors += r.errors
}

func (s *stats) throughput() float64 { return float64(len(s.lat)) / s.elapsed.Seconds() }

func (s *stats) String() string {
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	q := func(p float64) time.Duration { return s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))] }
	return fmt.Sprintf("%6d requests  p50 %7.1f ms  p99 %7.1f ms  %7.1f req/s", len(s.lat),
		float64(q(0.5).Microseconds())/1000, float64(q(0.99).Microseconds())/1000, s.throughput())
}

// load sends requests to url from c connections for d.
func load(client *http.Client, url string, c int, d time.Duration) round {
	var mu sync.Mutex
	var r round
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				_, err := get(client, url)
				lat := time.Since(t0)
				mu.Lock()
				if err != nil {
					r.errors++
				} else {
					r.lat = append(r.lat, lat)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}

func get(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return body, nil
}

func waitReady(client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if _, err := get(client, url); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("serve did not answer %s", url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitWarm waits until serve reports a ready worker.
func waitWarm(client *http.Client, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		body, err := get(client, base+"/metrics")
		if err == nil && bytes.Contains(body, []byte("\nmetricwrap_python_workers 1\n")) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("no warm python worker became ready")
}

// soakCheck runs n warm requests and compares the worker before and after.
func soakCheck(client *http.Client, base string, servePid int, runs string, n int) error {
	worker := workerPid(servePid)
	if worker == 0 {
		return errors.New("no python worker among serve's children")
	}
	rss0, fds0 := rssKB(worker), countFds(worker)
	var wg sync.WaitGroup
	next := make(chan struct{})
	var failed sync.Map
	for range 8 {
		wg.Go(func() {
			for range next {
				if _, err := get(client, base+"/metrics/warm"); err != nil {
					failed.Store(err.Error(), true)
				}
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	failed.Range(func(k, _ any) bool { fmt.Println("soak error:", k); return true })
	left, _ := os.ReadDir(runs)
	fmt.Printf("soak: %d warm requests; worker pid %d (same after: %v); RSS %d -> %d KiB; fds %d -> %d; children after (its spare included): %d; private dirs left: %d\n",
		n, worker, workerPid(servePid) == worker, rss0, rssKB(worker), fds0, countFds(worker), len(childrenOf(worker)), len(left))
	return nil
}

func workerPid(servePid int) int {
	for _, p := range childrenOf(servePid) {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
		if bytes.Contains(cmdline, []byte("--worker")) {
			return p
		}
	}
	return 0
}

func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

func rssKB(pid int) int {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func countFds(pid int) int {
	entries, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(entries)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
