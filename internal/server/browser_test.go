package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/delivery"
	"github.com/metricwrap/metricwrap/internal/exporter"
	_ "github.com/metricwrap/metricwrap/internal/exporter/builtin" // dummy and http for the page
	"github.com/metricwrap/metricwrap/internal/run"
	"github.com/metricwrap/metricwrap/internal/schedule"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// findChromium returns a headless-capable Chromium. It is required under CI
// only once scripts/install-test-deps installs it; until then the test
// skips where it is missing.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	deps, _ := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "scripts", "install-test-deps"))
	if os.Getenv("CI") != "" && bytes.Contains(deps, []byte("chromium")) {
		t.Fatal("chromium not found; install Debian package chromium (make test installs it)")
	}
	t.Skip("chromium not found; install Debian package chromium")
	return ""
}

// chromium runs a headless browser once with extra args and returns its
// stdout and its stderr log, in which page console messages appear as
// lines with ":CONSOLE".
func chromium(t *testing.T, bin string, args ...string) (stdout, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0",
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

// consoleMessages are the page's console output in a Chromium log.
func consoleMessages(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ":CONSOLE") {
			out = append(out, line)
		}
	}
	return out
}

const browserConfig = `
exporters:
  dummy: {builtin: dummy}
  health:
    builtin: http
    params:
      target: {pattern: 'https?://[A-Za-z0-9.:/-]+', required: true}
  broken:
    command: [/bin/sh, -c, 'echo "cannot reach the device" >&2; exit 3']
  nightly:
    builtin: dummy
    schedule: 1h
    sinks: [gateway, archive]
sinks:
  gateway: {type: pushgateway, url: '{{gateway}}'}
  archive: {type: pushgateway, url: 'http://127.0.0.1:1', retry_for: 100ms}
spool: {dir: '{{spool}}'}
`

var hrefRE = regexp.MustCompile(`href="([^"]+)"`)

// TestStatusPageInBrowser opens the status page in headless Chromium and
// checks what a person sees: the exporter table, links that work, and no
// console errors. UPDATE_SCREENSHOT=1 also saves docs/status-page.png.
func TestStatusPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	bin := findChromium(t)
	gw := testenv.StartPushgateway(t)
	src := strings.NewReplacer("{{gateway}}", gw.URL, "{{spool}}", filepath.Join(t.TempDir(), "spool")).Replace(browserConfig)
	cfg, err := config.LoadBytes("browser.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "browser.yml", ExportersDir: t.TempDir(), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// As serve wires them: one registry for the runs, the scheduler, the
	// sinks and the spool, which the page reads.
	reg := prometheus.NewRegistry()
	eng := run.New(run.Options{Registerer: reg})
	eng.SetExporters(set, run.Limits{MaxConcurrency: 2})
	s := New(set, Options{EnableDebug: true, Engine: eng, Registry: reg})
	// A second server on the same runs without debug output, with a
	// registry of its own that the sinks and the scheduler report to too.
	quietReg := prometheus.NewRegistry()
	quiet := New(set, Options{Engine: eng, Registry: quietReg})
	both := bothRegisterers{reg, quietReg}
	deliv, err := delivery.Open(nil, delivery.Options{Config: cfg, Registerer: both})
	if err != nil {
		t.Fatal(err)
	}
	defer deliv.Close()
	runs, next := schedule.NewRunsCounter(), schedule.NewNextRunGauge()
	both.MustRegister(runs, next)
	sched, err := schedule.Start(set, deliv, schedule.Options{Runs: runs, Next: next, Run: schedule.Through(eng)})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Stop()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	quietTS := httptest.NewServer(quiet.Handler())
	defer quietTS.Close()
	// Poll until the scheduled run reached both sinks: the gateway took
	// it, the unreachable archive spooled it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var delivered, spooled bool
		g := gather(reg)
		g.each("metricwrap_sink_push_total", "sink", func(sink string, m *dto.Metric, v float64) {
			delivered = delivered || (sink == "gateway" && labelOf(m, "result") == "success" && v > 0)
			spooled = spooled || (sink == "archive" && labelOf(m, "result") == "spooled" && v > 0)
		})
		if delivered && spooled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled run did not reach the sinks (delivered %v, spooled %v)", delivered, spooled)
		}
		time.Sleep(50 * time.Millisecond)
	}

	fetch := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	// A success and a failure, so the page shows both outcomes.
	if code, _ := fetch("/metrics/dummy"); code != http.StatusOK {
		t.Fatalf("dummy run: %d", code)
	}
	for range 2 {
		if code, _ := fetch("/metrics/broken"); code != http.StatusInternalServerError {
			t.Fatalf("broken run: %d, want 500", code)
		}
	}

	dom, log := chromium(t, bin, "--dump-dom", ts.URL+"/")
	if msgs := consoleMessages(log); len(msgs) > 0 {
		t.Errorf("console messages on the status page:\n%s", strings.Join(msgs, "\n"))
	}
	if !strings.Contains(dom, `<table id="exporters">`) {
		t.Fatalf("no exporter table in the rendered page:\n%s", dom)
	}
	rows := []struct{ name, kind, want string }{
		{"dummy", "builtin", `<span class="success">success</span>`},
		{"health", "builtin", "not run yet"},
		{"broken", "command", `<span class="failure">failure</span>`},
	}
	for _, r := range rows {
		t.Run("row "+r.name, func(t *testing.T) {
			re := regexp.MustCompile(`(?s)<tr>\s*<td><code>` + r.name + `</code></td>\s*<td>` + r.kind + `</td>(.*?)</tr>`)
			m := re.FindStringSubmatch(dom)
			if m == nil {
				t.Fatalf("no row for %s (%s) in the rendered table", r.name, r.kind)
			}
			if !strings.Contains(m[1], r.want) {
				t.Errorf("row %s lacks %q:\n%s", r.name, r.want, m[1])
			}
		})
	}
	if !strings.Contains(dom, "cannot reach the device") {
		t.Error("the failed run's stderr is not shown, though debug is enabled")
	}
	const reason = "exporter failed with exit code 3; its stderr is in the server log"
	if n := strings.Count(dom, reason); n != 2 {
		t.Errorf("the reason of the two failed runs shows %d times, want 2", n)
	}
	// Without debug output, metricwrap's own reason stays; the stderr goes.
	quietDOM, _ := chromium(t, bin, "--dump-dom", quietTS.URL+"/")
	if !strings.Contains(quietDOM, reason) || strings.Contains(quietDOM, "cannot reach the device") {
		t.Errorf("without debug the page must show %q and not the stderr:\n%s", reason, quietDOM)
	}
	schedRow := regexp.MustCompile(`(?s)<table id="schedules">.*?<td><code>nightly</code></td>\s*<td>1h0m0s</td>\s*<td><code>gateway</code>, <code>archive</code></td>\s*<td>in (59m[0-9]+s|1h0m0s)`)
	if !schedRow.MatchString(dom) {
		t.Errorf("no schedule row for nightly with its next run within the hour:\n%s", dom)
	}
	for sink, want := range map[string]*regexp.Regexp{
		"gateway": regexp.MustCompile(`<td>[0-9]+s ago</td>\s*<td>1 delivered, 0 spooled</td>\s*<td><span class="muted">empty</span>`),
		"archive": regexp.MustCompile(`<td><span class="muted">none yet</span></td>\s*<td>0 delivered, 1 spooled</td>\s*<td><span class="failure">1 waiting</span>, oldest [0-9]+s`),
	} {
		row := regexp.MustCompile(`(?s)<tr>\s*<td><code>` + sink + `</code></td>(.*?)</tr>`).FindStringSubmatch(dom[strings.Index(dom, `<table id="sinks">`):])
		if row == nil || !want.MatchString(row[1]) {
			t.Errorf("sink %s: row %v does not match %s", sink, row, want)
		}
	}

	// Every link on the page answers; a run link runs its exporter.
	links := map[string]bool{}
	for _, m := range hrefRE.FindAllStringSubmatch(dom, -1) {
		links[strings.ReplaceAll(m[1], "&amp;", "&")] = true
	}
	wantStatus := map[string]int{
		"/metrics":                        http.StatusOK,
		"/api/v1/exporters":               http.StatusOK,
		"/-/healthy":                      http.StatusOK,
		"/metrics/dummy":                  http.StatusOK,
		"/metrics/health?target=":         http.StatusBadRequest, // the required target is left to fill in
		"/metrics/broken":                 http.StatusInternalServerError,
		"/metrics/dummy?debug=1":          http.StatusOK,
		"/metrics/health?debug=1&target=": http.StatusBadRequest,
		"/metrics/broken?debug=1":         http.StatusInternalServerError,
		"/metrics/nightly":                http.StatusOK,
		"/metrics/nightly?debug=1":        http.StatusOK,
	}
	for link, want := range wantStatus {
		t.Run("link "+link, func(t *testing.T) {
			if !links[link] {
				t.Fatalf("the page has no link %s (links: %v)", link, links)
			}
			code, body := fetch(link)
			if code != want {
				t.Errorf("GET %s: %d, want %d: %s", link, code, want, body)
			}
			if link == "/metrics/dummy" && !strings.Contains(body, "dummy_gauge") {
				t.Errorf("the run link did not run dummy:\n%s", body)
			}
		})
	}
	for link := range links {
		if _, ok := wantStatus[link]; !ok {
			t.Errorf("link %s is not checked by this test", link)
		}
	}

	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		png := filepath.Join(testenv.RepoRoot(t), "docs", "status-page.png")
		chromium(t, bin, "--window-size=1100,980", "--screenshot="+png, quietTS.URL+"/")
		if st, err := os.Stat(png); err != nil || st.Size() == 0 {
			t.Fatalf("no screenshot written to %s: %v", png, err)
		}
		t.Logf("wrote %s", png)
	}
}

// bothRegisterers registers every collector on each of its registries.
type bothRegisterers []*prometheus.Registry

func (b bothRegisterers) Register(c prometheus.Collector) error {
	for i, r := range b {
		if err := r.Register(c); err != nil {
			for _, done := range b[:i] {
				done.Unregister(c)
			}
			return err
		}
	}
	return nil
}

func (b bothRegisterers) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := b.Register(c); err != nil {
			panic(err)
		}
	}
}

func (b bothRegisterers) Unregister(c prometheus.Collector) bool {
	ok := true
	for _, r := range b {
		ok = r.Unregister(c) && ok
	}
	return ok
}

// TestBrowserConsoleDetection proves that consoleMessages notices a page
// that logs an error, so the status page check above cannot pass by not
// looking.
func TestBrowserConsoleDetection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	bin := findChromium(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, `<!DOCTYPE html><html><body><script>console.error("status page broke"); missingFunction();</script></body></html>`)
	}))
	defer ts.Close()
	_, log := chromium(t, bin, "--dump-dom", ts.URL+"/")
	msgs := strings.Join(consoleMessages(log), "\n")
	for _, want := range []string{"status page broke", "missingFunction is not defined"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("console message %q not detected; log:\n%s", want, log)
		}
	}
}
