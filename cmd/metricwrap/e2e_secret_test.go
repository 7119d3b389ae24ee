package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// TestSecretsReachNoSurface plants a secret in the environment, uses it
// through ${VAR} where operators put tokens (a scrape URL's query, URL
// userinfo, a sink URL, an exporter's env that the exporter then prints),
// and greps every surface a client or an operator sees for it: the body of
// every endpoint (status page, API, /metrics, failed runs, the debug view,
// a failed reload), check-config's and run's output, and the server log.
func TestSecretsReachNoSurface(t *testing.T) {
	t.Parallel()
	secret := fmt.Sprintf("planted-S3CRET-%d", time.Now().UnixNano())
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream down", http.StatusInternalServerError)
	}))
	defer upstream.Close()
	refused := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir := t.TempDir()
	good := fmt.Sprintf(`spool: {dir: %q}
exporters:
  upstream:
    scrape: '%s/metrics?token=${MW_PLANTED}'
  refused:
    scrape: 'http://user:${MW_PLANTED}@%s/metrics?token=${MW_PLANTED}'
  chatty:
    command: [/bin/sh, -c, 'echo "token is $TOKEN" >&2; echo "$TOKEN" > "$METRICS_FILE"; exit 3']
    env: {TOKEN: '${MW_PLANTED}'}
  pushed:
    builtin: dummy
    schedule: 200ms
    sinks: [gw]
sinks:
  gw: {type: pushgateway, url: 'http://user:${MW_PLANTED}@%s/', retry_for: 0s}
`, filepath.Join(dir, "spool"), upstream.URL, refused, refused)
	bad := `exporters:
  upstream:
    scrape: 'http://h:1/metrics'
    timeout: '${MW_PLANTED}'
sinks:
  gw: {type: pushgateway, url: "http://user:${MW_PLANTED}@bad host/"}
`
	cfg := writeFile(t, dir, "metricwrap.yml", good, 0o644)
	env := baseEnv("MW_PLANTED=" + secret)
	s := startServe(t, env, "--config.file", cfg, "--web.enable-lifecycle", "--web.enable-debug", "--log.level=debug")

	type surface struct{ name, text string }
	var seen []surface
	add := func(name string, code int, body string) {
		seen = append(seen, surface{fmt.Sprintf("%s (%d)", name, code), body})
	}
	for _, p := range []string{"/metrics/upstream", "/metrics/refused", "/metrics/chatty", "/metrics/chatty?debug=1",
		"/metrics/upstream?debug=1", "/metrics/pushed", "/", "/api/v1/exporters", "/metrics", "/-/healthy", "/-/ready"} {
		code, body := get(t, s.url+p)
		add("GET "+p, code, body)
	}
	// The scheduled push must have failed at least once, and been logged.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.out.String(), refused) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := os.WriteFile(cfg, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := request3(t, http.MethodPost, s.url+"/-/reload")
	add("POST /-/reload", code, body)
	if code != http.StatusInternalServerError || !strings.Contains(body, "reload failed") {
		t.Errorf("reload of the bad config: %d %q, want 500", code, body)
	}
	check := runMW(t, env, "--config.file", cfg, "check-config")
	add("check-config", check.code, check.stdout+check.stderr)
	if check.code == 0 || !strings.Contains(check.stderr, "gw") {
		t.Errorf("check-config of the bad config: %d %s", check.code, check.stderr)
	}
	if err := os.WriteFile(cfg, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"refused", "chatty"} {
		// run passes the exporter's own stdout and stderr to the terminal
		// as the exporter wrote them (the original did); what metricwrap
		// itself prints there is checked.
		r := runMW(t, env, "--config.file", cfg, "run", name)
		var own []string
		for l := range strings.Lines(r.stdout + r.stderr) {
			if !strings.HasPrefix(l, "token is ") {
				own = append(own, l)
			}
		}
		add("run "+name, r.code, strings.Join(own, ""))
	}
	add("server log", 0, s.out.String())

	for _, sf := range seen {
		if strings.Contains(sf.text, secret) {
			t.Errorf("%s shows the planted secret:\n%s", sf.name, excerpt(sf.text, secret))
		}
	}
	// The surfaces did carry the failures, masked: the test would have
	// seen the secret had it been there.
	for _, want := range []string{upstream.URL[len("http://"):], refused, "token=xxxxx", "<secret>"} {
		found := false
		for _, sf := range seen {
			found = found || strings.Contains(sf.text, want)
		}
		if !found {
			t.Errorf("no surface mentions %q: the failures did not reach them", want)
		}
	}
}

// excerpt shows where in text the secret appears.
func excerpt(text, secret string) string {
	i := strings.Index(text, secret)
	lo, hi := max(0, i-200), min(len(text), i+len(secret)+200)
	return text[lo:hi]
}
