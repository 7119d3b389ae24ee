package python

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// bundledFiles lists the embedded files (slash paths).
func bundledFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := fs.WalkDir(bundle, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// treeFiles lists the regular files under dir (slash paths).
func treeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestBundleContents(t *testing.T) {
	want := []string{
		"exporters/__init__.py", "exporters/dummy.py", "exporters/exporter.py",
		"lib/__init__.py", "lib/timing.py", "lib/util.py", RunnerFile,
	}
	if got := bundledFiles(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("bundle holds %v, want %v", got, want)
	}
}

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache", "python")
	runner, err := Install(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runner != filepath.Join(dir, RunnerFile) {
		t.Errorf("runner path %s", runner)
	}
	if got, want := treeFiles(t, dir), bundledFiles(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("installed %v, want %v", got, want)
	}
	for _, p := range bundledFiles(t) {
		want, _ := bundle.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s differs from the bundle (%v)", p, err)
		}
	}

	// Unchanged files are left alone; a changed one is put back.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	timing := filepath.Join(dir, "lib", "timing.py")
	if err := os.Chtimes(runner, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(timing, []byte("# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(dir); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(runner); !st.ModTime().Equal(old) {
		t.Errorf("unchanged runner was rewritten (mtime %s)", st.ModTime())
	}
	want, _ := bundle.ReadFile("lib/timing.py")
	if got, _ := os.ReadFile(timing); string(got) != string(want) {
		t.Errorf("edited timing.py was not restored")
	}
	if got, want := treeFiles(t, dir), bundledFiles(t); !reflect.DeepEqual(got, want) {
		t.Errorf("after reinstall: %v, want %v (temporary files left?)", got, want)
	}
}

func TestInstallUnwritable(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(filepath.Join(blocker, "python")); err == nil || !strings.Contains(err.Error(), "install the Python runner") {
		t.Fatalf("err = %v, want an install error", err)
	}
}

func TestDefaultDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	dir, err := DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, filepath.Join(cache, "metricwrap", "python-")) || len(filepath.Base(dir)) != len("python-")+12 {
		t.Errorf("DefaultDir = %s, want %s/metricwrap/python-<content hash>", dir, cache)
	}
}
