package exporter_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// TestEmptyRunFails: a run with no sample is ErrNoMetrics, never an empty
// success, and the message says what to do for the mistake at hand.
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
		"types_only":    "wrote nothing to $METRICS_FILE and printed nothing",
		"fine":          "",
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
