package main

// Tests of what users of the original metrics tool rely on (issue 14's
// table, docs/migration.md): Python exporters of each shape, through the
// compatibility form and through the server, warm and cold.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// terminal returns the slave side of a fresh pseudo-terminal, for a stdin
// that is a TTY as when a person runs the command.
func terminal(t *testing.T) *os.File {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock the pseudo-terminal: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pseudo-terminal number: %v", e)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal's slave: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// originalTree writes a checkout in the original layout with an exporter
// of each shape and returns its exporters directory.
func originalTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "lib/netbase.py", `import argparse
from exporters import exporter


class NetBase(exporter.Exporter):
    job_name = 'net'

    def parse_args(self, *args):
        parser = argparse.ArgumentParser(prog='net')
        parser.add_argument('--target', required=True)
        parsed = parser.parse_args(args)
        self.job_name = f'DynJob_{parsed.target}'
        return parsed
`, 0o644)
	writeFile(t, root, "exporters/net.py", `import sys
from lib import netbase


class NetExporter(netbase.NetBase):
    def gather_metrics(self):
        print(f'polling {self.args.target}')
        print('net: a warning', file=sys.stderr)
        h = self.metrics.Histogram('net_latency_seconds', 'Latency.', buckets=[0.5, 1.0])
        h.observe(0.7)
        self.metrics.Gauge('net_up', 'Up.', ['target']).labels(self.args.target).set(1)
        self.metrics.Gauge('net_debug', 'The debug flag.').set(1 if self.debug else 0)
`, 0o644)
	writeFile(t, root, "exporters/bail/bail.py", `import sys
from exporters.exporter import Exporter


class BailExporter(Exporter):
    def gather_metrics(self):
        print('bail: giving up', file=sys.stderr)
        sys.exit(255)
`, 0o644)
	writeFile(t, root, "exporters/aio.py", `import asyncio
from exporters.exporter import Exporter


class AioExporter(Exporter):
    job_name = 'aio'

    async def gather_metrics(self):
        values = await asyncio.gather(*(self.fetch(i) for i in range(3)))
        self.metrics.Gauge('aio_sum', 'Sum.').set(sum(values))

    async def fetch(self, i):
        await asyncio.sleep(0)
        return i * 10
`, 0o644)
	writeFile(t, root, "exporters/slow.py", `import time
from exporters.exporter import Exporter


class SlowExporter(Exporter):
    def gather_metrics(self):
        time.sleep(1.5)
        self.metrics.Gauge('slow_done', 'Finished.').set(1)
`, 0o644)
	return filepath.Join(root, "exporters")
}

func TestCompatLikeOriginal(t *testing.T) {
	t.Parallel()
	env := pythonEnv(t)
	dir := originalTree(t)
	cfg := writeFile(t, t.TempDir(), "short.yml", "global:\n  timeout: 500ms\nexporters_dir: "+dir+"\n", 0o644)
	tty := func(t *testing.T) *os.File { return terminal(t) }
	noTTY := func(*testing.T) *os.File { return nil }
	tests := []struct {
		name     string
		stdin    func(*testing.T) *os.File
		args     []string
		code     int
		stdout   []string // substrings that must appear
		noStdout []string // substrings that must not
		stderr   []string
	}{
		{name: "row 1, 3, 9: base class in lib/, its output reaches the terminal, le as written", stdin: tty,
			args:   []string{"--exporters.dir", dir, "--exporter", "net", "--target", "sw1"},
			stdout: []string{"polling sw1", `net_up{target="sw1"} 1`, "net_debug 0", `net_latency_seconds_bucket{le="1.0"} 1`}, stderr: []string{"net: a warning"}},
		{name: "row 14: abbreviated flags", stdin: tty,
			args:   []string{"--exporters.dir", dir, "--exp", "net", "--target=sw2", "--deb"},
			stdout: []string{`net_up{target="sw2"} 1`, "net_debug 1"}},
		{name: "row 6: argparse error, exit 2", stdin: tty,
			args: []string{"--exporters.dir", dir, "--exporter", "net"}, code: 2,
			stderr: []string{"usage: net", "--target"}, noStdout: []string{"net_up"}},
		{name: "row 4: -h is the exporter's help", stdin: tty,
			args:   []string{"--exporters.dir", dir, "--exporter", "net", "-h"},
			stdout: []string{"usage: net", "--target"}, noStdout: []string{"net_up"}},
		{name: "row 5: --help is the exporter's help", stdin: tty,
			args:   []string{"--exporters.dir", dir, "--exporter", "net", "--help"},
			stdout: []string{"usage: net"}, noStdout: []string{"net_up", "--pushgateway-address"}},
		{name: "row 6: sys.exit(255)", stdin: tty,
			args: []string{"--exporters.dir", dir, "--exporter", "bail"}, code: 255,
			stderr: []string{"bail: giving up"}},
		{name: "row 7: no terminal, no metrics printed", stdin: noTTY,
			args:   []string{"--exporters.dir", dir, "--exporter", "net", "--target", "sw1"},
			stdout: []string{"polling sw1"}, noStdout: []string{"net_up"}},
		{name: "async gather_metrics", stdin: tty,
			args: []string{"--exporters.dir", dir, "--exporter", "aio"}, stdout: []string{"aio_sum 30"}},
		{name: "row 2: no time limit unless given", stdin: tty,
			args: []string{"--config.file", cfg, "--exporter", "slow"}, stdout: []string{"slow_done 1"}},
		{name: "row 2: --timeout gives one", stdin: tty,
			args: []string{"--config.file", cfg, "--timeout", "300ms", "--exporter", "slow"}, code: 1,
			stderr: []string{"timed out"}, noStdout: []string{"slow_done"}},
		{name: "run keeps the exporter's timeout", stdin: tty,
			args: []string{"--config.file", cfg, "run", "slow"}, code: 1, stderr: []string{"timed out"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runMWStdin(t, env, tc.stdin(t), tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tc.noStdout {
				if strings.Contains(r.stdout, w) {
					t.Errorf("stdout holds %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestCompatPushJobFromInstance: row 8, the job is the instance's job_name
// after parse_args; and asking for help pushes nothing.
func TestCompatPushJobFromInstance(t *testing.T) {
	t.Parallel()
	gw := startGateway(t)
	env := pythonEnv(t)
	dir := originalTree(t)
	r := runMWStdin(t, env, nil, "--exporters.dir", dir, "--exporter", "net", "--target", "sw9", "--pushgateway-address", gw.Addr)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	g := gatewayJob(t, gw.URL, "DynJob_sw9")
	wantSeries(t, "gateway", g.samples, map[string]float64{`net_up{target="sw9"}`: 1})

	r = runMWStdin(t, env, nil, "--exporters.dir", dir, "--exporter", "net", "-h", "--pushgateway-address", gw.Addr)
	if r.code != 0 || !strings.Contains(r.stdout, "usage: net") {
		t.Fatalf("-h: exit %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if groups := readGateway(t, gw.URL); len(groups) != 1 {
		t.Errorf("-h pushed: the gateway holds %d groups, want the first push's only", len(groups))
	}
}

// TestServeLikeOriginal runs the same exporters through the server, warm
// (discovered, the default) and cold (warm: false).
func TestServeLikeOriginal(t *testing.T) {
	t.Parallel()
	env := pythonEnv(t)
	dir := originalTree(t)
	var cold strings.Builder
	cold.WriteString("exporters:\n")
	for _, name := range []string{"net", "aio"} {
		fmt.Fprintf(&cold, "  %s:\n    python: %s\n    warm: false\n    params: {target: {pattern: '[a-z0-9]+'}}\n", name, filepath.Join(dir, name+".py"))
	}
	fmt.Fprintf(&cold, "  bail:\n    python: %s\n    warm: false\n", filepath.Join(dir, "bail", "bail.py"))
	coldCfg := writeFile(t, t.TempDir(), "cold.yml", cold.String(), 0o644)

	for _, mode := range []struct {
		name string
		args []string
		warm bool
	}{
		{"warm", []string{"--exporters.dir", dir}, true},
		{"cold", []string{"--config.file", coldCfg}, false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, env, append(mode.args, "--web.enable-debug")...)
			if mode.warm {
				// The first run starts the worker (and runs cold).
				get(t, s.url+"/metrics/aio")
				waitFor(t, s.url+"/metrics", regexp.MustCompile(`(?m)^metricwrap_python_workers 1$`))
			}
			code, body := get(t, s.url+"/metrics/net?target=sw1")
			if code != 200 {
				t.Fatalf("net: %d %s", code, body)
			}
			samples, _ := flatten(parseFamilies(t, body))
			wantSeries(t, "net", samples, map[string]float64{`net_up{target="sw1"}`: 1, `net_debug{}`: 0})
			// Row 9: bucket bounds as prometheus_client wrote them.
			if !strings.Contains(body, `net_latency_seconds_bucket{le="1.0"} 1`) {
				t.Errorf("net: no le=\"1.0\" bucket as written:\n%s", body)
			}

			if code, body := get(t, s.url+"/metrics/net"); code != 500 {
				t.Errorf("net without target: %d, want 500\n%s", code, body)
			}
			if code, body := get(t, s.url+"/metrics/bail"); code != 500 {
				t.Errorf("bail: %d, want 500\n%s", code, body)
			}
			code, body = get(t, s.url+"/metrics/aio")
			if code != 200 || !strings.Contains(body, "aio_sum 30") {
				t.Errorf("aio: %d\n%s", code, body)
			}

			// Row 10: the debug view shows the run a scrape gets.
			code, body = get(t, s.url+"/metrics/net?target=sw1&debug=1")
			var dbg struct {
				ReturnCode int    `json:"returncode"`
				Metrics    string `json:"metrics"`
				Stdout     string `json:"stdout"`
			}
			if err := json.Unmarshal([]byte(body), &dbg); err != nil || code != 200 {
				t.Fatalf("debug view: %d %v\n%s", code, err, body)
			}
			if !strings.Contains(dbg.Metrics, "net_debug 0.0") || !strings.Contains(dbg.Stdout, "polling sw1") {
				t.Errorf("debug view: %+v", dbg)
			}
			if strings.Contains(dbg.Metrics, "metricwrap-job") {
				t.Errorf("the runner's job line reached the debug view:\n%s", dbg.Metrics)
			}
			if mode.warm {
				// A built-in (the embedded default's dummy) shows its
				// exposition in the debug view too.
				code, body = get(t, s.url+"/metrics/dummy?debug=1")
				if err := json.Unmarshal([]byte(body), &dbg); err != nil || code != 200 || !strings.Contains(dbg.Metrics, "dummy_gauge") {
					t.Errorf("dummy debug view: %d %v\n%s", code, err, body)
				}
			}
			// Row 12: an unknown exporter's debug answer is the original's.
			code, body = get(t, s.url+"/metrics/nope?debug=1")
			if err := json.Unmarshal([]byte(body), &dbg); err != nil || code != 404 || dbg.ReturnCode != 255 || dbg.Stdout != "Exporter not found.\n" {
				t.Errorf("unknown exporter, debug: %d %v\n%s", code, err, body)
			}
			// Row 13: /metrics/ is /metrics.
			code, body = get(t, s.url+"/metrics/")
			if code != 200 || !strings.Contains(body, "server_uptime_seconds_total") {
				t.Errorf("/metrics/: %d\n%s", code, body)
			}

			_, self := get(t, s.url+"/metrics")
			warmRuns := regexp.MustCompile(`(?m)^metricwrap_python_worker_runs_total (\d+)`).FindStringSubmatch(self)
			if warmRuns == nil {
				t.Fatalf("no metricwrap_python_worker_runs_total:\n%s", self)
			}
			if n, _ := strconv.Atoi(warmRuns[1]); (n > 0) != mode.warm {
				t.Errorf("warm runs %d, want warm=%v", n, mode.warm)
			}
		})
	}
}

// waitFor polls url until its body matches re.
func waitFor(t *testing.T, url string, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get(t, url)
		if re.MatchString(body) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never matched %s:\n%s", url, re, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeScheduledPushJobFromInstance: row 8 in serve, warm: a scheduled
// run of a Python class pushes under the instance's job_name.
func TestServeScheduledPushJobFromInstance(t *testing.T) {
	t.Parallel()
	gw := startGateway(t)
	env := pythonEnv(t)
	dir := originalTree(t)
	cfg := writeFile(t, t.TempDir(), "sched.yml", fmt.Sprintf(`exporters:
  net:
    python: %s
    params: {target: {pattern: '[a-z0-9]+'}}
    schedule: 200ms
    schedule_params: {target: sw5}
    sinks: [gw]
sinks:
  gw: {type: pushgateway, url: %q}
spool: {dir: %q}
`, filepath.Join(dir, "net.py"), gw.URL, filepath.Join(t.TempDir(), "spool")), 0o644)
	startServe(t, env, "--config.file", cfg)
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, g := range readGateway(t, gw.URL) {
			if g.labels["job"] == "DynJob_sw5" {
				wantSeries(t, "gateway", g.samples, map[string]float64{`net_up{target="sw5"}`: 1})
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no group job=DynJob_sw5 within 30s; groups: %v", readGateway(t, gw.URL))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
