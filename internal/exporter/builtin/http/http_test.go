package httpexporter_test

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	httpexporter "github.com/metricwrap/metricwrap/internal/exporter/builtin/http"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// optionsNode parses a YAML snippet the way the config hands an `options:`
// block to a factory; "" is no block at all.
func optionsNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	if src == "" {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("options %q: %v", src, err)
	}
	return doc.Content[0]
}

func newChecker(t *testing.T, options string) exporter.Builtin {
	t.Helper()
	b, err := httpexporter.New(optionsNode(t, options))
	if err != nil {
		t.Fatalf("New(%q): %v", options, err)
	}
	return b
}

// collect runs one check into a fresh registry.
func collect(t *testing.T, ctx context.Context, b exporter.Builtin, target string) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := b.Collect(ctx, map[string]string{"target": target}, reg); err != nil {
		t.Fatalf("Collect(%s): %v", target, err)
	}
	return reg
}

// expectState checks the enum and status code families exactly and that
// the histogram holds the one request.
func expectState(t *testing.T, g prometheus.Gatherer, healthy bool, code int) {
	t.Helper()
	h, u := "1", "0"
	if !healthy {
		h, u = "0", "1"
	}
	want := `# HELP http_health_status Health of the target: 1 for the current state, 0 for the other.
# TYPE http_health_status gauge
http_health_status{http_health_status="healthy"} ` + h + `
http_health_status{http_health_status="unhealthy"} ` + u + `
# HELP http_health_status_code HTTP status code of the health check response, 0 when none arrived.
# TYPE http_health_status_code gauge
http_health_status_code ` + strconv.Itoa(code) + `
`
	if err := testutil.GatherAndCompare(g, strings.NewReader(want), "http_health_status", "http_health_status_code"); err != nil {
		t.Error(err)
	}
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fams, func(f *dto.MetricFamily) bool {
		return f.GetName() == "http_health_request_duration_seconds"
	})
	if i < 0 || fams[i].GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("no histogram http_health_request_duration_seconds in %v", fams)
	}
	if n := fams[i].GetMetric()[0].GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("histogram holds %d observations, want 1", n)
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(exporter.Builtins(), "http") {
		t.Fatalf("built-in http not registered: %v", exporter.Builtins())
	}
}

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = io.WriteString(w, `{"status": "ok"}`)
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/fail":
			http.Error(w, "database down", http.StatusInternalServerError)
		case "/degraded":
			_, _ = io.WriteString(w, `{"status": "degraded"}`)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/big":
			// A matching line after the first MiB is never read.
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20+10)))
			_, _ = io.WriteString(w, "ok")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	refused := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) + "/"

	tests := []struct {
		name, options, target string
		healthy               bool
		code                  int
	}{
		{"200", "", srv.URL + "/ok", true, 200},
		{"204 is 2xx", "", srv.URL + "/nocontent", true, 204},
		{"500", "", srv.URL + "/fail", false, 500},
		{"404", "", srv.URL + "/missing", false, 404},
		{"500 expected", "expected_status: [500, 503]", srv.URL + "/fail", true, 500},
		{"200 not in expected list", "expected_status: [204]", srv.URL + "/ok", false, 200},
		{"body regexp hit", `body_regexp: '"status":\s*"ok"'`, srv.URL + "/ok", true, 200},
		{"body regexp miss", `body_regexp: '"status":\s*"ok"'`, srv.URL + "/degraded", false, 200},
		{"body regexp beyond the cap", `body_regexp: 'ok'`, srv.URL + "/big", false, 200},
		{"redirect followed", "", srv.URL + "/moved", true, 200},
		{"redirect not followed", "follow_redirects: false", srv.URL + "/moved", false, 302},
		{"redirect expected", "{follow_redirects: false, expected_status: [302]}", srv.URL + "/moved", true, 302},
		{"redirect loop", "", srv.URL + "/loop", false, 302},
		{"redirect over max", "max_redirects: 0", srv.URL + "/moved", false, 302},
		{"connection refused", "", refused, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := collect(t, t.Context(), newChecker(t, tt.options), tt.target)
			expectState(t, reg, tt.healthy, tt.code)
		})
	}
}

func TestRequest(t *testing.T) {
	type seen struct {
		method, host, xa, ua, body string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Host, r.Header.Get("X-A"), r.Header.Get("User-Agent"), string(body)}
	}))
	t.Cleanup(srv.Close)

	b := newChecker(t, `{method: POST, body: 'ping', headers: {X-A: b, Host: api.example.com}}`)
	expectState(t, collect(t, t.Context(), b, srv.URL), true, 200)
	want := seen{"POST", "api.example.com", "b", "metricwrap", "ping"}
	if s := <-got; s != want {
		t.Errorf("server saw %+v, want %+v", s, want)
	}
}

func TestSlow(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	t.Run("options timeout", func(t *testing.T) {
		reg := collect(t, t.Context(), newChecker(t, "timeout: 100ms"), srv.URL)
		expectState(t, reg, false, 0)
	})
	t.Run("run deadline", func(t *testing.T) {
		// Through the config, as serve runs it: the run's own timeout
		// cuts the check short and the run still reports unhealthy.
		e := buildEntry(t, `
exporters:
  slow:
    builtin: http
    timeout: 1s
`, "slow")
		// internal/run gives every run the entry's timeout as its
		// context's deadline.
		ctx, cancel := context.WithTimeout(t.Context(), e.Timeout)
		defer cancel()
		res, err := e.Run(ctx, &exporter.Request{Params: checkParams(t, e, srv.URL)})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		expectState(t, families(res), false, 0)
	})
	t.Run("cancelled run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := newChecker(t, "").Collect(ctx, map[string]string{"target": srv.URL}, prometheus.NewRegistry())
		if err == nil {
			t.Fatal("Collect with a cancelled context returned nil")
		}
	})
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, options string
		healthy       bool
		code          int
	}{
		{"self-signed without ca_file", "", false, 0},
		{"self-signed with ca_file", "tls: {ca_file: " + caFile + "}", true, 200},
		{"insecure_skip_verify", "tls: {insecure_skip_verify: true}", true, 200},
		{"wrong server_name", "tls: {ca_file: " + caFile + ", server_name: other.invalid}", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectState(t, collect(t, t.Context(), newChecker(t, tt.options), srv.URL), tt.healthy, tt.code)
		})
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct{ options, want string }{
		{"methdo: GET", "field methdo not found"},
		{"method: 'GE T'", `options.method: "GE T" is not an HTTP method`},
		{"headers: {'X A': b}", `options.headers: "X A" is not a header name`},
		{`headers: {X-A: "b\nc"}`, "options.headers.X-A: value contains a control character"},
		{"expected_status: [42]", "options.expected_status: 42 is not an HTTP status code"},
		{"body_regexp: '('", "options.body_regexp: error parsing regexp"},
		{"timeout: -1s", "options.timeout: -1s is negative"},
		{"timeout: 5", "cannot unmarshal"},
		{"buckets: [1, 1]", "options.buckets: must be strictly increasing"},
		{"{follow_redirects: false, max_redirects: 3}", "options.max_redirects: set, but follow_redirects is false"},
		{"max_redirects: -1", "options.max_redirects: -1 is negative"},
		{"tls: {ca_file: /nonexistent/ca.pem}", "options.tls: unable to read CA cert"},
		{"tls: {ca_fiel: x}", "field ca_fiel not found"},
	}
	for _, tt := range tests {
		t.Run(tt.options, func(t *testing.T) {
			_, err := httpexporter.New(optionsNode(t, tt.options))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q) = %v, want an error containing %q", tt.options, err, tt.want)
			}
		})
	}
}

func TestTargetErrors(t *testing.T) {
	b := newChecker(t, "")
	for _, target := range []string{"", "ftp://example.com/", "http://", "http://[::1"} {
		t.Run(target, func(t *testing.T) {
			err := b.Collect(t.Context(), map[string]string{"target": target}, prometheus.NewRegistry())
			if err == nil {
				t.Fatalf("Collect(%q) = nil, want an error", target)
			}
		})
	}
}

func TestParams(t *testing.T) {
	ps := newChecker(t, "").Params()
	tests := []struct {
		query url.Values
		ok    bool
	}{
		{url.Values{"target": {"https://example.com/healthz"}}, true},
		{url.Values{"target": {"http://127.0.0.1:8080/"}}, true},
		{url.Values{"target": {"file:///etc/passwd"}}, false},
		{url.Values{"target": {"https://a b"}}, false},
		{url.Values{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.query.Encode(), func(t *testing.T) {
			_, err := ps.Check(tt.query)
			if (err == nil) != tt.ok {
				t.Fatalf("Check(%v) = %v, want ok=%v", tt.query, err, tt.ok)
			}
		})
	}
}

// TestConfig builds the exporter from a config file the way serve does:
// the options block reaches the registered factory, params narrow the
// declared target, and a bad option names the file and line.
func TestConfig(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Check") != "yes" {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	e := buildEntry(t, `
exporters:
  health:
    builtin: http
    params: {target: {pattern: 'http://127\.0\.0\.1:\d+/.*', required: true}}
    options: {headers: {X-Check: "yes"}}
`, "health")
	if _, err := e.Params().Check(url.Values{"target": {"https://example.com/"}}); err == nil {
		t.Error("narrowed pattern accepted https://example.com/")
	}
	res, err := e.Run(t.Context(), &exporter.Request{Params: checkParams(t, e, srv.URL+"/")})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	expectState(t, families(res), true, 200)

	cfg, err := config.LoadBytes("metricwrap.yml", []byte(`
exporters:
  health:
    builtin: http
    options:
      expected_status: [999]
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "metricwrap.yml", ExportersDir: t.TempDir()})
	if want := "metricwrap.yml:6: exporters.health.options.expected_status: 999"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Build = %v, want an error containing %q", err, want)
	}
}

func buildEntry(t *testing.T, yml, name string) *exporter.Entry {
	t.Helper()
	cfg, err := config.LoadBytes("metricwrap.yml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "metricwrap.yml", ExportersDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := set.Get(name)
	if !ok {
		t.Fatalf("no exporter %s in %v", name, set.Names())
	}
	return e
}

func checkParams(t *testing.T, e *exporter.Entry, target string) map[string]string {
	t.Helper()
	params, err := e.Params().Check(url.Values{"target": {target}})
	if err != nil {
		t.Fatal(err)
	}
	return params
}

func families(res *exporter.Result) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return res.Families, nil })
}

// TestDocExample loads the example of the package documentation, with its
// CA file replaced by a real one, so that what users copy is valid.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("http.go")
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	for _, line := range strings.Split(string(src), "\n") {
		yml, code := strings.CutPrefix(line, "//\t")
		if !code && len(example) > 0 {
			break
		}
		if code && (len(example) > 0 || strings.HasPrefix(yml, "exporters:")) {
			example = append(example, yml)
		}
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := strings.ReplaceAll(strings.Join(example, "\n"), "/etc/ssl/private-ca.pem", caFile)
	e := buildEntry(t, yml, "health")
	for target, ok := range map[string]bool{
		"https://api.example.com/healthz":  true,
		"http://api.example.com/healthz":   false,
		"https://api.example.org/healthz":  false,
		"https://api.example.com/healthz2": false,
	} {
		if _, err := e.Params().Check(url.Values{"target": {target}}); (err == nil) != ok {
			t.Errorf("target %s: accepted=%v, want %v", target, err == nil, ok)
		}
	}
}
