package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunDeliversWithUnusableSpoolDir is issue 11's seventh case: a spool
// dir that cannot be created (under a regular file, which fails for root
// too, unlike file modes) costs a warning, not the delivery and not exit 2.
func TestRunDeliversWithUnusableSpoolDir(t *testing.T) {
	t.Parallel()
	gw := startGateway(t)
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMW(t, baseEnv("PUSHGATEWAY_URL="+gw.URL, "XDG_STATE_HOME="+filepath.Join(file, "state")),
		"--config.file", testdataPath(t, "run.yml"), "run", "echo", "--param", "target=gamma", "--push", "pushgateway")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "delivering without one") {
		t.Errorf("no warning that the spool is not used; stderr:\n%s", r.stderr)
	}
	stdoutSamples, _ := flatten(parseFamilies(t, r.stdout))
	sameSeries(t, "gateway vs stdout", gatewayJob(t, gw.URL, "echo_job").samples, stdoutSamples)
}
