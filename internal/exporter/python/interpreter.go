package python

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/metricwrap/metricwrap/internal/runner"
)

// EnvPython names the variable that picks the interpreter when the
// configuration (global.python) does not.
const EnvPython = "METRICWRAP_PYTHON"

var (
	// fallbackPython is tried after PATH: the Debian interpreter that
	// python3-prometheus-client installs into. A variable so tests can
	// stand in a machine without it.
	fallbackPython = "/usr/bin/python3"
	// probeTimeout bounds one probe; a pyenv shim or a cold disk can take
	// a while, a hung interpreter must not hang the caller.
	probeTimeout = 10 * time.Second
	// failureTTL is how long a failed search is remembered, so a machine
	// without Python is not probed on every request, yet installing
	// prometheus_client is noticed without a restart.
	failureTTL = 10 * time.Second
)

// probeScript succeeds only where the runner can work, and names the resolved
// executable behind a shim.
const probeScript = "import sys, prometheus_client; print(sys.executable)"

// lookup is one search, shared by every caller asking the same question.
type lookup struct {
	done chan struct{} // closed when path, err and at are set
	path string
	err  error
	at   time.Time
}

var (
	lookupsMu sync.Mutex
	lookups   = map[string]*lookup{}
)

// FindInterpreter returns the python3 to run the runner with.
//
// explicit (the configuration's global.python) wins, then the
// METRICWRAP_PYTHON variable; an interpreter named either way is used only
// if it can import prometheus_client, and never replaced by another one.
// Otherwise the first python3 on PATH that can import it is used (a machine
// may have several, such as pyenv's ahead of the system one), then
// /usr/bin/python3. A bare name such as "python3.11" is looked up on PATH.
//
// Each interpreter is probed by running it, under probeTimeout, in the
// environment the child-process contract gives exporters (PATH, HOME, LANG,
// TZ). When the probe reports a different sys.executable that imports
// prometheus_client as well (the resolved interpreter behind a pyenv shim), that
// one is returned, sparing every run the shim's start-up.
//
// Results are cached per process, keyed by the choice and PATH; concurrent
// callers share one search. A failure is remembered for a few seconds only.
// The error wraps ErrNoInterpreter, lists every interpreter tried and why
// it failed, and says how to fix it.
func FindInterpreter(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(EnvPython)
	}
	pathEnv := os.Getenv("PATH")
	key := explicit + "\x00" + pathEnv

	lookupsMu.Lock()
	l := lookups[key]
	if l != nil {
		select {
		case <-l.done:
			if l.err != nil && time.Since(l.at) > failureTTL {
				l = nil
			}
		default:
		}
	}
	owner := l == nil
	if owner {
		l = &lookup{done: make(chan struct{})}
		lookups[key] = l
	}
	lookupsMu.Unlock()

	if owner {
		l.path, l.err = search(explicit, pathEnv)
		l.at = time.Now()
		close(l.done)
	}
	<-l.done
	return l.path, l.err
}

func search(explicit, pathEnv string) (string, error) {
	env := probeEnv(pathEnv)
	if explicit != "" {
		path := explicit
		if !strings.ContainsRune(explicit, filepath.Separator) {
			found, err := lookPath(explicit, pathEnv)
			if err != nil {
				return "", fmt.Errorf("%w: python interpreter %q (global.python or %s) is not on PATH; install it or name an interpreter that exists", ErrNoInterpreter, explicit, EnvPython)
			}
			path = found
		}
		resolved, err := probe(path, env)
		if err != nil {
			return "", fmt.Errorf("%w: %s (global.python or %s): %w; install prometheus_client for it (%s) or name an interpreter that has it", ErrNoInterpreter, path, EnvPython, err, installHint)
		}
		return preferReal(path, resolved, env), nil
	}

	var tried []string
	for _, c := range candidates(pathEnv) {
		resolved, err := probe(c, env)
		if err == nil {
			return preferReal(c, resolved, env), nil
		}
		tried = append(tried, fmt.Sprintf("%s (%v)", c, err))
	}
	if len(tried) == 0 {
		tried = append(tried, fmt.Sprintf("no python3 on PATH, nor %s", fallbackPython))
	}
	return "", fmt.Errorf("%w; tried: %s; %s", ErrNoInterpreter, strings.Join(tried, ", "), fixHint)
}

const (
	installHint = "Debian/Ubuntu: apt install python3-prometheus-client; otherwise: python3 -m pip install prometheus-client"
	fixHint     = "install prometheus_client for one of them (" + installHint + ") or set " + EnvPython + " (or global.python) to an interpreter that has it"
)

// candidates lists every python3 file on PATH, then fallbackPython, each
// directory once (on merged-/usr systems /bin is /usr/bin). Relative PATH
// entries are skipped: they would make the choice depend on the working
// directory.
func candidates(pathEnv string) []string {
	var out []string
	var seenDirs []os.FileInfo
	add := func(p string) {
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return
		}
		dirInfo, err := os.Stat(filepath.Dir(p))
		if err != nil {
			return
		}
		for _, s := range seenDirs {
			if os.SameFile(s, dirInfo) {
				return
			}
		}
		seenDirs = append(seenDirs, dirInfo)
		out = append(out, p)
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if filepath.IsAbs(dir) {
			add(filepath.Join(dir, "python3"))
		}
	}
	add(fallbackPython)
	return out
}

var errNotFound = errors.New("executable file not found in $PATH")

// lookPath is exec.LookPath against pathEnv rather than this process's
// PATH, skipping relative entries.
func lookPath(name, pathEnv string) (string, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errNotFound
}

func probeEnv(pathEnv string) map[string]string {
	return map[string]string{"PATH": pathEnv}
}

// probe runs path with probeScript and returns the sys.executable it
// printed, or why it cannot run the runner. It runs through the runner,
// like every process metricwrap starts, so it gets a child's environment
// (PATH, HOME, LANG, TZ) and a bound on its time.
func probe(path string, env map[string]string) (string, error) {
	res, err := runner.Run(context.Background(), runner.Spec{
		Name:    "python-probe",
		Path:    path,
		Args:    []string{"-c", probeScript},
		Env:     env,
		Dir:     os.TempDir(), // never pick up a prometheus_client from the caller's directory
		Output:  runner.OutputStdout,
		Timeout: probeTimeout,
	})
	switch {
	case errors.Is(err, runner.ErrTimeout):
		return "", fmt.Errorf("no answer within %s", probeTimeout)
	case errors.Is(err, runner.ErrExit):
		if msg := lastLine(string(res.Stderr)); msg != "" {
			return "", fmt.Errorf("exit code %d: %s", res.ExitCode, msg)
		}
		return "", fmt.Errorf("exit code %d", res.ExitCode)
	case err != nil:
		return "", err
	}
	return strings.TrimSpace(string(res.Metrics)), nil
}

// preferReal returns resolved (the probed sys.executable) when it differs from
// path and imports prometheus_client on its own, else path: a wrapper that
// sets up the environment before exec'ing Python keeps being used.
func preferReal(path, resolved string, env map[string]string) string {
	if resolved == "" || resolved == path || !filepath.IsAbs(resolved) {
		return path
	}
	if again, err := probe(resolved, env); err != nil || again != resolved {
		return path
	}
	return resolved
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	line := strings.TrimSpace(lines[len(lines)-1])
	const maxLen = 200
	if len(line) > maxLen {
		line = strings.ToValidUTF8(line[:maxLen], "") + "..."
	}
	return line
}
