package runner

import (
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// walkUsage is the reference dirUsage is held to: every entry's allocated
// blocks, the root included, through filepath.WalkDir.
func walkUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func TestDirUsageCountsNestedFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, metricsFileName), make([]byte, 10000), 0o600); err != nil {
		t.Fatal(err)
	}
	one := dirUsage(dir)
	if one != walkUsage(t, dir) || one < 10000 {
		t.Fatalf("dirUsage = %d, WalkDir says %d (want at least the 10000 bytes written)", one, walkUsage(t, dir))
	}
	deep := filepath.Join(dir, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := os.WriteFile(filepath.Join(deep, "f"+strconv.Itoa(i)+"-with-a-longer-name-to-fill-the-buffer"), make([]byte, 5000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "a", "link")); err != nil {
		t.Fatal(err)
	}
	if got, want := dirUsage(dir), walkUsage(t, dir); got != want || got < one+50*5000 {
		t.Fatalf("dirUsage = %d, WalkDir says %d (want at least %d)", got, want, one+50*5000)
	}
}

func TestDirUsageStopsPastMaxEntries(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "many")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range maxDirEntries {
		f, err := os.Create(filepath.Join(sub, strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// dir, many and maxDirEntries files: one past the limit.
	if got := dirUsage(dir); got != math.MaxInt64 {
		t.Fatalf("dirUsage of %d entries = %d, want math.MaxInt64", maxDirEntries+2, got)
	}
	if err := os.Remove(filepath.Join(sub, "0")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(sub, "1")); err != nil {
		t.Fatal(err)
	}
	if got := dirUsage(dir); got == math.MaxInt64 {
		t.Fatalf("dirUsage of %d entries = MaxInt64, want a size", maxDirEntries)
	}
}
