// Package python holds the files metricwrap ships for Python exporters in
// the original metrics tool's layout: the runner (metricwrap_runner.py),
// the Exporter base class (exporters/) and the timing helpers (lib/), and
// how they are embedded and installed. Running them is the python exporter
// kind's business (internal/exporter/python).
//
// The files are embedded in the binary so such exporters run unchanged with
// nothing but python3 and prometheus_client on the machine. Install writes
// them to a directory (DefaultDir: a per-user cache directory named after
// their content). The runner's own usage is documented at the top of
// metricwrap_runner.py.
package python

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// RunnerFile is the runner's file name inside the install directory.
const RunnerFile = "metricwrap_runner.py"

//go:embed metricwrap_runner.py exporters/*.py lib/*.py
var bundle embed.FS

var bundleHash = sync.OnceValue(func() string {
	h := sha256.New()
	_ = fs.WalkDir(bundle, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := bundle.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
		h.Write(data)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
})

// DefaultDir is where callers install the bundled files: the user's cache
// directory, in a sub-directory named after the files' content, so two
// metricwrap versions on one machine never run each other's runner.
func DefaultDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the Python runner (set XDG_CACHE_HOME or HOME): %w", err)
	}
	return filepath.Join(cache, "metricwrap", "python-"+bundleHash()), nil
}

// Install writes the bundled runner, exporters/ and lib/ files into dir and
// returns the runner's path. It is idempotent and safe to call from several
// processes at once: a file is rewritten only when its content differs, and
// then through a temporary file renamed into place, so a runner starting
// meanwhile sees either the old or the new file, never half of one.
func Install(dir string) (runnerPath string, err error) {
	err = fs.WalkDir(bundle, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := bundle.ReadFile(p)
		if err != nil {
			return err
		}
		return writeIfChanged(dst, data)
	})
	if err != nil {
		return "", fmt.Errorf("install the Python runner in %s: %w", dir, err)
	}
	return filepath.Join(dir, RunnerFile), nil
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
