package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
)

// seedyScript is an exporter in the original tool's calling convention
// that believes its arguments: it writes its metrics to whatever
// --output-filename says and creates a file named by every other
// --NAME=VALUE, the worst an exporter taking open parameters can do.
const seedyScript = `#!/bin/sh
out="$METRICS_FILE"
for a in "$@"; do
  case "$a" in
    --output-filename=*) out="${a#--output-filename=}" ;;
    --*=*) echo pwned > "${a#*=}" ;;
  esac
done
echo stray > stray.log
echo 'seedy_up 1' > "$out"
[ "$out" = "$METRICS_FILE" ] || echo 'seedy_up 1' > "$METRICS_FILE"
`

// hostileSetup builds a server over an exporters directory holding the
// seedy exporter, with open parameters as openParams says, and makes a
// fresh directory the process' working directory: the canaries are that
// directory, the exporters directory and the runs' temp dir, which must
// all be as they were after any request.
type hostileSetup struct {
	ts                        *httptest.Server
	cwd, exportersDir, runTmp string
}

func newHostileSetup(t *testing.T, openParams string) *hostileSetup {
	t.Helper()
	dir := t.TempDir()
	h := &hostileSetup{
		cwd: filepath.Join(dir, "cwd"), exportersDir: filepath.Join(dir, "exporters"), runTmp: filepath.Join(dir, "tmp"),
	}
	for _, d := range []string{h.cwd, h.exportersDir, h.runTmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.exportersDir, "seedy.sh"), []byte(seedyScript), 0o700); err != nil {
		t.Fatal(err)
	}
	yml := ""
	if openParams != "" {
		yml = "discovery: {open_params: " + openParams + "}\n"
	}
	cfg, err := config.LoadBytes("hostile.yml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "hostile.yml", TempDir: h.runTmp, ExportersDir: h.exportersDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(h.cwd)
	s := New(set, Options{})
	h.ts = httptest.NewServer(s.Handler())
	t.Cleanup(h.ts.Close)
	return h
}

// checkCanaries fails when anything but the seedy script is left in the
// three canary directories.
func (h *hostileSetup) checkCanaries(t *testing.T) {
	t.Helper()
	for dir, want := range map[string][]string{h.cwd: nil, h.exportersDir: {"seedy.sh"}, h.runTmp: nil} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s holds %q after the requests, want %q", dir, got, want)
		}
	}
}

// TestHostileGETWritesNothing is issue 17's first attack: an
// unauthenticated GET naming the runner contract's options. None of them
// reaches the exporter, and what an open parameter does name lands in the
// run's private directory, which is removed with the run.
func TestHostileGETWritesNothing(t *testing.T) {
	h := newHostileSetup(t, "true")
	var refused []string
	for _, o := range config.ReservedOptions {
		refused = append(refused, "--"+o+"=.bashrc")
		if o != "debug" { // ?debug= is the debug view's, behind its own gate
			refused = append(refused, o+"=.bashrc")
		}
	}
	// Prefixes argparse would expand to a reserved option.
	refused = append(refused, "output=.bashrc", "o=.bashrc", "--exp=x", "no-p=1", "push=x")
	for _, q := range refused {
		status, body, _ := get(t, h.ts.URL+"/metrics/seedy?"+q)
		if status != http.StatusBadRequest || !strings.Contains(body, "reserved") {
			t.Errorf("?%s: %d %q, want 400 naming the option reserved", q, status, body)
		}
	}
	// An open parameter still runs, and the file it names, like the
	// exporter's stray log, is written in the private directory.
	status, body, _ := get(t, h.ts.URL+"/metrics/seedy?target=.bashrc")
	if status != http.StatusOK || !strings.Contains(body, "seedy_up 1") {
		t.Fatalf("?target=.bashrc: %d %q, want 200 with the metrics", status, body)
	}
	h.checkCanaries(t)
}

// TestOpenParamsAreOptIn: a discovered script takes no parameter unless
// discovery.open_params says so.
func TestOpenParamsAreOptIn(t *testing.T) {
	for _, open := range []string{"", "false"} {
		h := newHostileSetup(t, open)
		if status, body, _ := get(t, h.ts.URL+"/metrics/seedy?target=.bashrc"); status != http.StatusBadRequest || !strings.Contains(body, "unknown parameter") {
			t.Errorf("open_params %q: ?target=.bashrc: %d %q, want 400 unknown parameter", open, status, body)
		}
		if status, body, _ := get(t, h.ts.URL+"/metrics/seedy"); status != http.StatusOK {
			t.Errorf("open_params %q: no parameters: %d %q, want 200", open, status, body)
		}
		h.checkCanaries(t)
	}
}

// TestTooManyParams: a request with thousands of parameters is refused
// before anything runs, with a message saying the cap.
func TestTooManyParams(t *testing.T) {
	h := newHostileSetup(t, "true")
	q := url.Values{}
	for i := range 10000 {
		q.Set("p"+strconv.Itoa(i), "1")
	}
	status, body, _ := get(t, h.ts.URL+"/metrics/seedy?"+q.Encode())
	if status != http.StatusBadRequest || !strings.Contains(body, "too many parameters") {
		t.Fatalf("%d parameters: %d %q, want 400 too many parameters", len(q), status, shorten(body))
	}
	h.checkCanaries(t)
}

// TestReloadIsGated: POST /-/reload needs EnableLifecycle, and even then
// refuses what a browser sends on behalf of another site's page.
func TestReloadIsGated(t *testing.T) {
	var reloads atomic.Int64
	reload := func() error {
		reloads.Add(1)
		return nil
	}
	post := func(t *testing.T, url string, header ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url+"/-/reload", strings.NewReader("x=1"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // a simple request: no preflight
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	_, off := newTestServer(t, Options{Reload: reload})
	if code, body := post(t, off.URL); code != http.StatusForbidden || !strings.Contains(body, "--web.enable-lifecycle") {
		t.Errorf("without the flag: %d %q, want 403 naming --web.enable-lifecycle", code, body)
	}
	if n := reloads.Load(); n != 0 {
		t.Fatalf("reloaded %d times without the flag", n)
	}

	_, on := newTestServer(t, Options{Reload: reload, EnableLifecycle: true})
	for _, h := range [][]string{
		{"Origin", "http://evil.example"},
		{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "null"},
	} {
		if code, body := post(t, on.URL, h...); code != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
			t.Errorf("%v: %d %q, want 403 cross-origin", h, code, body)
		}
	}
	if n := reloads.Load(); n != 0 {
		t.Fatalf("reloaded %d times for cross-origin requests", n)
	}
	host := strings.TrimPrefix(on.URL, "http://")
	for _, h := range [][]string{
		nil, // curl, promtool, a script
		{"Sec-Fetch-Site", "same-origin"},
		{"Origin", "http://" + host},
	} {
		if code, body := post(t, on.URL, h...); code != http.StatusOK {
			t.Errorf("%v: %d %q, want 200", h, code, body)
		}
	}
	if n := reloads.Load(); n != 3 {
		t.Errorf("reloaded %d times, want 3", n)
	}
}

// TestSymlinkOutOfExportersDirIsNotRun: a link in the exporters directory
// to a program elsewhere is not discovered (404, nothing runs) unless
// discovery.follow_symlinks says so; a link within the directory is.
func TestSymlinkOutOfExportersDirIsNotRun(t *testing.T) {
	dir := t.TempDir()
	exporters, elsewhere := filepath.Join(dir, "exporters"), filepath.Join(dir, "elsewhere")
	for _, d := range []string{exporters, elsewhere} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	canary := filepath.Join(dir, "ran")
	prog := "#!/bin/sh\n: > " + canary + "\necho 'linked_up 1' > \"$METRICS_FILE\"\n"
	for _, p := range []string{filepath.Join(elsewhere, "tool.sh"), filepath.Join(exporters, "real.sh")} {
		if err := os.WriteFile(p, []byte(prog), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(elsewhere, "tool.sh"), filepath.Join(exporters, "out.sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.sh", filepath.Join(exporters, "in.sh")); err != nil {
		t.Fatal(err)
	}
	for _, follow := range []bool{false, true} {
		cfg, err := config.LoadBytes("s.yml", []byte("discovery: {follow_symlinks: "+strconv.FormatBool(follow)+"}\n"))
		if err != nil {
			t.Fatal(err)
		}
		set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: exporters, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		_, ts := newTestServer(t, Options{}, set.Entries()...)
		want := http.StatusNotFound
		if follow {
			want = http.StatusOK
		}
		if code, body, _ := get(t, ts.URL+"/metrics/out"); code != want {
			t.Errorf("follow_symlinks %v: /metrics/out: %d %q, want %d", follow, code, body, want)
		}
		if _, err := os.Stat(canary); (err == nil) != follow {
			t.Errorf("follow_symlinks %v: the linked program ran: %v", follow, err == nil)
		}
		if code, body, _ := get(t, ts.URL+"/metrics/in"); code != http.StatusOK {
			t.Errorf("follow_symlinks %v: /metrics/in: %d %q, want 200", follow, code, body)
		}
		_ = os.Remove(canary)
	}
}

// TestScrapeFailureHidesURLSecrets: a scrape exporter's failure body, which
// any client reads, names the endpoint without its query token or
// password, whether the endpoint answered an error or did not answer.
func TestScrapeFailureHidesURLSecrets(t *testing.T) {
	const token = "tok-planted-in-query"
	t.Setenv("MW_SCRAPE_TOKEN", token)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer up.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	refused := dead.Listener.Addr().String() // nothing listens there once closed
	dead.Close()
	cfg, err := config.LoadBytes("s.yml", []byte(`exporters:
  answered: {scrape: '`+up.URL+`/metrics?token=${MW_SCRAPE_TOKEN}'}
  refused: {scrape: 'http://u:${MW_SCRAPE_TOKEN}@`+refused+`/metrics?token=${MW_SCRAPE_TOKEN}'}
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, ts := newTestServer(t, Options{EnableDebug: true}, set.Entries()...)
	for _, p := range []string{"/metrics/answered", "/metrics/refused", "/metrics/refused?debug=1", "/", "/api/v1/exporters"} {
		code, body, _ := get(t, ts.URL+p)
		if strings.Contains(body, token) {
			t.Errorf("GET %s (%d) shows the token: %s", p, code, shorten(body))
		}
	}
	if _, body, _ := get(t, ts.URL+"/metrics/answered"); !strings.Contains(body, "token=xxxxx") {
		t.Errorf("the failure body does not name the endpoint: %q", body)
	}
}
