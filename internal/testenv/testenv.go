// Package testenv finds and starts the real components that tests run
// against (Pushgateway, Prometheus, MinIO, Python with prometheus_client).
//
// A test that needs a component calls the matching function. When the
// component is missing the test is skipped on a developer's machine and
// fails when the CI environment variable is set, so CI never passes by
// skipping. `make test` installs every component (scripts/install-test-deps).
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// missing skips the test, or fails it under CI.
func missing(t testing.TB, what, hint string) {
	t.Helper()
	msg := fmt.Sprintf("%s not found; %s (make test installs it)", what, hint)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RepoRoot returns the repository's top directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate testenv source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ToolsDir is where scripts/install-test-deps puts tools built with go
// install (MinIO). METRICWRAP_TOOLS_DIR overrides it.
func ToolsDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("METRICWRAP_TOOLS_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), ".tools", "bin")
}

// findBinary looks for the first of names in the tools dir, then on PATH.
func findBinary(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(ToolsDir(t), n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Pushgateway returns the path of the Pushgateway binary.
func Pushgateway(t testing.TB) string {
	t.Helper()
	p := findBinary(t, "prometheus-pushgateway", "pushgateway")
	if p == "" {
		missing(t, "Pushgateway", "install Debian package prometheus-pushgateway")
	}
	return p
}

// StartPushgateway runs a real Pushgateway on a free port without
// persistence (Debian's default would keep groups across test runs).
func StartPushgateway(t testing.TB, extra ...string) *Process {
	t.Helper()
	args := append([]string{"--web.listen-address={addr}", "--persistence.file="}, extra...)
	return StartServer(t, Pushgateway(t), "/-/ready", args...)
}

// Prometheus returns the path of the Prometheus server binary.
func Prometheus(t testing.TB) string {
	t.Helper()
	p := findBinary(t, "prometheus")
	if p == "" {
		missing(t, "Prometheus", "install Debian package prometheus")
	}
	return p
}

// Promtool returns the path of promtool (Debian package prometheus).
func Promtool(t testing.TB) string {
	t.Helper()
	p := findBinary(t, "promtool")
	if p == "" {
		missing(t, "promtool", "install Debian package prometheus")
	}
	return p
}

// Helm returns the path of helm (scripts/install-test-deps builds it into
// .tools/bin).
func Helm(t testing.TB) string {
	t.Helper()
	p := findBinary(t, "helm")
	if p == "" {
		missing(t, "helm", "run scripts/install-test-deps")
	}
	return p
}

// Minio returns the path of the MinIO server binary.
func Minio(t testing.TB) string {
	t.Helper()
	p := findBinary(t, "minio")
	if p == "" {
		missing(t, "MinIO", "run scripts/install-test-deps")
	}
	return p
}

// Python returns an interpreter that can import prometheus_client: the
// METRICWRAP_PYTHON variable when set, else the first python3 on PATH that
// can, else /usr/bin/python3.
func Python(t testing.TB) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("METRICWRAP_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		candidates = append(candidates, filepath.Join(dir, "python3"))
	}
	candidates = append(candidates, "/usr/bin/python3")
	for _, c := range candidates {
		if err := exec.Command(c, "-c", "import prometheus_client").Run(); err == nil {
			return c
		}
	}
	missing(t, "python3 with prometheus_client", "install Debian package python3-prometheus-client")
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitHTTP polls url until it answers with a status below 500, or fails the
// test after timeout.
func WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
			lastErr = fmt.Errorf("status %s", resp.Status)
		} else {
			lastErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within %s: %v", url, timeout, lastErr)
}

// Process is a server started for a test; it is stopped by t.Cleanup.
type Process struct {
	Cmd  *exec.Cmd
	Addr string // host:port
	URL  string // http://host:port
	out  *lockedWriter
}

// Output is what the process printed so far (stdout and stderr); safe to
// call while it runs.
func (p *Process) Output() string { return p.out.String() }

// StartServer runs bin with args (in which every "{addr}" is replaced by a
// free 127.0.0.1 address), waits until readyPath answers, and stops the
// process when the test ends.
func StartServer(t testing.TB, bin string, readyPath string, args ...string) *Process {
	t.Helper()
	return StartServerAt(t, fmt.Sprintf("127.0.0.1:%d", FreePort(t)), bin, readyPath, args...)
}

// StartServerAt is StartServer on a given address, for a server that reads
// its address from a config file the test writes first.
func StartServerAt(t testing.TB, addr, bin string, readyPath string, args ...string) *Process {
	t.Helper()
	full := make([]string, len(args))
	for i, a := range args {
		full[i] = strings.ReplaceAll(a, "{addr}", addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, full...)
	out := &strings.Builder{}
	w := &lockedWriter{b: out}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", bin, err)
	}
	// The process is waited for once, here; a server that exits before it
	// is ready fails the test at once instead of after the timeout.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		err := <-exited
		if t.Failed() {
			t.Logf("%s (%v) output:\n%s", filepath.Base(bin), err, w.String())
		}
	})
	p := &Process{Cmd: cmd, Addr: addr, URL: "http://" + addr, out: w}
	waitReady(t, p.URL+readyPath, 30*time.Second, exited)
	return p
}

// waitReady is WaitHTTP that also stops when the process exits.
func waitReady(t testing.TB, url string, timeout time.Duration, exited chan error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("%s: the server exited before it was ready (%v)", url, err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
			lastErr = fmt.Errorf("status %s", resp.Status)
		} else {
			lastErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within %s: %v", url, timeout, lastErr)
}
