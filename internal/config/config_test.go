package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

func mustLoad(t *testing.T, yml string) *Config {
	t.Helper()
	c, err := LoadBytes("test.yml", []byte(yml))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func TestGood(t *testing.T) {
	c, err := Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.Global.Timeout); got != 30*time.Second {
		t.Errorf("global.timeout = %v", got)
	}
	if c.Global.MaxConcurrency != 4 || c.Global.Labels["ci_platform"] != "keptn" ||
		c.Global.LabelsFromEnv["keptn_project"] != "KEPTN_PROJECT" {
		t.Errorf("global = %+v", c.Global)
	}
	if c.Global.KillGrace != model.Duration(2*time.Second) || c.Global.MaxOutputBytes != 16<<20 || c.Global.CaptureBytes != 64<<10 {
		t.Errorf("global defaults not applied: %+v", c.Global)
	}
	if c.ExportersDir != "./exporters" {
		t.Errorf("exporters_dir = %q", c.ExportersDir)
	}
	kinds := map[string]string{"dummy": KindBuiltin, "health": KindBuiltin, "cisco": KindCommand}
	for name, kind := range kinds {
		e := c.Exporters[name]
		if e == nil {
			t.Fatalf("exporter %s missing", name)
		}
		if e.Kind() != kind || e.Job != name {
			t.Errorf("exporter %s: kind %q job %q", name, e.Kind(), e.Job)
		}
	}
	if c.Exporters["cisco"].Output != OutputFile || c.Exporters["dummy"].Output != "" {
		t.Errorf("output defaults wrong")
	}
	cisco := c.Exporters["cisco"]
	if cisco.EffectiveTimeout(&c.Global) != 20*time.Second || c.Exporters["dummy"].EffectiveTimeout(&c.Global) != 30*time.Second {
		t.Errorf("effective timeouts wrong")
	}
	if cisco.Schedule != model.Duration(time.Minute) || cisco.ScheduleParams["target"] != "core-sw01" ||
		strings.Join(cisco.Sinks, ",") != "gateway,dt" || cisco.CacheTTL != model.Duration(30*time.Second) {
		t.Errorf("cisco = %+v", cisco)
	}
	target := cisco.Params["target"]
	if target.Regexp == nil || target.Regexp.String() != `^(?:[A-Za-z0-9.-]+)$` {
		t.Fatalf("target regexp = %v", target.Regexp)
	}
	if !target.Match("core-sw01") || target.Match("core sw01") || target.Match("x;rm") {
		t.Errorf("anchored pattern matches wrongly")
	}
	if target.PassAs != PassAsArg || target.Arg != DefaultArgFormat {
		t.Errorf("target param = %+v", target)
	}
	if !c.Exporters["health"].Params["target"].Required {
		t.Errorf("health target not required")
	}

	sinks := map[string]string{"gateway": SinkPushgateway, "dt": SinkDynatrace, "archive": SinkS3, "tsdb": SinkRemoteWrite}
	for name, typ := range sinks {
		s := c.Sinks[name]
		if s == nil || s.Type != typ || s.Timeout != model.Duration(10*time.Second) || s.RetryFor != model.Duration(30*time.Second) {
			t.Errorf("sink %s = %+v", name, s)
		}
	}
	if c.Sinks["gateway"].Method != "put" || c.Sinks["dt"].TokenEnv != "DT_API_TOKEN" ||
		c.Sinks["archive"].Bucket != "metrics" || c.Sinks["archive"].Prefix != "runs" || c.Sinks["tsdb"].BatchSize != 5000 {
		t.Errorf("sink fields wrong")
	}
	if c.Spool.Dir != "/var/lib/metricwrap/spool" || c.Spool.MaxBytes != 1<<30 || c.Spool.MaxAge != model.Duration(72*time.Hour) {
		t.Errorf("spool = %+v", c.Spool)
	}
	ms := c.Jobs["backup"].Metrics
	if len(ms) != 2 || ms[0].Type() != MetricCounter || ms[0].Labels[0] != (MetricLabel{"status", "{{status}}"}) ||
		ms[1].Type() != MetricHistogram || len(ms[1].Histogram.Buckets) != 8 || ms[1].When != "{{status}} == Succeeded" {
		t.Errorf("job metrics = %+v", ms)
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	for _, src := range []string{"", "# only a comment\n", "global: {}\nspool: {}\n"} {
		c := mustLoad(t, src)
		if c.Global.Timeout != model.Duration(30*time.Second) || c.Spool.Dir != "/state/metricwrap/spool" ||
			c.Spool.MaxBytes != 1<<30 || c.Spool.MaxAge != model.Duration(72*time.Hour) {
			t.Errorf("%q: defaults not applied: %+v %+v", src, c.Global, c.Spool)
		}
		if c.Exporters == nil || c.Sinks == nil || c.Jobs == nil {
			t.Errorf("%q: nil maps", src)
		}
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/op")
	if got := DefaultSpoolDir(); got != "/home/op/.local/state/metricwrap/spool" {
		t.Errorf("DefaultSpoolDir = %q", got)
	}
	// Per-type sink defaults only for their type.
	c := mustLoad(t, "sinks:\n  gw: {type: pushgateway, url: 'http://x:9091'}\n  dt: {type: dynatrace}\n")
	if c.Sinks["gw"].Method != "" || c.Sinks["gw"].TokenEnv != "" || c.Sinks["dt"].TokenEnv != DefaultDynatraceTokenEnv {
		t.Errorf("per-type defaults wrong: %+v %+v", c.Sinks["gw"], c.Sinks["dt"])
	}
}

func TestAllProblemsReported(t *testing.T) {
	src := `exporters:
  cisco:
    command: [x]
    timeout: 20x
    comand: [y]
sinks:
  gw: {type: pushgateway, url: 'ftp://x'}
`
	_, err := LoadBytes("metricwrap.yml", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v is not Errors", err)
	}
	want := []string{
		`metricwrap.yml:4: exporters.cisco.timeout: invalid duration "20x"`,
		`metricwrap.yml:5: exporters.cisco: unknown key "comand"`,
		`metricwrap.yml:7: sinks.gw.url: URL "ftp://x" must start with http:// or https://`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	lines := []int{4, 5, 7}
	for i, e := range es {
		if e.File != "metricwrap.yml" || e.Line != lines[i] {
			t.Errorf("error %d at %s:%d", i, e.File, e.Line)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("MW_N", "7")
	t.Setenv("MW_TOKEN", "s3cr3t")
	t.Setenv("MW_EMPTY", "")
	src := `global:
  max_concurrency: ${MW_N}
  labels: {a: '${MW_EMPTY}x', b: 'cost: $$5', c: '${MW_UNSET_XYZ:-fallback}', d: 'a$b'}
exporters:
  e:
    command: [prog, '--token=${MW_TOKEN}']
    params: {p: {pattern: '[a-z]+$'}}
`
	c := mustLoad(t, src)
	if c.Global.MaxConcurrency != 7 {
		t.Errorf("max_concurrency = %d", c.Global.MaxConcurrency)
	}
	want := map[string]string{"a": "x", "b": "cost: $5", "c": "fallback", "d": "a$b"}
	for k, v := range want {
		if c.Global.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Global.Labels[k], v)
		}
	}
	if c.Exporters["e"].Command[1] != "--token=s3cr3t" || c.Exporters["e"].Params["p"].Pattern != "[a-z]+$" {
		t.Errorf("exporter = %+v", c.Exporters["e"])
	}
	// Keys are never expanded.
	if _, err := LoadBytes("t.yml", []byte("${MW_N}: {}\n")); err == nil || !strings.Contains(err.Error(), `unknown key "${MW_N}"`) {
		t.Errorf("key expanded or wrong error: %v", err)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "1", "E": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ in, want, err string }{
		{in: "${A}", want: "1"},
		{in: "x${A}y${A}", want: "x1y1"},
		{in: "${E}", want: ""},
		{in: "${E:-d}", want: ""},
		{in: "${U:-d}", want: "d"},
		{in: "${U:-}", want: ""},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "a$", want: "a$"},
		{in: "$A", want: "$A"},
		{in: "${U}", err: `environment variable "U" is not set`},
		{in: "${A", err: "unterminated ${"},
		{in: "${1A}", err: `invalid environment variable name "1A"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expand(tt.in, lookup)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestBytes(t *testing.T) {
	tests := []struct {
		in   string
		want Bytes
		err  bool
	}{
		{"1GiB", 1 << 30, false}, {"512MiB", 512 << 20, false}, {"10MB", 10e6, false},
		{"65536", 65536, false}, {"64KiB", 64 << 10, false}, {"1.5KiB", 1536, false},
		{"2kB", 2000, false}, {"7B", 7, false}, {"1 GiB", 1 << 30, false},
		{"", 0, true}, {"GiB", 0, true}, {"-1", 0, true}, {"1XB", 0, true}, {"0x10", 0, true},
		{"1e30GiB", 0, true}, {"NaN", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseBytes(%q) = %d, %v", tt.in, got, err)
			}
		})
	}
	for b, s := range map[Bytes]string{1 << 30: "1GiB", 1536: "1536B", 0: "0B", 3 << 20: "3MiB"} {
		if b.String() != s {
			t.Errorf("%d.String() = %q, want %q", int64(b), b.String(), s)
		}
		if back, err := ParseBytes(s); err != nil || back != b {
			t.Errorf("round trip of %q = %d, %v", s, back, err)
		}
	}
}

const secretConfig = `exporters:
  e:
    command: [x]
    env: {API_TOKEN: tok-env-111}
sinks:
  gw:
    type: pushgateway
    url: http://user:pw-url-222@localhost:9091
    basic_auth: {username: u, password: pw-basic-333}
    tls_config: {key: key-tls-444, cert: c}
  tsdb:
    type: remote_write
    url: http://localhost:9090/api/v1/write
    bearer_token: tok-bearer-555
  archive:
    type: s3
    bucket: b
    access_key_id: AKID
    secret_access_key: sak-666
  collector:
    type: otlp
    url: http://localhost:4318/v1/metrics
    headers: {Authorization: "Api-Token tok-hdr-777"}
`

func TestSecretsNeverPrinted(t *testing.T) {
	c := mustLoad(t, secretConfig)
	if string(c.Sinks["tsdb"].BearerToken) != "tok-bearer-555" || c.Exporters["e"].Env["API_TOKEN"] != "tok-env-111" {
		t.Fatal("secrets not loaded")
	}
	viaYAML, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"String": c.String(), "yaml.Marshal": string(viaYAML)} {
		for _, s := range []string{"111", "222", "333", "444", "555", "666", "777"} {
			if strings.Contains(out, s) {
				t.Errorf("%s prints secret %s:\n%s", name, s, out)
			}
		}
		if !strings.Contains(out, "<secret>") || !strings.Contains(out, "AKID") {
			t.Errorf("%s hides too much or too little:\n%s", name, out)
		}
	}
	// The original is untouched by printing.
	if c.Exporters["e"].Env["API_TOKEN"] != "tok-env-111" || !strings.Contains(c.Sinks["gw"].URL, "pw-url-222") {
		t.Error("String modified the config")
	}
}

func TestStringLoadsBack(t *testing.T) {
	c, err := Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	back := mustLoad(t, c.String())
	if back.String() != c.String() {
		t.Errorf("round trip differs:\n%s\n---\n%s", c.String(), back.String())
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	src := `exporters:
  base: &base
    command: [prog]
    timeout: 5s
    env: {A: b}
  a:
    <<: *base
    timeout: 7s
  b: *base
`
	c := mustLoad(t, src)
	if c.Exporters["a"].Timeout != model.Duration(7*time.Second) || c.Exporters["a"].Command[0] != "prog" ||
		c.Exporters["b"].Timeout != model.Duration(5*time.Second) || c.Exporters["b"].Env["A"] != "b" {
		t.Errorf("merge wrong: %+v %+v", c.Exporters["a"], c.Exporters["b"])
	}
}

func TestBillionLaughs(t *testing.T) {
	// Each level merges the previous one nine times: 9^12 merges if
	// followed blindly.
	var b strings.Builder
	b.WriteString("exporters:\n  a0: &a0 {command: [x]}\n")
	for i := 1; i <= 12; i++ {
		prev := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "  a%d: &a%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(prev+", ", 9), ", "))
	}
	_, err := LoadBytes("t.yml", []byte(b.String()))
	var es Errors
	if !errors.As(err, &es) || !strings.Contains(err.Error(), "too many alias references") || len(es) > 10 {
		t.Fatalf("error = %v", err)
	}
}

func TestUnmarshalYAMLStrict(t *testing.T) {
	var e ExporterConfig
	err := yaml.Unmarshal([]byte("command: [x]\ntimout: 5s\n"), &e)
	if err == nil || !strings.Contains(err.Error(), `unknown key "timout"`) {
		t.Errorf("error = %v", err)
	}
	var s SinkConfig
	if err := yaml.Unmarshal([]byte("type: pushgateway\nurl: http://x:9091\n"), &s); err != nil {
		t.Fatal(err)
	}
	if s.Timeout != model.Duration(10*time.Second) {
		t.Errorf("sink defaults not applied: %+v", s)
	}
	var c Config
	if err := yaml.Unmarshal([]byte("spool: {max_bytes: 2MiB}\n"), &c); err != nil || c.Spool.MaxBytes != 2<<20 || c.Spool.MaxAge == 0 {
		t.Errorf("config: %+v, %v", c.Spool, err)
	}
}

func TestParamArgs(t *testing.T) {
	tests := []struct {
		arg  string
		want []string
	}{
		{"", []string{"--target=a b"}},
		{DefaultArgFormat, []string{"--target=a b"}},
		{"--{name} {value}", []string{"--target", "a b"}},
		{"{value}", []string{"a b"}},
		{"-t {value}", []string{"-t", "a b"}},
	}
	for _, tt := range tests {
		p := &ParamConfig{Arg: tt.arg}
		if got := p.Args("target", "a b"); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("Args(%q) = %q, want %q", tt.arg, got, tt.want)
		}
	}
	c := mustLoad(t, "exporters:\n  e:\n    command: [x]\n    params: {region: {pass_as: env}, t: {arg: '--{name} {value}'}}\n")
	if r := c.Exporters["e"].Params["region"]; r.Env != "REGION" || r.Arg != "" {
		t.Errorf("env param = %+v", r)
	}
}

func TestEffective(t *testing.T) {
	g := DefaultGlobalConfig
	g.EnvPassthrough = []string{"A", "B"}
	e := &ExporterConfig{KillGrace: model.Duration(time.Second), EnvPassthrough: []string{"B", "C"}}
	if e.EffectiveKillGrace(&g) != time.Second || e.EffectiveMaxOutputBytes(&g) != 16<<20 || e.EffectiveTimeout(&g) != 30*time.Second {
		t.Error("effective values wrong")
	}
	if got := strings.Join(e.EffectiveEnvPassthrough(&g), ","); got != "A,B,C" {
		t.Errorf("passthrough = %s", got)
	}
	if (&ExporterConfig{}).Kind() != "" || (&ExporterConfig{Scrape: "http://x"}).Kind() != KindScrape {
		t.Error("Kind wrong")
	}
}

func TestOptionsKept(t *testing.T) {
	c := mustLoad(t, "exporters:\n  h:\n    builtin: http\n    options: {expected_codes: [200], headers: {X: y}}\n")
	var opts struct {
		ExpectedCodes []int             `yaml:"expected_codes"`
		Headers       map[string]string `yaml:"headers"`
	}
	o := c.Exporters["h"].Options
	if o.Kind != yaml.MappingNode || o.Line != 4 {
		t.Fatalf("options node = %+v", o)
	}
	if err := o.Decode(&opts); err != nil || opts.ExpectedCodes[0] != 200 || opts.Headers["X"] != "y" {
		t.Errorf("options = %+v, %v", opts, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v", err)
	}
}
