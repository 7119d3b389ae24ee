//go:build linux

package runner

import (
	"os"
	"testing"
)

func TestPickTempDirHonoursTMPDIR(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	if got := pickTempDir(); got != dir {
		t.Fatalf("pickTempDir() = %q with TMPDIR=%s, want TMPDIR", got, dir)
	}
}

func TestPickTempDirPrefersTmpfs(t *testing.T) {
	t.Setenv("TMPDIR", "")
	got := pickTempDir()
	if got != os.TempDir() && !isTmpfs(got, minShmBytes) {
		t.Fatalf("pickTempDir() = %q: neither the temporary directory nor a tmpfs", got)
	}
	if isTmpfs("/dev/shm", minShmBytes) && !isTmpfs(os.TempDir(), 0) && got != "/dev/shm" {
		t.Fatalf("pickTempDir() = %q; /dev/shm is a tmpfs and %s is not", got, os.TempDir())
	}
}
