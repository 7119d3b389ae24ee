// Package python ships the runner for Python exporters in the original
// metrics tool's layout (exporters/NAME.py or exporters/NAME/NAME.py, a
// class derived from Exporter) and finds an interpreter to run it with.
//
// The runner, the Exporter base class and the timing helpers are embedded
// in the binary so such exporters run unchanged with nothing but python3
// and prometheus_client on the machine. Install writes them to a directory
// (DefaultDir: a per-user cache directory named after their content);
// RunnerArgs builds the runner's command line. The runner's own usage is
// documented at the top of metricwrap_runner.py.
package python

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// RunnerFile is the runner's file name inside the install directory.
const RunnerFile = "metricwrap_runner.py"

// DefaultJobName is the base class's job_name, used when an exporter does
// not set its own.
const DefaultJobName = "exporter"

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

// RunnerArgs is the runner's command line (after the interpreter) for
// exporter name in exportersDir. It ends with "--", so the caller appends
// the exporter's arguments and none of them is ever taken for the runner's.
func RunnerArgs(runnerPath, exportersDir, name string, debug bool) []string {
	args := []string{runnerPath, "--exporters-dir", exportersDir, "--exporter", name}
	if debug {
		args = append(args, "--debug")
	}
	return append(args, "--")
}

// Split turns the path of an exporter module into the runner's exporters
// directory and exporter name: DIR/NAME/NAME.py and DIR/NAME.py both give
// (DIR, NAME), matching the runner's lookup of exporters.NAME.NAME, then
// exporters.NAME.
func Split(modulePath string) (exportersDir, name string, err error) {
	base := filepath.Base(modulePath)
	name, ok := strings.CutSuffix(base, ".py")
	if !ok || name == "" {
		return "", "", fmt.Errorf("python exporter %q: not a .py file", modulePath)
	}
	parent := filepath.Dir(modulePath)
	if filepath.Base(parent) == name {
		return filepath.Dir(parent), name, nil
	}
	return parent, name, nil
}

var (
	exporterClassRE = regexp.MustCompile(`(?m)^class\s+\w+\s*\([^)]*Exporter[^)]*\)\s*:`)
	jobNameRE       = regexp.MustCompile(`(?m)^[ \t]+job_name\s*=\s*(?:'([^'\n]*)'|"([^"\n]*)")`)
)

// IsExporterModule reports whether Python source src looks like an
// exporter module: it defines a class derived from Exporter (or from a
// class whose name ends in Exporter). It is a text check, so discovery
// never runs user code.
func IsExporterModule(src []byte) bool {
	return exporterClassRE.Match(src)
}

// JobName returns the job_name class attribute set in Python source src,
// or DefaultJobName: the Pushgateway job the original tool pushed under,
// known without running the exporter.
func JobName(src []byte) string {
	m := jobNameRE.FindSubmatch(src)
	if m == nil {
		return DefaultJobName
	}
	if m[1] != nil {
		return string(m[1])
	}
	return string(m[2])
}

// ErrNoInterpreter is returned (wrapped, with the interpreters tried and
// why each failed) when no python3 can import prometheus_client.
var ErrNoInterpreter = errors.New("no python3 that can import prometheus_client")
