package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// syncBuffer collects a child's output from two pipes at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// served is a `metricwrap serve` started for a test.
type served struct {
	url string
	cmd *exec.Cmd
	out *syncBuffer
}

// startServe runs `metricwrap serve` on a free 127.0.0.1 port with args,
// waits until it answers, and stops it with SIGTERM when the test ends,
// failing the test unless it exits 0.
func startServe(t *testing.T, env []string, args ...string) *served {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(binary(t), append([]string{"serve", "--web.listen-address=" + addr}, args...)...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	s := &served{url: "http://" + addr, cmd: cmd, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("metricwrap serve did not exit cleanly on SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			if err := <-done; err != nil {
				t.Logf("after SIGKILL: %v", err)
			}
			t.Errorf("metricwrap serve did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("metricwrap serve output:\n%s", s.out.String())
		}
	})
	testenv.WaitHTTP(t, s.url+"/-/healthy", 30*time.Second)
	return s
}

// noRedirect is a client that shows redirects instead of following them
// and sees compressed bodies as sent.
var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// request sends method to url with the headers (name, value pairs) and
// returns the status, the response and its body.
func request(t *testing.T, method, url string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func get(t *testing.T, url string, headers ...string) (int, string) {
	t.Helper()
	code, _, body := request(t, http.MethodGet, url, headers...)
	return code, body
}

// serveEnv is the environment of the serve tests: Python available, and
// the canary's marker file in a fresh directory.
func serveEnv(t *testing.T) (env []string, canary string) {
	t.Helper()
	canary = filepath.Join(t.TempDir(), "canary-ran")
	return pythonEnv(t, "CANARY_FILE="+canary), canary
}

func TestServeEndpoints(t *testing.T) {
	t.Parallel()
	env, _ := serveEnv(t)
	s := startServe(t, env, "--config.file", testdataPath(t, "serve.yml"),
		"--exporters.dir", testdataPath(t, "exporters"), "--web.enable-debug")

	runs := []struct {
		name     string
		path     string
		wantCode int
		want     map[string]float64
		wantBody string
	}{
		{name: "built-in dummy", path: "/metrics/dummy", wantCode: 200,
			want: map[string]float64{`dummy_gauge{}`: 0, `dummy_counter_total{dummy_label="dummy_label_value"}`: 1}},
		{name: "declared param", path: "/metrics/echo?target=alpha", wantCode: 200,
			want: map[string]float64{`echo_param{region="eu",target="alpha"}`: 1}},
		{name: "the original --target form", path: "/metrics/echo?--target=beta", wantCode: 200,
			want: map[string]float64{`echo_param{region="eu",target="beta"}`: 1}},
		{name: "env param", path: "/metrics/echo?target=gamma&region=us", wantCode: 200,
			want: map[string]float64{`echo_param{region="us",target="gamma"}`: 1}},
		{name: "missing required param", path: "/metrics/echo", wantCode: 400, wantBody: `"target"`},
		{name: "bad param value", path: "/metrics/echo?target=a%20b", wantCode: 400, wantBody: `"target"`},
		{name: "unknown exporter", path: "/metrics/nope", wantCode: 404},
		{name: "discovered Python exporter, --target form", path: "/metrics/cisco?--target=core-sw01", wantCode: 200,
			want: map[string]float64{`cisco_up{port="22",target="core-sw01"}`: 1, `cisco_interfaces{target="core-sw01"}`: 9}},
		{name: "discovered Python exporter, open params", path: "/metrics/cisco?target=core-sw02&port=2222", wantCode: 200,
			want: map[string]float64{`cisco_up{port="2222",target="core-sw02"}`: 1}},
		{name: "discovered Python class with every type", path: "/metrics/kitchen", wantCode: 200, want: kitchenSeries},
		{name: "failing exporter", path: "/metrics/failing", wantCode: 500},
		{name: "debug without the parameter value is off", path: "/metrics/dummy?debug=0", wantCode: 200,
			want: map[string]float64{`dummy_gauge{}`: 0}},
	}
	for _, tc := range runs {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, s.url+tc.path)
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d; body:\n%s", code, tc.wantCode, body)
			}
			if tc.want != nil {
				samples, _ := flatten(parseFamilies(t, body))
				wantSeries(t, tc.path, samples, tc.want)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("body lacks %q:\n%s", tc.wantBody, body)
			}
		})
	}

	t.Run("debug JSON of a failing exporter", func(t *testing.T) {
		code, body := get(t, s.url+"/metrics/failing?debug=1")
		var d struct {
			ReturnCode      *int     `json:"returncode"`
			Stdout          *string  `json:"stdout"`
			Stderr          string   `json:"stderr"`
			MetricsFilename *string  `json:"metrics_filename"`
			Metrics         *string  `json:"metrics"`
			DurationSeconds *float64 `json:"duration_seconds"`
			Error           *string  `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("status %d, body is not JSON: %v\n%s", code, err, body)
		}
		if code != 500 {
			t.Errorf("status %d, want the run's 500", code)
		}
		if d.ReturnCode == nil || *d.ReturnCode != 3 {
			t.Errorf("returncode %v, want 3", d.ReturnCode)
		}
		if !strings.Contains(d.Stderr, "last words of the exporter") {
			t.Errorf("stderr %q lacks the exporter's stderr", d.Stderr)
		}
		if d.Error == nil || *d.Error == "" {
			t.Error("error is empty for a failed run")
		}
		if d.Stdout == nil || d.MetricsFilename == nil || d.Metrics == nil || d.DurationSeconds == nil {
			t.Errorf("missing keys in %s", body)
		}
	})
	t.Run("debug JSON of a good run", func(t *testing.T) {
		code, body := get(t, s.url+"/metrics/echo?target=delta&debug=1")
		var d struct {
			ReturnCode int     `json:"returncode"`
			Metrics    string  `json:"metrics"`
			Error      *string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &d); err != nil || code != 200 {
			t.Fatalf("status %d, %v: %s", code, err, body)
		}
		if d.ReturnCode != 0 || d.Error != nil || !strings.Contains(d.Metrics, `target="delta"`) {
			t.Errorf("debug JSON %s", body)
		}
	})

	t.Run("OpenMetrics and gzip", func(t *testing.T) {
		code, h, body := request(t, http.MethodGet, s.url+"/metrics/echo?target=om",
			"Accept", "application/openmetrics-text;version=1.0.0", "Accept-Encoding", "gzip")
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		if h.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q, want gzip", h.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
			t.Errorf("Content-Type %q", ct)
		}
		if !strings.HasSuffix(string(plain), "# EOF\n") || !strings.Contains(string(plain), `target="om"`) {
			t.Errorf("not an OpenMetrics document of the run:\n%s", plain)
		}
	})

	t.Run("health, readiness and the exporters API", func(t *testing.T) {
		for _, p := range []string{"/-/healthy", "/-/ready", "/"} {
			if code, body := get(t, s.url+p); code != 200 {
				t.Errorf("%s: status %d: %s", p, code, body)
			}
		}
		code, body := get(t, s.url+"/api/v1/exporters")
		var api struct {
			Exporters []struct {
				Name string `json:"name"`
				Kind string `json:"kind"`
			} `json:"exporters"`
		}
		if err := json.Unmarshal([]byte(body), &api); err != nil || code != 200 {
			t.Fatalf("status %d, %v: %s", code, err, body)
		}
		kinds := map[string]string{}
		for _, e := range api.Exporters {
			kinds[e.Name] = e.Kind
		}
		for _, name := range []string{"dummy", "echo", "failing", "canary", "cisco", "kitchen", "async_probe"} {
			if _, ok := kinds[name]; !ok {
				t.Errorf("exporter %s missing from the API: %v", name, kinds)
			}
		}
	})

	t.Run("self metrics count what happened", func(t *testing.T) {
		_, body := get(t, s.url+"/metrics")
		samples, _ := flatten(parseFamilies(t, body))
		for _, k := range []string{
			`metricwrap_exporter_runs_total{exporter="echo",outcome="success"}`,
			`metricwrap_exporter_runs_total{exporter="failing",outcome="failure"}`,
			`server_exporter_requests_total{path="/metrics/echo",status="200"}`,
			`server_exporter_requests_total{path="/metrics/failing",status="500"}`,
			`server_requests_total{status="400"}`,
			`server_requests_total{status="404"}`,
		} {
			if samples[k] < 1 {
				t.Errorf("%s = %g, want >= 1", k, samples[k])
			}
		}
		if _, counted := samples[`server_exporter_requests_total{path="/metrics/echo",status="400"}`]; counted {
			t.Error("a 400 was counted in server_exporter_requests_total; the original counted only 200 and >= 500")
		}
	})
}

// TestServeReload swaps configs under a running server: SIGHUP and POST
// /-/reload with a bad config keep the old one and say so in the metrics;
// a good one takes effect.
func TestServeReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := "exporters:\n  first:\n    command: [/bin/sh, -c, 'echo first_ok 1 > \"$METRICS_FILE\"']\n"
	cfg := writeFile(t, dir, "metricwrap.yml", good, 0o644)
	s := startServe(t, baseEnv(), "--config.file", cfg, "--web.enable-lifecycle")

	reloadOK := func() (float64, bool) {
		_, body := get(t, s.url+"/metrics")
		samples, _ := flatten(parseFamilies(t, body))
		v, ok := samples[`metricwrap_config_last_reload_successful{}`]
		return v, ok
	}
	waitReload := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			v, ok := reloadOK()
			if ok && v == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("metricwrap_config_last_reload_successful = %g (present %v), want %g", v, ok, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	firstWorks := func() {
		t.Helper()
		if code, body := get(t, s.url+"/metrics/first"); code != 200 || !strings.Contains(body, "first_ok 1") {
			t.Fatalf("/metrics/first: %d %s", code, body)
		}
	}
	firstWorks()

	writeFile(t, dir, "metricwrap.yml", "exporters:\n  first: {builtin: dummy, colour: red}\n", 0o644)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitReload(0)
	firstWorks()

	code, body := request3(t, http.MethodPost, s.url+"/-/reload")
	if code != 500 || !strings.Contains(body, "colour") {
		t.Errorf("POST /-/reload with a bad config: %d %q, want 500 naming the problem", code, body)
	}
	firstWorks()

	writeFile(t, dir, "metricwrap.yml", good+"  second:\n    command: [/bin/sh, -c, 'echo second_ok 1 > \"$METRICS_FILE\"']\n", 0o644)
	if code, body := request3(t, http.MethodPost, s.url+"/-/reload"); code != 200 {
		t.Fatalf("POST /-/reload with a good config: %d %s", code, body)
	}
	waitReload(1)
	if code, body := get(t, s.url+"/metrics/second"); code != 200 || !strings.Contains(body, "second_ok 1") {
		t.Errorf("/metrics/second after reload: %d %s", code, body)
	}
	if code, _ := get(t, s.url+"/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d, want 405", code)
	}
}

func request3(t *testing.T, method, url string) (int, string) {
	t.Helper()
	code, _, body := request(t, method, url)
	return code, body
}

// webConfigHash is the bcrypt hash (cost 4) of "e2e-pa55word", made once
// with golang.org/x/crypto/bcrypt.GenerateFromPassword.
const webConfigHash = "$2a$04$2Rx1q.Mj/MZOmaulR2xlku9PgLIzGTbqjnqDiZU3EcWome0FJLm1W"

func TestServeBasicAuth(t *testing.T) {
	t.Parallel()
	webCfg := writeFile(t, t.TempDir(), "web.yml", "basic_auth_users:\n  alice: "+webConfigHash+"\n", 0o600)
	s := startServe(t, baseEnv(), "--web.config.file", webCfg)
	tests := []struct {
		name     string
		path     string
		user     string
		pass     string
		wantCode int
	}{
		{name: "no credentials", path: "/metrics/dummy", wantCode: 401},
		{name: "no credentials, own metrics", path: "/metrics", wantCode: 401},
		{name: "wrong password", path: "/metrics/dummy", user: "alice", pass: "guess", wantCode: 401},
		{name: "unknown user", path: "/metrics/dummy", user: "mallory", pass: "e2e-pa55word", wantCode: 401},
		{name: "right credentials", path: "/metrics/dummy", user: "alice", pass: "e2e-pa55word", wantCode: 200},
		{name: "debug is off without --web.enable-debug", path: "/metrics/dummy?debug=1", user: "alice", pass: "e2e-pa55word", wantCode: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.url+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantCode, body)
			}
			if tc.wantCode == 200 {
				checkDummy(t, string(body))
			}
		})
	}
}

// TestServeHostileRequests sends what an attacker would to canary
// exporters that create a marker file when they run: a configured one with
// declared params and a discovered one with open params. Every request must
// be refused with a 4xx and no marker may appear; then a proper request
// shows that the canaries do run.
func TestServeHostileRequests(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	exporters := t.TempDir()
	writeFile(t, exporters, "opencanary.sh", `: > "$HOME/opencanary-ran"
printf 'canary_seen{args="%s",ld_preload="%s",bash_env="%s"} 1\n' "$*" "$LD_PRELOAD" "$BASH_ENV" > "$METRICS_FILE"
`, 0o644)
	env, canary := serveEnv(t)
	env = append(env, "HOME="+home)
	openCanary := filepath.Join(home, "opencanary-ran")
	s := startServe(t, env, "--config.file", testdataPath(t, "serve.yml"), "--exporters.dir", exporters, "--web.enable-debug")

	long := strings.Repeat("a", 5000)
	// declaredOnly cases are refused only where parameters are declared:
	// open parameters accept any plain name and any plain value.
	queries := []struct {
		name, query  string
		declaredOnly bool
	}{
		{"semicolon", "target=a%3Bid", false},
		{"pipe", "target=a%7Cid", false},
		{"command substitution", "target=%24(id)", false},
		{"backticks", "target=%60id%60", false},
		{"ampersand", "target=a%26id", false},
		{"newline", "target=a%0Aid", false},
		{"carriage return", "target=a%0D%0Aid", false},
		{"NUL", "target=a%00", false},
		{"path traversal", "target=..%2F..%2Fetc%2Fpasswd", false},
		{"space", "target=a+-rf", false},
		{"5000-char value", "target=" + long, false},
		{"repeated key", "target=a&target=b", false},
		{"repeated key through the alias", "target=a&--target=b", false},
		{"malformed escape", "target=%zz", false},
		{"unknown key", "target=a&bogus=b", true},
		{"control char in key", "target=a&x%0Ay=b", false},
		{"long key", "target=a&" + long + "=b", false},
		{"env name BASH_ENV", "target=a&BASH_ENV=%2Ftmp%2Fevil", false},
		{"env name PATH", "target=a&PATH=%2Ftmp", false},
		{"env name LD_PRELOAD", "target=a&LD_PRELOAD=%2Ftmp%2Fevil.so", false},
		{"env name METRICS_FILE", "target=a&METRICS_FILE=%2Fetc%2Fpasswd", false},
		{"option injection", "target=a&--output-filename=%2Fetc%2Fpasswd", false},
		{"runner option, relative", "target=a&output-filename=.bashrc", false},
		{"runner option abbreviated", "target=a&output=.bashrc", false},
		{"runner option exporter", "target=a&--exporter=dummy", false},
		{"region not in its pattern", "target=a&region=eu%3Bid", false},
		{"region partial match", "target=a&region=eux", true},
	}
	type hostile struct{ name, path string }
	var cases []hostile
	for _, q := range queries {
		cases = append(cases, hostile{"canary/" + q.name, "/metrics/canary?" + q.query})
		if !q.declaredOnly {
			cases = append(cases, hostile{"opencanary/" + q.name, "/metrics/opencanary?" + q.query})
		}
	}
	// The open canary refuses these too, for its values' own reasons: the
	// env names above carry values outside the open pattern (/) and the
	// alias repeats a key; the ones below are names that cannot be looked up.
	for _, p := range []string{
		"/metrics/..%2f..%2fbin%2fsh",
		"/metrics/..%2F..%2Fbin%2Fsh?-c=id",
		"/metrics/%00",
		"/metrics/canary%00",
		"/metrics/canary%0A",
		"/metrics/canary%2F..%2Fcanary?target=a",
		"/metrics/opencanary.sh",
		"/metrics/.opencanary",
		"/metrics/%2Fbin%2Fsh",
		"/metrics/" + strings.Repeat("x", 5000),
		"/metrics/canary%3Bid?target=a",
		"/metrics/%24(id)",
	} {
		cases = append(cases, hostile{"name " + p[:min(len(p), 40)], p})
	}

	noMarker := func(t *testing.T) {
		t.Helper()
		for _, m := range []string{canary, openCanary} {
			if _, err := os.Stat(m); err == nil {
				t.Fatalf("%s exists: a canary ran", filepath.Base(m))
			}
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, s.url+tc.path)
			if code < 400 || code > 499 {
				t.Errorf("status %d, want 4xx; body:\n%s", code, body)
			}
			noMarker(t)
		})
	}
	t.Run("debug does not bypass the checks", func(t *testing.T) {
		code, body := get(t, s.url+"/metrics/canary?debug=1&target=%24(id)")
		if code != 400 {
			t.Errorf("status %d, want 400: %s", code, body)
		}
		noMarker(t)
	})

	// The controls: proper requests do run the canaries, so the checks
	// above would have seen a run.
	t.Run("a proper request runs the configured canary", func(t *testing.T) {
		if code, body := get(t, s.url+"/metrics/canary?target=ok"); code != 200 || !strings.Contains(body, "canary_ran 1") {
			t.Fatalf("status %d: %s", code, body)
		}
		if _, err := os.Stat(canary); err != nil {
			t.Errorf("canary did not run: %v", err)
		}
	})
	t.Run("open params reach the exporter as arguments, never as environment", func(t *testing.T) {
		code, body := get(t, s.url+"/metrics/opencanary?--target=ok&LD_PRELOAD=evil.so&BASH_ENV=evil")
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		samples, _ := flatten(parseFamilies(t, body))
		want := `canary_seen{args="--BASH_ENV=evil --LD_PRELOAD=evil.so --target=ok",bash_env="",ld_preload=""}`
		if samples[want] != 1 {
			t.Errorf("want %s, got:\n%s", want, body)
		}
		if _, err := os.Stat(openCanary); err != nil {
			t.Errorf("open canary did not run: %v", err)
		}
	})
}
