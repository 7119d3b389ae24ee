package exporter_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// TestEmptyRunFails: a run with no family is ErrNoMetrics, never an empty
// success, and the message says what to do for the mistake at hand. A
// text document of TYPE lines alone has no family (the text parser drops a
// family without samples, as expfmt does); an OpenMetrics family declared
// without samples is an answer.
func TestEmptyRunFails(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, `
exporters:
  prints: {command: [`+script(t, dir, "p.sh", "echo 'metric 1'")+`]}
  silent: {command: [`+script(t, dir, "s.sh", "exit 0")+`]}
  stdout_silent: {command: [`+script(t, dir, "o.sh", `echo 'metric 1' > "$METRICS_FILE"`)+`], output: stdout}
  types_only: {command: [`+script(t, dir, "t.sh", `echo '# TYPE metric gauge' > "$METRICS_FILE"`)+`]}
  fine: {command: [`+script(t, dir, "f.sh", `echo 'metric 1' > "$METRICS_FILE"`)+`]}
`)
	set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"prints":        "wrote nothing to $METRICS_FILE but printed 9 bytes to stdout: set `output: stdout`",
		"silent":        "wrote nothing to $METRICS_FILE and printed nothing",
		"stdout_silent": "printed nothing to stdout",
		"fine":          "",
		"types_only":    "wrote nothing to $METRICS_FILE and printed nothing",
	} {
		t.Run(name, func(t *testing.T) {
			e, _ := set.Get(name)
			res, err := e.Run(context.Background(), &exporter.Request{})
			if want == "" {
				if err != nil || len(res.Families) != 1 {
					t.Fatalf("err %v, %d families; want one family", err, len(res.Families))
				}
				return
			}
			if !errors.Is(err, exporter.ErrNoMetrics) || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v; want ErrNoMetrics saying %q", err, want)
			}
		})
	}
}

// TestMetadataOnlyOpenMetrics: a valid OpenMetrics document that declares a
// family without samples is a successful run (the OpenMetrics suite's
// empty_metadata case), which the sinks then refuse to deliver as empty.
func TestMetadataOnlyOpenMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, `
exporters:
  meta: {command: [`+script(t, dir, "m.sh", `printf '# HELP a help\n# TYPE a gauge\n# EOF\n' > "$METRICS_FILE"`)+`]}
`)
	set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := set.Get("meta")
	res, err := e.Run(context.Background(), &exporter.Request{})
	if err != nil || len(res.Families) != 0 {
		t.Fatalf("err %v, %d families; want a successful run without samples", err, len(res.Families))
	}
}
