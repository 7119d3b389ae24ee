package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// peerScript is the one script both servers run: in metricwrap's file mode
// it writes $METRICS_FILE, under script_exporter (which reads stdout and
// sets no METRICS_FILE) it prints, so each tool runs it its native way.
const peerScript = `#!/bin/sh
if [ -n "$METRICS_FILE" ]; then echo "x 1" > "$METRICS_FILE"; else echo "x 1"; fi
`

// side is one server under comparison.
type side struct {
	name string
	pid  int
	url  func(id int64) string
	// rates, cpu per run (ms) and latencies at concurrency 1 per round.
	rates, cpu []float64
	lat1       []time.Duration
}

// benchPeer compares /metrics/trivial?target=<distinct> with
// script_exporter's /probe?script=trivial on the same script, alternating
// rounds (and a bare-spawn round, the floor) so machine noise hits each.
func benchPeer(args []string) error {
	fs := flag.NewFlagSet("peer", flag.ExitOnError)
	bin := fs.String("bin", "", "metricwrap binary")
	peer := fs.String("peer", "", "script_exporter binary")
	c := fs.Int("c", 8, "concurrency of the throughput rounds")
	d := fs.Duration("d", 3*time.Second, "duration of one round")
	rounds := fs.Int("rounds", 5, "alternated rounds per side")
	_ = fs.Parse(args)
	if *bin == "" || *peer == "" {
		return errors.New("-bin and -peer are required")
	}
	// The servers run in a temporary directory.
	for _, p := range []*string{bin, peer} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	dir, err := os.MkdirTemp("", "loadgen-peer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "trivial.sh")
	if err := os.WriteFile(script, []byte(peerScript), 0o755); err != nil {
		return err
	}
	mwCfg := filepath.Join(dir, "metricwrap.yml")
	// max_concurrency as high as the load, so neither side queues.
	if err := os.WriteFile(mwCfg, []byte(fmt.Sprintf(`global:
  max_concurrency: %d
exporters:
  trivial:
    command: [%s]
    params: {target: {pattern: '[A-Za-z0-9.-]+'}}
`, max(*c, 8), script)), 0o644); err != nil {
		return err
	}
	seCfg := filepath.Join(dir, "scripts.yml")
	if err := os.WriteFile(seCfg, []byte(fmt.Sprintf("scripts:\n  - name: trivial\n    command: [%s]\n", script)), 0o644); err != nil {
		return err
	}

	mwBase, mwPid, stopMW, err := startServer(dir, *bin, "--config.file", mwCfg, "--log.level=error", "serve")
	if err != nil {
		return err
	}
	defer stopMW()
	seBase, sePid, stopSE, err := startServer(dir, *peer, "--config.files="+seCfg, "--log.level=error")
	if err != nil {
		return err
	}
	defer stopSE()
	mw := &side{name: "metricwrap", pid: mwPid, url: func(id int64) string {
		return fmt.Sprintf("%s/metrics/trivial?target=t%d", mwBase, id)
	}}
	se := &side{name: "script_exporter", pid: sePid, url: func(id int64) string {
		return fmt.Sprintf("%s/probe?script=trivial&target=t%d", seBase, id)
	}}
	var bareRates []float64
	var bareLat1 []time.Duration
	var id atomic.Int64
	fmt.Printf("metricwrap vs script_exporter, same script; %d alternated rounds of %s per side\n", *rounds, *d)
	for r := 0; r < *rounds; r++ {
		order := []*side{mw, se}
		if r%2 == 1 {
			order = []*side{se, mw}
		}
		for _, s := range order {
			before, err := cpuTicks(s.pid)
			if err != nil {
				return err
			}
			l := hammer(*c, *d, func(_, _ int) error { return fetch(s.url(id.Add(1))) })
			after, err := cpuTicks(s.pid)
			if err != nil {
				return err
			}
			l.report(s.name)
			s.rates = append(s.rates, l.rate())
			if l.ok > 0 {
				s.cpu = append(s.cpu, float64(after-before)*1000/float64(clockTicks)/float64(l.ok))
			}
			one := hammer(1, *d/3, func(_, _ int) error { return fetch(s.url(id.Add(1))) })
			one.report(s.name + " c=1")
			s.lat1 = append(s.lat1, one.latencies...)
		}
		b := hammer(*c, *d, func(w, _ int) error {
			return spawnScript(script, filepath.Join(dir, fmt.Sprintf("bare-%d.prom", w)))
		})
		b.report("bare")
		bareRates = append(bareRates, b.rate())
		b1 := hammer(1, *d/3, func(_, _ int) error { return spawnScript(script, filepath.Join(dir, "bare-1.prom")) })
		bareLat1 = append(bareLat1, b1.latencies...)
	}
	p50 := func(ls []time.Duration) time.Duration { return quantile(sortedCopy(ls), 0.5) }
	fmt.Printf("\nconcurrency %d, distinct target per request\n", *c)
	for _, s := range []*side{mw, se} {
		fmt.Printf("  %-16s median %.0f req/s  server CPU %.3f ms/run  c=1 p50 %s\n",
			s.name+":", medianFloat(s.rates), medianFloat(s.cpu), ms(p50(s.lat1)))
	}
	fmt.Printf("  %-16s median %.0f run/s  c=1 p50 %s\n", "bare spawn:", medianFloat(bareRates), ms(p50(bareLat1)))
	fmt.Printf("  throughput ratio: %.3f (target >= 1.1)\n", medianFloat(mw.rates)/medianFloat(se.rates))
	fmt.Printf("  cpu ratio: %.3f (target <= 1)\n", medianFloat(mw.cpu)/medianFloat(se.cpu))
	fmt.Printf("  p50 c=1 difference: %+.2f ms (target <= +0.2 ms)\n", float64(p50(mw.lat1)-p50(se.lat1))/1e6)
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times; 100 on
// every Linux that Go supports.
const clockTicks = 100

// cpuTicks is the user plus system CPU time pid itself used so far (its
// children, the scripts, are the same for both sides and left out).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields start after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// utime and stime are fields 14 and 15, so 11 and 12 after the state.
	ut, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	st, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return ut + st, nil
}

// spawnScript runs the script as metricwrap's file mode asks, minus
// metricwrap: the floor under both servers.
func spawnScript(script, file string) error {
	cmd := exec.Command(script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "METRICS_FILE=" + file}
	if err := cmd.Run(); err != nil {
		return err
	}
	_, err := os.ReadFile(file)
	return err
}

// startServer runs bin with args and --web.listen-address on a free port,
// waits until /-/healthy answers, and returns its base URL and pid.
func startServer(dir, bin string, args ...string) (string, int, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := l.Addr().String()
	l.Close()
	var out bytes.Buffer
	cmd := exec.Command(bin, append(args, "--web.listen-address="+addr)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if fetch(base+"/-/healthy") == nil {
			return base, cmd.Process.Pid, stop, nil
		}
		if ctx.Err() != nil {
			stop()
			return "", 0, nil, fmt.Errorf("%s did not become healthy: %s", filepath.Base(bin), strings.TrimSpace(out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// benchHit requests URL (with a distinct ?target= appended when it ends in
// "=") from c workers for d and prints the rate: load for a profiler.
func benchHit(args []string) error {
	fs := flag.NewFlagSet("hit", flag.ExitOnError)
	c := fs.Int("c", 8, "concurrency")
	d := fs.Duration("d", 10*time.Second, "duration")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: loadgen hit [-c 8] [-d 10s] URL")
	}
	u := fs.Arg(0)
	var id atomic.Int64
	l := hammer(*c, *d, func(_, _ int) error {
		if strings.HasSuffix(u, "=") {
			return fetch(u + "t" + strconv.FormatInt(id.Add(1), 10))
		}
		return fetch(u)
	})
	l.report("hit")
	lat := sortedCopy(l.latencies)
	fmt.Printf("%.0f req/s  p50 %s  p99 %s  errors %d\n", l.rate(), ms(quantile(lat, 0.5)), ms(quantile(lat, 0.99)), l.errs)
	return nil
}
