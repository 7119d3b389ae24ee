package python

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

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

// ErrNoInterpreter is returned (wrapped, with the interpreters tried and
// why each failed) when no python3 can import prometheus_client.
var ErrNoInterpreter = errors.New("no python3 that can import prometheus_client")
