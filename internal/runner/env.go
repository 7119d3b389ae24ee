package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// inherited are the only names a child takes from metricwrap's own
// environment without being listed in Spec.Passthrough.
var inherited = []string{"PATH", "HOME", "LANG", "TZ"}

// Names Run sets itself; they win over Spec.Env.
const (
	EnvMetricsFile    = "METRICS_FILE"
	EnvExporterName   = "EXPORTER_NAME"
	EnvScrapeTimeout  = "SCRAPE_TIMEOUT"
	EnvScrapeDeadline = "SCRAPE_DEADLINE"
)

// buildEnv returns the child's whole environment, sorted: the inherited and
// passthrough names that are set, then Spec.Env, then the run's own names.
// SCRAPE_TIMEOUT and SCRAPE_DEADLINE are set only when the run has a
// deadline (Spec.Timeout or ctx); both are decimal seconds.
func buildEnv(ctx context.Context, s Spec, metricsFile string, now time.Time) ([]string, error) {
	vars := make(map[string]string, len(inherited)+len(s.Passthrough)+len(s.Env)+4)
	for _, name := range slices.Concat(inherited, s.Passthrough) {
		if v, ok := os.LookupEnv(name); ok {
			vars[name] = v
		}
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("invalid environment variable name %q", k)
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("environment variable %s contains a NUL byte", k)
		}
		vars[k] = v
	}
	vars[EnvMetricsFile] = metricsFile
	vars[EnvExporterName] = s.Name
	if d, ok := ctx.Deadline(); ok {
		left := max(d.Sub(now), 0)
		vars[EnvScrapeTimeout] = strconv.FormatFloat(left.Seconds(), 'f', 3, 64)
		vars[EnvScrapeDeadline] = strconv.FormatFloat(float64(d.UnixNano())/1e9, 'f', 3, 64)
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env, nil
}

// envValue returns the value of name in env ("" when absent).
func envValue(env []string, name string) string {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}

// lookPath resolves prog the way a shell would, but against the child's PATH
// rather than metricwrap's, and ignoring relative PATH entries (as
// os/exec's ErrDot policy does) so the working directory never supplies the
// program by accident.
func lookPath(prog, pathEnv string) (string, error) {
	if prog == "" {
		return "", errors.New("no program given")
	}
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, prog)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in PATH %q", prog, pathEnv)
}
