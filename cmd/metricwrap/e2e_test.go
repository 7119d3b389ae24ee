package main

// End-to-end tests: the metricwrap binary is built once and run the way a
// user runs it, against real Pushgateway, Prometheus and Python components
// from internal/testenv. This file holds the shared helpers and the tests
// of the command line (compatibility form, run, check-config); the other
// e2e_*_test.go files hold the server and Python tests.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// e2eDir holds the built binary and the cache directory every run shares
// (where the bundled Python runner is installed); TestMain removes it.
var (
	e2eDir     string
	e2eBuild   sync.Once
	e2eBin     string
	e2eErr     error
	e2eBuildMu sync.Mutex
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "metricwrap-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e2eDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds cmd/metricwrap once per test process (on first use, so
// tests that do not need it do not pay for it) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	e2eBuildMu.Lock()
	defer e2eBuildMu.Unlock()
	e2eBuild.Do(func() {
		bin := filepath.Join(e2eDir, "metricwrap")
		cmd := exec.Command("go", "build", "-o", bin, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			e2eErr = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		e2eBin = bin
	})
	if e2eErr != nil {
		t.Fatal(e2eErr)
	}
	return e2eBin
}

// testdataPath is an absolute path under testdata, so runs can use any
// working directory.
func testdataPath(t *testing.T, elem ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{"testdata"}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// baseEnv is the environment of every metricwrap started by a test: this
// process's, without the variables that change metricwrap's behaviour,
// plus a private cache directory and extra.
func baseEnv(extra ...string) []string {
	drop := map[string]bool{
		"METRICWRAP_PYTHON": true, "PUSHGATEWAY_URL": true, "PORT": true, "WORKERS": true,
		"XDG_CACHE_HOME": true, "DT_TENANT": true, "DT_API_TOKEN": true, "REMOTE_WRITE_URL": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	env = append(env, "XDG_CACHE_HOME="+filepath.Join(e2eDir, "cache"))
	return append(env, extra...)
}

// pythonEnv is baseEnv with METRICWRAP_PYTHON naming an interpreter that
// has prometheus_client (the test is skipped, or fails under CI, without).
func pythonEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	return baseEnv(append([]string{"METRICWRAP_PYTHON=" + testenv.Python(t)}, extra...)...)
}

// result is what one metricwrap command did.
type result struct {
	stdout, stderr string
	code           int
}

// runMW runs metricwrap with args in an empty working directory and waits
// for it.
func runMW(t *testing.T, env []string, args ...string) result {
	t.Helper()
	var stdin *os.File
	if isCompat(args) {
		// The compatibility form prints only to a person at a terminal.
		stdin = terminal(t)
	}
	return runMWStdin(t, env, stdin, args...)
}

// runMWStdin is runMW with stdin given (nil: /dev/null).
func runMWStdin(t *testing.T, env []string, stdin *os.File, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
	default:
		t.Fatalf("metricwrap %v: %v", args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// parseFamilies parses text exposition; a parse error fails the test.
func parseFamilies(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, text)
	}
	return fams
}

// seriesKey renders name and labels as name{a="x",b="y"}, labels sorted.
func seriesKey(name string, labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, k+"="+strconv.Quote(v))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

func labelMap(ps []*dto.LabelPair, extra ...string) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		m[p.GetName()] = p.GetValue()
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func formatLe(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// flatten turns families into one value per series, the way the text
// format writes them (x_sum, x_count, x_bucket{le}, x{quantile}); +Inf
// buckets are left out (x_count holds them), so the forms compare across
// encoders that differ there. Types and HELP go into meta.
func flatten(fams map[string]*dto.MetricFamily) (samples map[string]float64, meta map[string]string) {
	samples = map[string]float64{}
	meta = map[string]string{}
	for name, mf := range fams {
		meta[name] = strings.ToLower(mf.GetType().String()) + " " + mf.GetHelp()
		for _, m := range mf.GetMetric() {
			ls := labelMap(m.GetLabel())
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				samples[seriesKey(name, ls)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				samples[seriesKey(name, ls)] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				samples[seriesKey(name, ls)] = m.GetUntyped().GetValue()
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				samples[seriesKey(name+"_sum", ls)] = s.GetSampleSum()
				samples[seriesKey(name+"_count", ls)] = float64(s.GetSampleCount())
				for _, q := range s.GetQuantile() {
					samples[seriesKey(name, labelMap(m.GetLabel(), "quantile", formatLe(q.GetQuantile())))] = q.GetValue()
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				samples[seriesKey(name+"_sum", ls)] = h.GetSampleSum()
				samples[seriesKey(name+"_count", ls)] = float64(h.GetSampleCount())
				for _, b := range h.GetBucket() {
					if b.GetUpperBound() > 1e308 {
						continue
					}
					samples[seriesKey(name+"_bucket", labelMap(m.GetLabel(), "le", formatLe(b.GetUpperBound())))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return samples, meta
}

// sameSeries reports, as a test error, every difference between two
// flattened sets.
func sameSeries(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: missing %s (want %g)", what, k, v)
		case g != v:
			t.Errorf("%s: %s = %g, want %g", what, k, g, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s = %g", what, k, v)
		}
	}
}

// wantSeries checks that got holds each series of want with its value.
func wantSeries(t *testing.T, what string, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: missing %s", what, k)
		} else if g != v {
			t.Errorf("%s: %s = %g, want %g", what, k, g, v)
		}
	}
}

// dummyFamilies are the families and types of the built-in dummy exporter,
// as the original tool's dummy printed them.
var dummyFamilies = map[string]string{
	"execution_seconds":           "summary",
	"dummy_gauge":                 "gauge",
	"dummy_counter_total":         "counter",
	"generic_timer_seconds_total": "counter",
}

func checkDummy(t *testing.T, text string) {
	t.Helper()
	samples, meta := flatten(parseFamilies(t, text))
	for name, typ := range dummyFamilies {
		if got := strings.Fields(meta[name]); len(got) == 0 || got[0] != typ {
			t.Errorf("family %s: type %q, want %s", name, meta[name], typ)
		}
	}
	wantSeries(t, "dummy", samples, map[string]float64{
		`dummy_gauge{}`: 0,
		`dummy_counter_total{dummy_label="dummy_label_value"}`:                1,
		`execution_seconds_count{function="DummyExporter.my_custom_task"}`:    1,
		`execution_seconds_count{function="DummyExporter.observed_function"}`: 1,
	})
}

func TestCompatForm(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	out := filepath.Join(t.TempDir(), "out.prom")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout func(t *testing.T, stdout string)
		wantFile   bool
	}{
		{
			name: "prints the dummy families", args: []string{"--exporter", "dummy"},
			wantStdout: checkDummy,
		},
		{
			name: "equals form", args: []string{"--exporter=dummy"},
			wantStdout: checkDummy,
		},
		{
			name: "unknown exporter", args: []string{"--exporter", "nope"}, wantCode: 255,
			wantStdout: func(t *testing.T, s string) {
				if s != "Exporter not found.\n" {
					t.Errorf("stdout %q, want %q", s, "Exporter not found.\n")
				}
			},
		},
		{
			name: "no --exporter prints help", args: []string{"--no-print"},
			wantStdout: func(t *testing.T, s string) {
				if !strings.Contains(s, "--exporter NAME") || !strings.Contains(s, "--pushgateway-address") {
					t.Errorf("stdout is not the compatibility help:\n%s", s)
				}
			},
		},
		{
			name: "--no-print prints nothing", args: []string{"--exporter", "dummy", "--no-print"},
			wantStdout: func(t *testing.T, s string) {
				if s != "" {
					t.Errorf("stdout %q, want nothing", s)
				}
			},
		},
		{
			name: "--output-filename writes the file", args: []string{"--exporter", "dummy", "--no-print", "--output-filename", out},
			wantFile: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runMW(t, env, tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.wantCode, r.stderr)
			}
			if tc.wantStdout != nil {
				tc.wantStdout(t, r.stdout)
			}
			if tc.wantFile {
				data, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				checkDummy(t, string(data))
			}
		})
	}
}

// gatewayGroup is one grouping key of the Pushgateway's /api/v1/metrics,
// flattened like flatten does, without the grouping labels.
type gatewayGroup struct {
	labels  map[string]string
	samples map[string]float64
	meta    map[string]string
}

// readGateway returns what the Pushgateway at base holds, by group, as
// flat samples and type/help.
func readGateway(t *testing.T, base string) []gatewayGroup {
	t.Helper()
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("gateway value %q: %v", s, err)
		}
		return v
	}
	var out []gatewayGroup
	for _, raw := range testenv.ReadPushgateway(t, base) {
		g := gatewayGroup{labels: raw.Labels, samples: map[string]float64{}, meta: map[string]string{}}
		for name, f := range raw.Families {
			g.meta[name] = strings.ToLower(f.Type) + " " + f.Help
			for _, m := range f.Metrics {
				ls := map[string]string{}
				for k, v := range m.Labels {
					if _, grouping := g.labels[k]; grouping || (k == "instance" && v == "") {
						continue
					}
					ls[k] = v
				}
				switch strings.ToUpper(f.Type) {
				case "SUMMARY":
					g.samples[seriesKey(name+"_sum", ls)] = num(m.Sum)
					g.samples[seriesKey(name+"_count", ls)] = num(m.Count)
					for q, v := range m.Quantiles {
						g.samples[seriesKey(name, copyLabels(ls, "quantile", formatLe(num(q))))] = num(v)
					}
				case "HISTOGRAM":
					g.samples[seriesKey(name+"_sum", ls)] = num(m.Sum)
					g.samples[seriesKey(name+"_count", ls)] = num(m.Count)
					for le, v := range m.Buckets {
						if num(le) > 1e308 {
							continue
						}
						g.samples[seriesKey(name+"_bucket", copyLabels(ls, "le", formatLe(num(le))))] = num(v)
					}
				default:
					g.samples[seriesKey(name, ls)] = num(m.Value)
				}
			}
		}
		out = append(out, g)
	}
	return out
}

func copyLabels(ls map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(ls)+1)
	for k, v := range ls {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// gatewayJob returns the group of job (and no other grouping label).
func gatewayJob(t *testing.T, base, job string) gatewayGroup {
	t.Helper()
	groups := readGateway(t, base)
	var jobs []string
	for _, g := range groups {
		if len(g.labels) == 1 && g.labels["job"] == job {
			return g
		}
		jobs = append(jobs, fmt.Sprint(g.labels))
	}
	t.Fatalf("gateway has no group job=%q; groups: %v", job, jobs)
	return gatewayGroup{}
}

// startGateway runs a real Pushgateway for the test.
func startGateway(t *testing.T) *testenv.Process {
	t.Helper()
	return testenv.StartPushgateway(t)
}

// pushRaw POSTs text to the gateway's group of job, as a previous push.
func pushRaw(t *testing.T, base, job, text string) {
	t.Helper()
	resp, err := http.Post(base+"/metrics/job/"+job, "text/plain; version=0.0.4", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("seed push: %s: %s", resp.Status, body)
	}
}

// TestCompatPushgateway pushes with the original tool's flags to a real
// Pushgateway: every family, label and value arrives under job = the
// exporter's job name, and PUT replaces what the group held before.
func TestCompatPushgateway(t *testing.T) {
	t.Parallel()
	gw := startGateway(t)
	env := pythonEnv(t)
	exporters := testdataPath(t, "exporters")
	tests := []struct {
		exporter, job string
		args          []string
	}{
		{exporter: "kitchen", job: "kitchen_job"},
		{exporter: "async_probe", job: "async_probe"},
		{exporter: "cisco", job: "cisco", args: []string{"--target", "core-sw01"}},
	}
	for _, tc := range tests {
		t.Run(tc.exporter, func(t *testing.T) {
			// A metric the exporter does not produce: PUT must remove it.
			pushRaw(t, gw.URL, tc.job, "# TYPE leftover_from_before gauge\nleftover_from_before 7\n")
			file := filepath.Join(t.TempDir(), "metrics.prom")
			args := append([]string{"--exporters.dir", exporters, "--exporter", tc.exporter,
				"--pushgateway-address", gw.Addr, "--output-filename", file}, tc.args...)
			r := runMW(t, env, args...)
			if r.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			stdoutSamples, stdoutMeta := flatten(parseFamilies(t, r.stdout))
			if len(stdoutSamples) == 0 {
				t.Fatalf("no samples on stdout:\n%s", r.stdout)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fileSamples, fileMeta := flatten(parseFamilies(t, string(data)))
			sameSeries(t, "file vs stdout", fileSamples, stdoutSamples)
			sameMeta(t, "file vs stdout", fileMeta, stdoutMeta)

			g := gatewayJob(t, gw.URL, tc.job)
			sameSeries(t, "gateway vs stdout", g.samples, stdoutSamples)
			sameMeta(t, "gateway vs stdout", g.meta, stdoutMeta)
		})
	}
}

func sameMeta(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: family %s: type and help %q, want %q", what, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected family %s", what, k)
		}
	}
}

// writeFile writes a test file and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunParams(t *testing.T) {
	t.Parallel()
	cfg := testdataPath(t, "run.yml")
	env := baseEnv()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantSeries string // on stdout
		wantStderr string
	}{
		{name: "declared param with default", args: []string{"--param", "target=alpha"},
			wantSeries: `echo_param{region="eu",target="alpha"}`},
		{name: "env param", args: []string{"--param", "target=beta", "--param", "region=us"},
			wantSeries: `echo_param{region="us",target="beta"}`},
		{name: "pattern refused", args: []string{"--param", "target=a;b"}, wantCode: 2, wantStderr: `"target"`},
		{name: "env pattern refused", args: []string{"--param", "target=a", "--param", "region=mars"}, wantCode: 2, wantStderr: `"region"`},
		{name: "unknown param", args: []string{"--param", "target=a", "--param", "bogus=1"}, wantCode: 2, wantStderr: `"bogus"`},
		{name: "required param missing", args: nil, wantCode: 2, wantStderr: "required"},
		// SPEC 2.5: run passes ARGS unchecked, so a required parameter may
		// come from them instead of --param.
		{name: "required param given in ARGS", args: []string{"--", "alpha"},
			wantSeries: `echo_param{region="eu",target="alpha"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--config.file", cfg, "run", "echo"}, tc.args...)
			r := runMW(t, env, args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.wantCode, r.stderr)
			}
			if tc.wantSeries != "" {
				samples, _ := flatten(parseFamilies(t, r.stdout))
				if v, ok := samples[tc.wantSeries]; !ok || v != 1 {
					t.Errorf("stdout lacks %s 1:\n%s", tc.wantSeries, r.stdout)
				}
			}
			if !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("stderr does not name %s:\n%s", tc.wantStderr, r.stderr)
			}
			if tc.wantCode != 0 && r.stdout != "" {
				t.Errorf("a refused run printed metrics:\n%s", r.stdout)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	cfg := testdataPath(t, "run.yml")
	env := baseEnv()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr []string
	}{
		{name: "success", args: []string{"run", "dummy", "--no-print"}},
		{name: "failing command reports the stderr tail", args: []string{"run", "failing"}, wantCode: 1,
			wantStderr: []string{"failing", "last words of the exporter"}},
		{name: "invalid output", args: []string{"run", "garbage"}, wantCode: 1,
			wantStderr: []string{"garbage", "line 2"}},
		{name: "unknown exporter", args: []string{"run", "nope"}, wantCode: 255, wantStderr: []string{`"nope"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runMW(t, env, append([]string{"--config.file", cfg}, tc.args...)...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.wantCode, r.stderr)
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestRunPushEnv pushes with --push pushgateway and PUSHGATEWAY_URL only.
func TestRunPushEnv(t *testing.T) {
	t.Parallel()
	gw := startGateway(t)
	cfg := testdataPath(t, "run.yml")
	r := runMW(t, baseEnv("PUSHGATEWAY_URL="+gw.URL), "--config.file", cfg,
		"run", "echo", "--param", "target=gamma", "--push", "pushgateway")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	stdoutSamples, _ := flatten(parseFamilies(t, r.stdout))
	g := gatewayJob(t, gw.URL, "echo_job")
	sameSeries(t, "gateway vs stdout", g.samples, stdoutSamples)

	// Without the address there is nothing to push to: a usage error before
	// anything runs.
	r = runMW(t, baseEnv(), "--config.file", cfg, "run", "echo", "--param", "target=gamma", "--push", "pushgateway")
	if r.code != 2 || r.stdout != "" {
		t.Errorf("without PUSHGATEWAY_URL: exit %d, stdout %q; want 2 and nothing printed; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	t.Run("good", func(t *testing.T) {
		r := runMW(t, env, "--config.file", testdataPath(t, "run.yml"), "check-config")
		if r.code != 0 || !strings.Contains(r.stdout, "OK") {
			t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("bad lists every problem with file and line", func(t *testing.T) {
		bad := testdataPath(t, "bad.yml")
		r := runMW(t, env, "--config.file", bad, "check-config")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
		}
		// Each problem of bad.yml, by its line and the key it names.
		for _, want := range []string{
			bad + ":4:", "global.timeout",
			bad + ":8:", "exporters.a.params.target.pattern",
			bad + ":11:", "exporters.b.params.target.pass_as",
			bad + ":14:", "BASH_ENV",
			bad + ":15:", `unknown key "colour"`,
			// Found building what loaded, in the same pass, with lines too.
			bad + `:19: exporters.e.options.metrics[0]: path: invalid JSONPath "$.a["`,
			bad + `:20: exporters.f.schedule_params: parameter "target": required`,
			bad + ":22: sinks.dt: token_file: open /nonexistent/metricwrap-token",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if !strings.Contains(r.stderr, "8 problem(s)") {
			t.Errorf("stderr does not count 8 problems:\n%s", r.stderr)
		}
	})
}
