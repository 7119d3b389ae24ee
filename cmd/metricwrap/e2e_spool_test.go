package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// TestScheduledPushSurvivesSinkDownAndKill9 is SPEC 4.5 end to end: serve
// runs an exporter on a schedule while its Pushgateway is down, so results
// go to the spool; serve is then killed with SIGKILL; once the Pushgateway
// is up, a new serve delivers what the first one spooled.
func TestScheduledPushSurvivesSinkDownAndKill9(t *testing.T) {
	gatewayBin := testenv.Pushgateway(t)
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	gwAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := writeFile(t, dir, "metricwrap.yml", `
exporters:
  dummy:
    builtin: dummy
    schedule: 100ms
    sinks: [gw]
sinks:
  gw: {type: pushgateway, url: http://`+gwAddr+`, retry_for: 0s, timeout: 1s}
spool: {dir: `+spoolDir+`}
`, 0o644)

	// First serve: the Pushgateway is down, so runs are spooled.
	first := exec.Command(binary(t), "serve", "--config.file="+cfgPath,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", testenv.FreePort(t)))
	first.Env = baseEnv()
	out := &syncBuffer{}
	first.Stdout, first.Stderr = out, out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	spooled := func() []string {
		m, _ := filepath.Glob(filepath.Join(spoolDir, "*", "*.batch"))
		return m
	}
	waitUntil(t, 30*time.Second, "runs spooled", func() bool { return len(spooled()) >= 2 })
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	n := len(spooled())
	t.Logf("%d batches spooled before SIGKILL", n)

	// The Pushgateway comes up on the address the config names.
	gw := exec.Command(gatewayBin, "--web.listen-address="+gwAddr, "--persistence.file=")
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Process.Kill(); _ = gw.Wait() })
	testenv.WaitHTTP(t, "http://"+gwAddr+"/-/ready", 30*time.Second)

	// A new serve, without the schedule, drains the spool at start.
	calm := writeFile(t, dir, "calm.yml", strings.Replace(
		mustRead(t, cfgPath), "    schedule: 100ms\n", "", 1), 0o644)
	s := startServe(t, baseEnv(), "--config.file="+calm)
	waitUntil(t, 30*time.Second, "the spool drained", func() bool { return len(spooled()) == 0 })
	_, body := get(t, s.url+"/metrics")
	if !strings.Contains(body, `metricwrap_sink_push_total{result="success",sink="gw"}`) {
		t.Errorf("no successful push counted:\n%s", grepLines(body, "metricwrap_sink"))
	}
	g := gatewayJob(t, "http://"+gwAddr, "DummyExporter") // the original dummy's job_name
	if v, ok := g.samples["dummy_gauge{}"]; !ok || v != 0 {
		t.Fatalf("dummy_gauge did not arrive: %v", g.samples)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
