package exporter_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	_ "github.com/metricwrap/metricwrap/internal/exporter/builtin/dummy"
	"github.com/metricwrap/metricwrap/internal/exposition"
)

func load(t *testing.T, yml string) *config.Config {
	t.Helper()
	cfg, err := config.LoadBytes("test.yml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildAndRunCommandExporter(t *testing.T) {
	dir := t.TempDir()
	s := script(t, dir, "exp.sh", `printf 'args{a="%s",b="%s"} 1\nregion{r="%s"} 1\n' "$1" "$2" "$REGION" > "$METRICS_FILE"`)
	cfg := load(t, `
global:
  labels: {site: lab, a: ignored}
  labels_from_env: {owner: TEST_OWNER}
exporters:
  cmd:
    command: [`+s+`, fixed]
    params:
      target: {pattern: '[a-z0-9-]+', required: true}
      region: {pattern: 'eu|us', default: eu, pass_as: env, env: REGION}
    timeout: 5s
    cache_ttl: 10s
`)
	set, err := exporter.Build(cfg, exporter.BuildOptions{
		ConfigFile: "test.yml", ExportersDir: filepath.Join(dir, "none"),
		Getenv: func(k string) string { return map[string]string{"TEST_OWNER": "ops"}[k] },
	})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := set.Get("cmd")
	if !ok || e.Kind() != exporter.KindCommand || e.Job() != "cmd" || e.CacheTTL.Seconds() != 10 || e.Timeout.Seconds() != 5 {
		t.Fatalf("entry %+v", e)
	}
	res, err := e.Run(context.Background(), &exporter.Request{Params: map[string]string{"target": "sw1", "region": "us"}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(exposition.Text(res.Families))
	for _, want := range []string{
		`args{a="fixed",b="--target=sw1",owner="ops",site="lab"} 1`,
		`region{a="ignored",owner="ops",r="us",site="lab"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
}

func TestBuildRunErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, `
exporters:
  fails: {command: [`+script(t, dir, "f.sh", "echo oops >&2; exit 3")+`]}
  garbage: {command: [`+script(t, dir, "g.sh", `echo 'not exposition {' > "$METRICS_FILE"`)+`]}
  slow: {command: [`+script(t, dir, "s.sh", "sleep 30")+`], timeout: 100ms, kill_grace: 100ms}
  huge: {command: [`+script(t, dir, "h.sh", `head -c 100000 /dev/zero | tr '\0' '#' > "$METRICS_FILE"`)+`], max_output_bytes: 1000}
`)
	set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]error{
		"fails": exporter.ErrFailed, "garbage": exporter.ErrInvalidOutput,
		"slow": exporter.ErrTimeout, "huge": exporter.ErrOutputTooLarge,
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			e, _ := set.Get(name)
			// The entry's timeout (the config's) reaches a run as its
			// context's deadline, as internal/run sets it.
			ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
			defer cancel()
			res, err := e.Run(ctx, &exporter.Request{})
			if !errors.Is(err, want) {
				t.Fatalf("error %v, want %v", err, want)
			}
			if name == "fails" && (res.ExitCode != 3 || !strings.Contains(err.Error(), "oops")) {
				t.Fatalf("exit %d, error %q: want exit 3 and the stderr tail", res.ExitCode, err)
			}
			if name == "garbage" && !strings.Contains(err.Error(), "line 1") {
				t.Fatalf("error %q lacks the parser's line", err)
			}
		})
	}
}

func TestBuildDiscoveryAndConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	script(t, dir, "disk.sh", `echo "disk 1" > "$METRICS_FILE"`)
	script(t, dir, "dummy", `echo "never 1" > "$METRICS_FILE"`)
	cfg := load(t, "exporters:\n  dummy: {builtin: dummy}\n")
	set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "disk,dummy" {
		t.Fatalf("names %s", got)
	}
	if e, _ := set.Get("dummy"); e.Kind() != exporter.KindBuiltin {
		t.Fatal("the discovered file replaced the configured exporter")
	}
	e, _ := set.Get("disk")
	res, err := e.Run(context.Background(), &exporter.Request{Params: map[string]string{"target": "x"}})
	if err != nil || res.Families[0].GetName() != "disk" {
		t.Fatalf("discovered run: %v %v", res, err)
	}
}

func TestBuildUnknownBuiltinAndBadOptions(t *testing.T) {
	for yml, want := range map[string]string{
		"exporters:\n  x: {builtin: nope}\n":                          `exporters.x: unknown built-in "nope"`,
		"exporters:\n  x:\n    builtin: dummy\n    options: {a: 1}\n": "test.yml:4: exporters.x.options",
		"exporters:\n  x:\n    builtin: dummy\n    params: {t: {}}\n": "params.t: the built-in takes no such parameter",
	} {
		_, err := exporter.Build(load(t, yml), exporter.BuildOptions{ConfigFile: "test.yml", ExportersDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", yml, err, want)
		}
	}
}

func TestDiscoveredWinOverEmbeddedDefaults(t *testing.T) {
	dir := t.TempDir()
	script(t, dir, "dummy", `echo "mine 1" > "$METRICS_FILE"`)
	cfg := load(t, "exporters:\n  dummy: {builtin: dummy}\n")
	set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: dir, DiscoveredWin: true})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := set.Get("dummy"); e.Kind() != exporter.KindCommand {
		t.Fatalf("kind %s: the user's exporters/dummy must replace the embedded default", e.Kind())
	}
}

func TestBuiltinDummyPushesAsTheOriginal(t *testing.T) {
	set, err := exporter.Build(load(t, "exporters:\n  dummy: {builtin: dummy}\n  other: {builtin: dummy, job: nightly}\n"),
		exporter.BuildOptions{ExportersDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := set.Get("dummy"); e.Job() != "DummyExporter" {
		t.Fatalf("job %q, want the original's DummyExporter", e.Job())
	}
	if e, _ := set.Get("other"); e.Job() != "nightly" {
		t.Fatalf("job %q: a configured job must win", e.Job())
	}
}

func TestScrapeRefusesOptions(t *testing.T) {
	cfg := load(t, "exporters:\n  node:\n    scrape: http://127.0.0.1:9100/metrics\n    options: {a: 1}\n")
	_, err := exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "test.yml", ExportersDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "test.yml:4: exporters.node.options: a scrape exporter takes no options") {
		t.Fatalf("error %v", err)
	}
}

// warmKind makes python exporters that run warm as well as cold.
type warmKind struct{}

func (warmKind) Interpreter() (string, error) { return "", errors.New("none") }
func (warmKind) New(c exporter.ProcessConfig, _ string, _ *bool) exporter.Exporter {
	return &warmExporter{Process: exporter.NewProcess(c)}
}

type warmExporter struct{ *exporter.Process }

func (w *warmExporter) RunWarm(context.Context, *exporter.Request) (*exporter.Result, error) {
	fams, err := exposition.Parse([]byte("warm_value 1\n"), exposition.FormatText)
	return &exporter.Result{Families: fams}, err
}

// TestBuildWarm: Entry.Warm is the `warm` setting (true unless false), and
// an exporter wrapped for the global labels is a WarmRunner exactly when
// the exporter is one, its warm runs labelled too.
func TestBuildWarm(t *testing.T) {
	dir := t.TempDir()
	s := script(t, dir, "exp.sh", `echo 'x 1' > "$METRICS_FILE"`)
	cfg := load(t, `
global:
  labels: {site: lab}
exporters:
  a: {python: `+filepath.Join(dir, "a.py")+`}
  b: {python: `+filepath.Join(dir, "b.py")+`, warm: false}
  c: {command: [`+s+`]}
`)
	set, err := exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "test.yml", ExportersDir: filepath.Join(dir, "none"), Python: warmKind{}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct{ allowed, runner bool }{"a": {true, true}, "b": {false, true}, "c": {true, false}} {
		e, _ := set.Get(name)
		w, ok := e.Exporter.(exporter.WarmRunner)
		if e.Warm != want.allowed || ok != want.runner {
			t.Errorf("%s: Warm %v, WarmRunner %v; want %v, %v", name, e.Warm, ok, want.allowed, want.runner)
		}
		if !ok {
			continue
		}
		res, err := w.RunWarm(context.Background(), &exporter.Request{})
		if got := string(exposition.Text(res.Families)); err != nil || !strings.Contains(got, `warm_value{site="lab"} 1`) {
			t.Errorf("%s: warm run %v:\n%s", name, err, got)
		}
	}
}
