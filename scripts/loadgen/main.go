// Command loadgen measures metricwrap against doing the same work bare, in
// one process run, and prints the ratios issues 2 and 3 ask for. It is
// driven by scripts/bench-run and scripts/bench-serve:
//
//	loadgen run   -bin PATH [-n 200]
//	loadgen serve -bin PATH [-c 8] [-d 2s] [-rounds 5]
//	loadgen peer  -bin PATH -peer SCRIPT_EXPORTER [-c 8] [-d 3s] [-rounds 5]
//
// Every measurement interleaves the two sides, so machine noise hits both.
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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The trivial exporters measured: one that only writes its file, one that
// also works for about 10 ms first.
const (
	trivialScript = `echo x 1 > "$METRICS_FILE"`
	tenMsScript   = `sleep 0.01; echo x 1 > "$METRICS_FILE"`
	sleepScript   = `sleep 1; echo x 1 > "$METRICS_FILE"`
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen run|serve -bin PATH [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = benchRun(os.Args[2:])
	case "serve":
		err = benchServe(os.Args[2:])
	case "peer":
		err = benchPeer(os.Args[2:])
	case "hit":
		err = benchHit(os.Args[2:])
	case "promhttp":
		// The baseline of /metrics/dummy, in a process of its own as
		// metricwrap serve is, so neither shares the load client's CPU time.
		err = servePromhttp(os.Args[2])
	case "noop":
		// A Go process that does nothing: bench-run's floor for any Go wrapper.
	default:
		err = fmt.Errorf("unknown mode %q (want run, serve or peer)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// config is the metricwrap.yml both benchmarks use.
func config(maxConcurrency int) string {
	return fmt.Sprintf(`global:
  timeout: 30s
  max_concurrency: %d
exporters:
  dummy: {builtin: dummy}
  trivial:
    command: [/bin/sh, -c, '%s']
    params: {target: {pattern: '[A-Za-z0-9.-]+'}}
  tenms:
    command: [/bin/sh, -c, '%s']
  sleepy:
    command: [/bin/sh, -c, '%s']
`, maxConcurrency, trivialScript, tenMsScript, sleepScript)
}

// quantile of sorted durations, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedCopy(ds []time.Duration) []time.Duration {
	out := append([]time.Duration(nil), ds...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func medianFloat(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ---- run: metricwrap run X vs X bare, whole processes -----------------

func benchRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	bin := fs.String("bin", "", "metricwrap binary")
	n := fs.Int("n", 200, "runs of each side per exporter")
	_ = fs.Parse(args)
	if *bin == "" {
		return errors.New("-bin is required")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "loadgen-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "metricwrap.yml")
	if err := os.WriteFile(cfg, []byte(config(4)), 0o644); err != nil {
		return err
	}
	fmt.Printf("metricwrap run NAME vs the same exporter bare; %d interleaved runs each, whole processes\n", *n)
	for _, e := range []struct{ name, script string }{{"trivial", trivialScript}, {"tenms", tenMsScript}} {
		wrapped := exec.Command(*bin, "--config.file", cfg, "run", e.name)
		if out, err := wrapped.CombinedOutput(); err != nil {
			return fmt.Errorf("metricwrap run %s: %w\n%s", e.name, err, out)
		}
		var bare, wrap, noop, diffs []time.Duration
		for i := 0; i < *n; i++ {
			runBare := func() error {
				d, err := timeProcess(exec.Command("/bin/sh", "-c", e.script), []string{
					"PATH=" + os.Getenv("PATH"), "METRICS_FILE=" + filepath.Join(dir, "bare.prom"),
				})
				bare = append(bare, d)
				return err
			}
			runWrapped := func() error {
				d, err := timeProcess(exec.Command(*bin, "--config.file", cfg, "run", e.name), os.Environ())
				wrap = append(wrap, d)
				return err
			}
			runNoop := func() error {
				d, err := timeProcess(exec.Command(self, "noop"), os.Environ())
				noop = append(noop, d)
				return err
			}
			order := []func() error{runBare, runWrapped, runNoop}
			if i%2 == 1 {
				order = []func() error{runWrapped, runNoop, runBare}
			}
			for _, f := range order {
				if err := f(); err != nil {
					return err
				}
			}
			diffs = append(diffs, wrap[len(wrap)-1]-bare[len(bare)-1])
		}
		b, w, d, o := sortedCopy(bare), sortedCopy(wrap), sortedCopy(diffs), sortedCopy(noop)
		fmt.Printf("\n%s exporter (%s)\n", e.name, e.script)
		fmt.Printf("  bare:            median %s  p90 %s\n", ms(quantile(b, 0.5)), ms(quantile(b, 0.9)))
		fmt.Printf("  metricwrap run:  median %s  p90 %s\n", ms(quantile(w, 0.5)), ms(quantile(w, 0.9)))
		fmt.Printf("  added:           %s (median of paired differences %s)\n",
			ms(quantile(w, 0.5)-quantile(b, 0.5)), ms(quantile(d, 0.5)))
		fmt.Printf("  ratio:           %.3f (median/median; targets: adds <= 3 ms, ratio <= 1.3 for ~10 ms)\n", float64(quantile(w, 0.5))/float64(quantile(b, 0.5)))
		fmt.Printf("  for scale, a Go binary that does nothing: median %s  p90 %s\n", ms(quantile(o, 0.5)), ms(quantile(o, 0.9)))
	}
	return nil
}

// timeProcess runs cmd with env, output discarded, and returns its wall time.
func timeProcess(cmd *exec.Cmd, env []string) (time.Duration, error) {
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%v: %w", cmd.Args, err)
	}
	return d, nil
}

// ---- serve: /metrics/NAME under load vs spawning bare ------------------

// load is what one phase of concurrent requests measured.
type load struct {
	firstErr  error
	ok, errs  int
	latencies []time.Duration
	elapsed   time.Duration
}

func (l load) rate() float64 { return float64(l.ok) / l.elapsed.Seconds() }

// report prints the first error of a phase that had any.
func (l load) report(what string) {
	if l.firstErr != nil {
		fmt.Printf("  %s: %d errors, first: %v\n", what, l.errs, l.firstErr)
	}
}

// hammer runs c workers for d, each calling do(worker, seq) in a loop.
func hammer(c int, d time.Duration, do func(worker, seq int) error) load {
	var mu sync.Mutex
	var total load
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine load
			for seq := 0; time.Now().Before(deadline); seq++ {
				t0 := time.Now()
				err := do(w, seq)
				mine.latencies = append(mine.latencies, time.Since(t0))
				if err != nil {
					if mine.firstErr == nil {
						mine.firstErr = err
					}
					mine.errs++
				} else {
					mine.ok++
				}
			}
			mu.Lock()
			total.ok += mine.ok
			total.errs += mine.errs
			if total.firstErr == nil {
				total.firstErr = mine.firstErr
			}
			total.latencies = append(total.latencies, mine.latencies...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total
}

var client = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true,
	},
}

func fetch(url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func benchServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	bin := fs.String("bin", "", "metricwrap binary")
	c := fs.Int("c", 8, "concurrency")
	d := fs.Duration("d", 2*time.Second, "duration of one round")
	rounds := fs.Int("rounds", 5, "interleaved rounds per comparison")
	_ = fs.Parse(args)
	if *bin == "" {
		return errors.New("-bin is required")
	}
	dir, err := os.MkdirTemp("", "loadgen-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "metricwrap.yml")
	if err := os.WriteFile(cfg, []byte(config(*c)), 0o644); err != nil {
		return err
	}
	base, stop, err := startServe(*bin, cfg, dir)
	if err != nil {
		return err
	}
	defer stop()

	fmt.Printf("metricwrap serve: concurrency %d, %d interleaved rounds of %s per side\n", *c, *rounds, *d)

	// 1. Distinct parameter per request (no coalescing) vs bare spawns.
	var served, bare []load
	var rs, rb []float64
	var id atomic.Int64
	for r := 0; r < *rounds; r++ {
		s := hammer(*c, *d, func(_, _ int) error {
			return fetch(fmt.Sprintf("%s/metrics/trivial?target=t%d", base, id.Add(1)))
		})
		b := hammer(*c, *d, func(w, _ int) error {
			return spawnBare(filepath.Join(dir, fmt.Sprintf("bare-%d.prom", w)))
		})
		s.report("served")
		b.report("bare")
		served, bare = append(served, s), append(bare, b)
		rs, rb = append(rs, s.rate()), append(rb, b.rate())
	}
	all := func(ls []load) (lat []time.Duration, errs int) {
		for _, l := range ls {
			lat = append(lat, l.latencies...)
			errs += l.errs
		}
		return sortedCopy(lat), errs
	}
	sl, se := all(served)
	bl, be := all(bare)
	fmt.Printf("\n/metrics/trivial?target=<distinct> vs spawning %q bare\n", trivialScript)
	fmt.Printf("  served: median %.0f req/s  p50 %s  p99 %s  errors %d\n", medianFloat(rs), ms(quantile(sl, 0.5)), ms(quantile(sl, 0.99)), se)
	fmt.Printf("  bare:   median %.0f run/s  p50 %s  p99 %s  errors %d\n", medianFloat(rb), ms(quantile(bl, 0.5)), ms(quantile(bl, 0.99)), be)
	fmt.Printf("  throughput ratio: %.3f (target >= 0.95)\n", medianFloat(rs)/medianFloat(rb))

	// 2. Every connection asks the same thing: coalesced.
	co := hammer(*c, *d, func(_, _ int) error { return fetch(base + "/metrics/trivial?target=same") })
	co.report("coalesced")
	cl := sortedCopy(co.latencies)
	fmt.Printf("\nall connections asking /metrics/trivial?target=same (coalesced)\n")
	fmt.Printf("  %.0f req/s  p50 %s  p99 %s  errors %d  (%.2fx the distinct rate)\n",
		co.rate(), ms(quantile(cl, 0.5)), ms(quantile(cl, 0.99)), co.errs, co.rate()/medianFloat(rs))

	// 3. 100 identical requests to an exporter that takes 1 s.
	if err := sleepy(base); err != nil {
		return err
	}

	// 4. Built-in dummy vs a bare promhttp handler with the same families.
	bareURL, closeBare, err := bareHandler()
	if err != nil {
		return err
	}
	defer closeBare()
	var rd, rp []float64
	var de, pe int
	for r := 0; r < *rounds; r++ {
		dl := hammer(*c, *d, func(_, _ int) error { return fetch(base + "/metrics/dummy") })
		pl := hammer(*c, *d, func(_, _ int) error { return fetch(bareURL) })
		dl.report("metricwrap")
		pl.report("promhttp")
		rd, rp = append(rd, dl.rate()), append(rp, pl.rate())
		de, pe = de+dl.errs, pe+pl.errs
	}
	fmt.Printf("\n/metrics/dummy vs a bare promhttp handler with the same families\n")
	fmt.Printf("  metricwrap: median %.0f req/s  errors %d\n", medianFloat(rd), de)
	fmt.Printf("  promhttp:   median %.0f req/s  errors %d\n", medianFloat(rp), pe)
	fmt.Printf("  throughput ratio: %.3f (target >= 0.5)\n", medianFloat(rd)/medianFloat(rp))
	return nil
}

// spawnBare is what metricwrap does for one run, minus metricwrap: start
// the command with METRICS_FILE, wait, read the file.
func spawnBare(file string) error {
	cmd := exec.Command("/bin/sh", "-c", trivialScript)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "METRICS_FILE=" + file}
	if err := cmd.Run(); err != nil {
		return err
	}
	_, err := os.ReadFile(file)
	return err
}

func sleepy(base string) error {
	before, err := runsTotal(base, "sleepy")
	if err != nil {
		return err
	}
	const n = 100
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var ready, wg sync.WaitGroup
	ready.Add(1)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ready.Wait()
			t0 := time.Now()
			errs[i] = fetch(base + "/metrics/sleepy")
			lat[i] = time.Since(t0)
		}(i)
	}
	start := time.Now()
	ready.Done()
	wg.Wait()
	all := time.Since(start)
	after, err := runsTotal(base, "sleepy")
	if err != nil {
		return err
	}
	failed := 0
	for _, e := range errs {
		if e != nil {
			failed++
		}
	}
	s := sortedCopy(lat)
	fmt.Printf("\n%d concurrent identical requests to an exporter that sleeps 1 s\n", n)
	fmt.Printf("  runs: %.0f (metricwrap_exporter_runs_total delta; target exactly 1)\n", after-before)
	fmt.Printf("  all answered in %s; slowest %s, p50 %s; errors %d (target: all within 1.5 s, no errors)\n",
		ms(all), ms(s[len(s)-1]), ms(quantile(s, 0.5)), failed)
	return nil
}

// runsTotal sums metricwrap_exporter_runs_total of exporter over outcomes.
func runsTotal(base, exporter string) (float64, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, m := range fams["metricwrap_exporter_runs_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "exporter" && l.GetValue() == exporter {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum, nil
}

// bareHandler starts this program as a child serving, through promhttp, a
// registry with the built-in dummy exporter's families, and returns its URL.
func bareHandler() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "promhttp", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url := "http://" + addr + "/metrics"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if fetch(url) == nil {
			return url, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("bare promhttp handler did not start on %s", addr)
		}
	}
}

// servePromhttp serves the dummy exporter's families at addr until killed.
func servePromhttp(addr string) error {
	reg := prometheus.NewRegistry()
	exec := prometheus.NewSummaryVec(prometheus.SummaryOpts{
		Name: "execution_seconds", Help: "Summary of time spent executing something",
	}, []string{"function"})
	exec.WithLabelValues("DummyExporter.my_custom_task").Observe(0.000047)
	exec.WithLabelValues("DummyExporter.observed_function").Observe(0.000078)
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "dummy_gauge", Help: "A dummy metric, means nothing."})
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dummy_counter_total", Help: "A dummy metric, means nothing.",
	}, []string{"dummy_label"})
	counter.WithLabelValues("dummy_label_value").Inc()
	timer := prometheus.NewCounter(prometheus.CounterOpts{Name: "generic_timer_seconds_total", Help: "Value of generic timer"})
	timer.Add(0.000018)
	reg.MustRegister(exec, gauge, counter, timer)
	srv := &http.Server{Addr: addr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// startServe runs metricwrap serve on a free port and waits until it is
// ready; stop sends SIGTERM and waits.
func startServe(bin, cfg, dir string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config.file", cfg, "--log.level=error", "serve", "--web.listen-address="+addr)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if fetch(base+"/-/ready") == nil {
			return base, stop, nil
		}
		if ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("metricwrap serve did not become ready: %s", strings.TrimSpace(out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
