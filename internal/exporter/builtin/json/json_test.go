package jsonexporter_test

import (
	"context"
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
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/exporter"
	jsonexporter "github.com/metricwrap/metricwrap/internal/exporter/builtin/json"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// optionsNode parses a YAML snippet the way the config hands an `options:`
// block to a factory.
func optionsNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("options %q: %v", src, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

func newExporter(t *testing.T, options string) exporter.Builtin {
	t.Helper()
	b, err := jsonexporter.New(optionsNode(t, options))
	if err != nil {
		t.Fatalf("New: %v\noptions:\n%s", err, options)
	}
	return b
}

// serve answers every request with body and content type JSON.
func serve(t *testing.T, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func jenkinsServer(t *testing.T) *httptest.Server {
	t.Helper()
	fixture, err := os.ReadFile("testdata/jenkins.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_, _ = w.Write(fixture)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// collect runs b once into a fresh registry.
func collect(t *testing.T, b exporter.Builtin, params map[string]string) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := b.Collect(t.Context(), params, reg); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return reg
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(exporter.Builtins(), "json") {
		t.Fatalf("built-in json not registered: %v", exporter.Builtins())
	}
}

// TestJenkins is the example users copy: a Jenkins controller's
// /api/json, jobs counted, each job's state and last build as labelled
// series, Jenkins's nulls and folders without a color handled.
func TestJenkins(t *testing.T) {
	srv := jenkinsServer(t)
	b := newExporter(t, `
url: `+srv.URL+`/api/json
metrics:
  - name: jenkins_jobs
    help: Number of Jenkins jobs.
    path: $.jobs
    count: true
  - name: jenkins_executors
    help: Executors of the built-in node.
    path: $.numExecutors
  - name: jenkins_job_color
    help: Job state from its color.
    path: $.jobs[*]
    labels: {job: $.name}
    value: $.color
    value_map: {blue: 1, yellow: 0.5, red: 0, notbuilt: -1, disabled: -2}
  - name: jenkins_job_last_build_result
    help: Result of the last build.
    path: $.jobs[*]
    labels: {job: $.name, kind: $._class}
    value: $.lastBuild.result
    value_map: {SUCCESS: 1, FAILURE: 0, UNSTABLE: 0, ABORTED: -1}
  - name: jenkins_job_last_build_number_total
    help: Number of the last build.
    type: counter
    path: $.jobs[*]
    labels: {job: $.name}
    value: lastBuild.number
    missing: zero
  - name: jenkins_job_building
    help: Whether the last build is running.
    path: $.jobs[*]
    labels: {job: $.name}
    value: $.lastBuild.building
  - name: jenkins_job_last_build_duration_seconds
    help: Duration of the last build.
    path: $.jobs[*].lastBuild
    labels: {build: $.number}
    value: $.duration
    scale: 0.001
`)
	want := `
# HELP jenkins_executors Executors of the built-in node.
# TYPE jenkins_executors gauge
jenkins_executors 2
# HELP jenkins_job_building Whether the last build is running.
# TYPE jenkins_job_building gauge
jenkins_job_building{job="backup-nightly"} 0
jenkins_job_building{job="deploy-production"} 0
jenkins_job_building{job="integration-tests"} 1
jenkins_job_building{job="lint"} 0
jenkins_job_building{job="old-release"} 0
# HELP jenkins_job_color Job state from its color.
# TYPE jenkins_job_color gauge
jenkins_job_color{job="backup-nightly"} 1
jenkins_job_color{job="deploy-production"} 0
jenkins_job_color{job="lint"} 0.5
jenkins_job_color{job="new-service"} -1
jenkins_job_color{job="old-release"} -2
# HELP jenkins_job_last_build_duration_seconds Duration of the last build.
# TYPE jenkins_job_last_build_duration_seconds gauge
jenkins_job_last_build_duration_seconds{build="1503"} 0
jenkins_job_last_build_duration_seconds{build="19"} 301.002
jenkins_job_last_build_duration_seconds{build="2290"} 20.871
jenkins_job_last_build_duration_seconds{build="412"} 184.233
jenkins_job_last_build_duration_seconds{build="87"} 65.21
# HELP jenkins_job_last_build_number_total Number of the last build.
# TYPE jenkins_job_last_build_number_total counter
jenkins_job_last_build_number_total{job="backup-nightly"} 412
jenkins_job_last_build_number_total{job="deploy-production"} 87
jenkins_job_last_build_number_total{job="integration-tests"} 1503
jenkins_job_last_build_number_total{job="lint"} 2290
jenkins_job_last_build_number_total{job="new-service"} 0
jenkins_job_last_build_number_total{job="old-release"} 19
jenkins_job_last_build_number_total{job="team-data"} 0
# HELP jenkins_job_last_build_result Result of the last build.
# TYPE jenkins_job_last_build_result gauge
jenkins_job_last_build_result{job="backup-nightly",kind="hudson.model.FreeStyleProject"} 1
jenkins_job_last_build_result{job="deploy-production",kind="org.jenkinsci.plugins.workflow.job.WorkflowJob"} 0
jenkins_job_last_build_result{job="lint",kind="hudson.model.FreeStyleProject"} 0
jenkins_job_last_build_result{job="old-release",kind="hudson.model.FreeStyleProject"} -1
# HELP jenkins_jobs Number of Jenkins jobs.
# TYPE jenkins_jobs gauge
jenkins_jobs 7
# HELP metricwrap_json_skipped_values Values the json built-in skipped in this run (missing, null, not a number), by metric.
# TYPE metricwrap_json_skipped_values gauge
metricwrap_json_skipped_values{metric="jenkins_executors"} 0
metricwrap_json_skipped_values{metric="jenkins_job_building"} 2
metricwrap_json_skipped_values{metric="jenkins_job_color"} 2
metricwrap_json_skipped_values{metric="jenkins_job_last_build_duration_seconds"} 2
metricwrap_json_skipped_values{metric="jenkins_job_last_build_number_total"} 0
metricwrap_json_skipped_values{metric="jenkins_job_last_build_result"} 3
metricwrap_json_skipped_values{metric="jenkins_jobs"} 0
`
	if b.Params() != nil {
		t.Errorf("with a url the exporter declares params %v, want none", b.Params())
	}
	if err := testutil.GatherAndCompare(collect(t, b, nil), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestAuth(t *testing.T) {
	const password, token = "s3cret-pa55", "tok-0123456789"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pwFile := write("password", password+"\n")
	tokenFile := write("token", token+"\n")
	emptyFile := write("empty", "\n")
	t.Setenv("JSON_TEST_PASSWORD", password)
	t.Setenv("JSON_TEST_TOKEN", token)
	t.Setenv("JSON_TEST_EMPTY", "")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, basic := r.BasicAuth()
		switch {
		case basic && user == "metrics" && pw == password:
		case r.Header.Get("Authorization") == "Bearer "+token:
		default:
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"ok": true}`)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name, auth string
		wantErr    string
	}{
		{"basic inline", "basic_auth: {username: metrics, password: " + password + "}", ""},
		{"basic file", "basic_auth: {username: metrics, password_file: " + pwFile + "}", ""},
		{"basic env", "basic_auth: {username: metrics, password_env: JSON_TEST_PASSWORD}", ""},
		{"bearer inline", "bearer_token: " + token, ""},
		{"bearer file", "bearer_token_file: " + tokenFile, ""},
		{"bearer env", "bearer_token_env: JSON_TEST_TOKEN", ""},
		{"none", "", "401 Unauthorized; check the credentials"},
		{"wrong user", "basic_auth: {username: admin, password: " + password + "}", "401 Unauthorized; check the credentials"},
		{"token as password", "basic_auth: {username: metrics, password_file: " + tokenFile + "}", "401 Unauthorized"},
		{"empty env", "bearer_token_env: JSON_TEST_EMPTY", "secret environment variable JSON_TEST_EMPTY is empty or unset"},
		{"unset env", "bearer_token_env: JSON_TEST_UNSET_VARIABLE", "secret environment variable JSON_TEST_UNSET_VARIABLE is empty or unset"},
		{"empty file", "bearer_token_file: " + emptyFile, "secret file " + emptyFile + " is empty"},
		{"missing file", "bearer_token_file: " + filepath.Join(dir, "nope"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newExporter(t, "url: "+srv.URL+"\n"+tt.auth+"\nmetrics: [{name: ok, path: $.ok}]")
			reg := prometheus.NewRegistry()
			err := b.Collect(t.Context(), nil, reg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Collect: %v", err)
				}
				if n, err := testutil.GatherAndCount(reg, "ok"); err != nil || n != 1 {
					t.Fatalf("got %d samples of ok (%v), want 1", n, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Collect = %v, want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), token) {
				t.Fatalf("error shows a secret: %v", err)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	srv := serve(t, `{"present": 3, "nothing": null, "items": [{"id": "a", "v": 1}, {"id": "b"}, {"id": "c", "v": null}, {"id": "d", "v": "n/a"}], "maybe": [{"x": {"v": 5}}, {}]}`)
	tests := []struct {
		name, metric string
		// want is the exposition of metric m, without HELP and TYPE.
		want    string
		skipped int
		wantErr string
	}{
		{"singular present", "path: $.present", "m 3", 0, ""},
		{"singular missing, skip", "path: $.absent", "", 1, ""},
		{"singular null, skip", "path: $.nothing", "", 1, ""},
		{"singular missing, zero", "path: $.absent\nmissing: zero", "m 0", 0, ""},
		{"singular missing with labels, zero", "path: $.absent\nlabels: {id: $.id}\nmissing: zero", `m{id=""} 0`, 0, ""},
		{"singular missing, error", "path: $.absent\nmissing: error", "", 0, "metric m: path $.absent: 1 value(s) missing or null"},
		{"count of missing, zero", "path: $.absent\ncount: true\nmissing: zero", "m 0", 0, ""},
		{"count of scalar, error", "path: $.present\ncount: true\nmissing: error", "", 0, "$.present is not an array or object to count"},
		{"values, skip", "path: $.items[*]\nlabels: {id: $.id}\nvalue: $.v", `m{id="a"} 1`, 3, ""},
		{"values, zero", "path: $.items[*]\nlabels: {id: $.id}\nvalue: $.v\nmissing: zero", "m{id=\"a\"} 1\nm{id=\"b\"} 0\nm{id=\"c\"} 0\nm{id=\"d\"} 0", 0, ""},
		{"values, error names the element", "path: $.items[*]\nlabels: {id: $.id}\nvalue: $.v\nmissing: error", "", 0, `metric m: m{id="b"}: value $.v missing or null`},
		{"unconvertible, error", "path: $.items[3]\nvalue: $.v\nmissing: error", "", 0, `value $.v: "n/a" is neither a number nor in value_map`},
		{"wildcard branches, skip", "path: $.maybe[*].x.v", "m 5", 1, ""},
		{"wildcard branches, zero skips them", "path: $.maybe[*].x\nvalue: $.v\nmissing: zero", "m 5", 1, ""},
		{"wildcard branches, error", "path: $.maybe[*].x.v\nmissing: error", "", 0, "path $.maybe[*].x.v: 1 value(s) missing or null"},
		{"missing label is empty", "path: $.items[*]\nlabels: {id: $.id, other: $.nope}\nvalue: $.v", `m{id="a",other=""} 1`, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newExporter(t, "url: "+srv.URL+"\nmetrics:\n  - name: m\n    help: h\n    "+strings.ReplaceAll(tt.metric, "\n", "\n    "))
			reg := prometheus.NewRegistry()
			err := b.Collect(t.Context(), nil, reg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Collect = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			want := "# HELP metricwrap_json_skipped_values Values the json built-in skipped in this run (missing, null, not a number), by metric.\n" +
				"# TYPE metricwrap_json_skipped_values gauge\n" +
				`metricwrap_json_skipped_values{metric="m"} ` + strconv.Itoa(tt.skipped) + "\n"
			if tt.want != "" {
				want += "# HELP m h\n# TYPE m gauge\n" + tt.want + "\n"
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestValues(t *testing.T) {
	srv := serve(t, `{"n": 1.50, "big": 1e400, "s": " 42 ", "e": "1e3", "t": true, "f": false, "state": "SUCCESS", "neg": -3, "ms": 65210, "ms_s": "65210",
		"obj": {"a": 1, "b": 2}, "arr": [1, 2, 3], "dup": [{"k": "x", "v": 1}, {"k": "x", "v": 2}],
		"labels": [{"num": 1.50, "flag": true, "nested": {"a": 1}, "v": 1}]}`)
	tests := []struct {
		name, metric, want, wantErr string
	}{
		{"number", "path: $.n", "m 1.5", ""},
		{"huge number", "path: $.big", "m +Inf", ""},
		{"numeric string", "path: $.s", "m 42", ""},
		{"exponent string", "path: $.e", "m 1000", ""},
		{"true", "path: $.t", "m 1", ""},
		{"false", "path: $.f", "m 0", ""},
		{"mapped", "path: $.state\nvalue_map: {SUCCESS: 1}", "m 1", ""},
		{"map before parse", "path: $.s\nvalue_map: {' 42 ': 7}", "m 7", ""},
		{"scaled", "path: $.n\nscale: 1000", "m 1500", ""},
		{"scaled exactly", "path: $.ms\nscale: 0.001", "m 65.21", ""},
		{"numeric string scaled exactly", "path: $.ms_s\nscale: 1e-3", "m 65.21", ""},
		{"infinity scaled", "path: $.big\nscale: -1", "m -Inf", ""},
		{"mapped not scaled", "path: $.state\nvalue_map: {SUCCESS: 1}\nscale: 1000", "m 1", ""},
		{"count of object", "path: $.obj\ncount: true", "m 2", ""},
		{"count of array", "path: $.arr\ncount: true", "m 3", ""},
		{"number label keeps its text", "path: $.labels[*]\nlabels: {num: $.num, flag: $.flag}\nvalue: $.v", `m{flag="true",num="1.50"} 1`, ""},
		{"object as value", "path: $.obj", "", "value $ selects an object or array; count: true counts one"},
		{"object as label", "path: $.labels[*]\nlabels: {x: $.nested}\nvalue: $.v", "", "label x ($.nested): selects an object or array"},
		{"negative counter", "path: $.neg\ntype: counter", "", "a counter cannot be -3"},
		{"duplicate labels", "path: $.dup[*]\nlabels: {k: $.k}\nvalue: $.v", "", `m{k="x"} selected twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newExporter(t, "url: "+srv.URL+"\nmetrics:\n  - name: m\n    help: h\n    "+strings.ReplaceAll(tt.metric, "\n", "\n    "))
			reg := prometheus.NewRegistry()
			err := b.Collect(t.Context(), nil, reg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Collect = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			typ := "gauge"
			if strings.Contains(tt.metric, "counter") {
				typ = "counter"
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP m h\n# TYPE m "+typ+"\n"+tt.want+"\n"), "m"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html><body>Please sign in</body></html>")
		case "/truncated":
			_, _ = io.WriteString(w, `{"jobs": [`)
		case "/trailing":
			_, _ = io.WriteString(w, `{"a": 1} {"b": 2}`)
		case "/fail":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/big":
			_, _ = io.WriteString(w, `{"a": "`+strings.Repeat("x", 100)+`"}`)
		}
	}))
	t.Cleanup(srv.Close)
	refused := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) + "/"

	tests := []struct {
		name, url, extra, wantErr string
	}{
		{"html", srv.URL + "/html", "", "/html answered text/html that is not JSON: invalid character '<'"},
		{"truncated", srv.URL + "/truncated", "", "that is not JSON: unexpected EOF"},
		{"trailing data", srv.URL + "/trailing", "", "answered JSON followed by more data"},
		{"status 500", srv.URL + "/fail?token=abc", "", "/fail answered 500 Internal Server Error"},
		{"too large", srv.URL + "/big", "max_body_bytes: 64", "answered more than max_body_bytes (64 bytes)"},
		{"connection refused", refused, "", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newExporter(t, "url: '"+tt.url+"'\n"+tt.extra+"\nmetrics: [{name: m, path: $.a}]")
			err := b.Collect(t.Context(), nil, prometheus.NewRegistry())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Collect = %v, want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "token=abc") {
				t.Errorf("error shows the query: %v", err)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		b := newExporter(t, "url: "+srv.URL+"/big\nmetrics: [{name: m, path: $.a}]")
		if err := b.Collect(ctx, nil, prometheus.NewRegistry()); err == nil {
			t.Fatal("Collect with a cancelled context returned nil")
		}
	})
}

func TestOptionErrors(t *testing.T) {
	const m = "\nmetrics: [{name: m, path: $.a}]"
	tests := []struct{ options, want string }{
		{"urll: x" + m, "field urll not found"},
		{"url: ftp://x/" + m, "options.url: not an http or https URL"},
		{"url: http://x/", "options.metrics: at least one metric is needed"},
		{"metrics: [{name: m, path: $.a, vlaue: $.b}]", "field vlaue not found"},
		{"metrics: [{name: 1m, path: $.a}]", `options.metrics[0]: name: "1m" is not a metric name`},
		{"metrics: [{name: m, path: $.a}, {name: m, path: $.b}]", "options.metrics[1]: metric m defined twice"},
		{"metrics: [{name: m, path: $.a, type: summary}]", `type: "summary" is neither gauge nor counter`},
		{"metrics: [{name: m, path: $.a, missing: ignore}]", `missing: "ignore" is none of skip, zero and error`},
		{"metrics: [{name: m}]", "options.metrics[0]: path: required"},
		{"metrics: [{name: m, path: '$.a[?'}]", `options.metrics[0]: path: invalid JSONPath "$.a[?"`},
		{"metrics: [{name: m, path: $.a, value: '$.b[*]'}]", "value: $.b[*] may select several values"},
		{"metrics: [{name: m, path: $.a, value: '$..b'}]", "value: $..b may select several values"},
		{"metrics: [{name: m, path: $.a, value: $.b, count: true}]", "value and count exclude each other"},
		{"metrics: [{name: m, path: $.a, count: true, value_map: {a: 1}}]", "value_map has no use with count"},
		{"metrics: [{name: m, path: $.a, count: true, scale: 2}]", "scale has no use with count"},
		{"metrics: [{name: m, path: $.a, labels: {a-b: $.x}}]", `labels: "a-b" is not a label name`},
		{"metrics: [{name: m, path: $.a, labels: {__name__: $.x}}]", `labels: "__name__" is not a label name`},
		{"metrics: [{name: m, path: $.a, labels: {x: '$.x[*]'}}]", "labels.x: $.x[*] may select several values"},
		{"basic_auth: {password: p}" + m, "options.basic_auth.username: required"},
		{"basic_auth: {username: u}" + m, "set exactly one of password, password_file and password_env"},
		{"basic_auth: {username: u, password: p, password_env: P}" + m, "set exactly one of password"},
		{"{basic_auth: {username: u, password: p}, bearer_token: t}" + m, "basic_auth and a bearer token exclude each other"},
		{"{bearer_token: t, bearer_token_file: f}" + m, "set only one of bearer_token"},
		{"{bearer_token: t, headers: {Authorization: x}}" + m, "Authorization is set by basic_auth or the bearer token"},
		{"headers: {'a b': c}" + m, `options.headers: "a b" is not a header name`},
		{"tls: {ca_file: /nonexistent/ca.pem}" + m, "options.tls: unable to read CA cert"},
		{"max_body_bytes: lots" + m, `invalid size "lots"`},
		{"metrics: [{name: m, path: $.a, scale: x}]", `scale: "x" is not a non-zero number`},
		{"metrics: [{name: m, path: $.a, scale: 0}]", `scale: "0" is not a non-zero number`},
	}
	for _, tt := range tests {
		t.Run(tt.options, func(t *testing.T) {
			_, err := jsonexporter.New(optionsNode(t, tt.options))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q) = %v, want an error containing %q", tt.options, err, tt.want)
			}
		})
	}
	t.Run("no options", func(t *testing.T) {
		if _, err := jsonexporter.New(nil); err == nil {
			t.Fatal("New(nil) = nil error, want: metrics needed")
		}
	})
}

func TestTarget(t *testing.T) {
	srv := jenkinsServer(t)
	b := newExporter(t, "metrics: [{name: jenkins_jobs, help: Jobs., path: $.jobs, count: true}]")
	ps := b.Params()
	if p := ps["target"]; p == nil || !p.Required {
		t.Fatalf("without url the exporter declares %v, want a required target", ps)
	}
	for _, bad := range []string{"file:///etc/passwd", "gopher://x/"} {
		if _, err := ps.Check(url.Values{"target": {bad}}); err == nil {
			t.Errorf("target %q accepted", bad)
		}
	}
	params, err := ps.Check(url.Values{"target": {srv.URL + "/api/json"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "# HELP jenkins_jobs Jobs.\n# TYPE jenkins_jobs gauge\njenkins_jobs 7\n"
	if err := testutil.GatherAndCompare(collect(t, b, params), strings.NewReader(want), "jenkins_jobs"); err != nil {
		t.Error(err)
	}
	if err := b.Collect(t.Context(), nil, prometheus.NewRegistry()); err == nil {
		t.Error("Collect without target returned nil")
	}
}
