package main

import (
	"strings"
	"testing"
)

// TestCheckConfigWarnsAboutOptionInjection: a value passed as an argument
// of its own under a pattern that admits a leading "-" loads, and
// check-config says where the danger is, exiting 0.
func TestCheckConfigWarnsAboutOptionInjection(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, t.TempDir(), "metricwrap.yml", `exporters:
  ping:
    command: [/bin/ping, -c1]
    params:
      host: {pattern: '[A-Za-z0-9.-]+', required: true, arg: '{value}'}
`, 0o644)
	r := runMW(t, baseEnv(), "--config.file", cfg, "check-config")
	want := "warning: " + cfg + ":5: exporters.ping.params.host: pattern"
	if r.code != 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--help or -rf") {
		t.Fatalf("exit %d, stderr %q; want 0 and a warning starting %q", r.code, r.stderr, want)
	}
}
