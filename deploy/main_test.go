package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// binDir holds the metricwrap binary the tests build once; TestMain
// removes it.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "metricwrap-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// metricwrapBinary builds ./cmd/metricwrap once for all the tests.
func metricwrapBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		bin := filepath.Join(binDir, "metricwrap")
		build := exec.Command("go", "build", "-o", bin, "./cmd/metricwrap")
		build.Dir = testenv.RepoRoot(t)
		if out, err := build.CombinedOutput(); err != nil {
			binError = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		binPath = bin
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}
