package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/runner"
)

// BuildOptions are what Build needs besides the config.
type BuildOptions struct {
	// ConfigFile names the config in error messages.
	ConfigFile string
	// ExportersDir overrides the config's exporters_dir (--exporters.dir).
	// When both are empty, ./exporters is used if it exists.
	ExportersDir string
	// Python makes Python class exporters and picks the interpreter for
	// commands that run python3; nil disables Python class exporters.
	Python PythonKind
	// DiscoveredWin lets discovered exporters replace configured ones of
	// the same name (for the embedded default config).
	DiscoveredWin bool
	// TempDir is the parent of each run's private directory.
	TempDir string
	// Getenv reads labels_from_env; nil means os.Getenv.
	Getenv func(string) string
	Logger *slog.Logger
}

// PythonKind is the python exporter kind, implemented by
// internal/exporter/python so that this package starts no Python itself.
// It must be safe for concurrent use.
type PythonKind interface {
	// Interpreter returns a python3 that can import prometheus_client.
	Interpreter() (string, error)
	// New returns the exporter that runs module file (DIR/NAME.py or
	// DIR/NAME/NAME.py) with c's name, job, params and run settings; warm
	// is the exporter's `warm` setting, nil when not set, which says only
	// whether to prepare warm runs (Entry.Warm decides whether they are
	// tried).
	New(c ProcessConfig, file string, warm *bool) Exporter
}

// Build makes the exporter set a config describes: the configured exporters
// and those discovered in the exporters directory. On a name clash the
// config wins, unless o.DiscoveredWin (the embedded default config, which
// the user did not write, must not hide their own exporters/dummy.py).
// Every error found is returned, joined.
func Build(cfg *config.Config, o BuildOptions) (*Set, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	labels := ConstLabels(cfg, o.Getenv)
	var errs []error
	var entries []*Entry

	dir := o.ExportersDir
	if dir == "" {
		dir = cfg.ExportersDir
	}
	if dir == "" {
		dir = "exporters"
	}
	found, err := Discover(dir, DiscoverOptions{
		FollowSymlinks: cfg.Discovery.FollowSymlinks,
		Skipped: func(path, target string) {
			o.Logger.Warn("discovery skipped a symlink that leads outside the exporters directory; set discovery.follow_symlinks: true to run it",
				"path", path, "target", target)
		},
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("exporters directory %s: %w", dir, err))
	}
	discoveredNames := map[string]bool{}
	for _, f := range found {
		discoveredNames[f.Name] = true
		if _, configured := cfg.Exporters[f.Name]; configured && !o.DiscoveredWin {
			continue
		}
		entries = append(entries, withLabels(discovered(f, cfg, o), labels))
	}

	names := make([]string, 0, len(cfg.Exporters))
	for n := range cfg.Exporters {
		if !o.DiscoveredWin || !discoveredNames[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		e, err := fromConfig(name, cfg.Exporters[name], cfg, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, withLabels(e, labels))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewSet(entries...)
}

// ConstLabels are global.labels plus global.labels_from_env for variables
// that are set.
func ConstLabels(cfg *config.Config, getenv func(string) string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg.Global.Labels {
		out[k] = v
	}
	for label, env := range cfg.Global.LabelsFromEnv {
		if v := getenv(env); v != "" {
			out[label] = v
		}
	}
	return out
}

func fromConfig(name string, ec *config.ExporterConfig, cfg *config.Config, o BuildOptions) (*Entry, error) {
	g := &cfg.Global
	entry := &Entry{
		Timeout:        ec.EffectiveTimeout(g),
		CacheTTL:       time.Duration(ec.CacheTTL),
		StaleOnError:   ec.StaleOnError,
		MaxConcurrency: ec.MaxConcurrency,
		OnFailure:      ec.OnFailure,
		Schedule:       time.Duration(ec.Schedule),
		ScheduleParams: ec.ScheduleParams,
		Sinks:          ec.Sinks,
		Warm:           ec.Warm == nil || *ec.Warm,
		Source:         "config",
	}
	job := ec.Job
	if job == "" {
		job = name
	}
	params := paramsFromConfig(ec.Params)
	where := func(err error) error {
		key := config.Key("exporters", name)
		if line := cfg.Line(key); line > 0 {
			return fmt.Errorf("%s:%d: %s: %w", o.ConfigFile, line, key, err)
		}
		return fmt.Errorf("%s: %s: %w", o.ConfigFile, key, err)
	}
	switch ec.Kind() {
	case config.KindBuiltin:
		factory, ok := lookupBuiltin(ec.Builtin)
		if !ok {
			return nil, where(fmt.Errorf("unknown built-in %q (known: %v)", ec.Builtin, Builtins()))
		}
		var opts *yaml.Node
		if ec.Options.Kind != 0 {
			opts = &ec.Options
		}
		b, err := factory(opts)
		if err != nil {
			if opts != nil {
				return nil, fmt.Errorf("%s:%d: exporters.%s.%w", o.ConfigFile, opts.Line, name, err)
			}
			return nil, where(err)
		}
		if len(params) == 0 {
			params = b.Params()
		} else if err := narrows(params, b.Params()); err != nil {
			return nil, where(err)
		}
		if dj, ok := b.(interface{ DefaultJob() string }); ok && (ec.Job == "" || ec.Job == name) {
			job = dj.DefaultJob()
		}
		entry.Exporter = &builtinExporter{name: name, job: job, b: b, params: params}
	case config.KindCommand:
		entry.Exporter = NewProcess(ProcessConfig{
			Name: name, Kind: KindCommand, Job: job, Params: params,
			Argv: commandArgv(ec.Command, o.Python), Spec: runnerSpec(name, ec, g, o),
		})
	case config.KindPython:
		pc := ProcessConfig{Name: name, Kind: KindPython, Job: ec.Job, Params: params, Spec: runnerSpec(name, ec, g, o)}
		entry.Exporter = newPython(o.Python, pc, ec.Python, ec.Warm)
	case config.KindScrape:
		if ec.Options.Kind != 0 {
			return nil, fmt.Errorf("%s:%d: exporters.%s.options: a scrape exporter takes no options", o.ConfigFile, ec.Options.Line, name)
		}
		u, err := url.Parse(ec.Scrape)
		if err != nil {
			return nil, where(err)
		}
		entry.Exporter = &scrapeExporter{
			name: name, job: job, url: u, params: params,
			maxBytes: int64(ec.EffectiveMaxOutputBytes(g)),
			client:   &http.Client{},
		}
	default:
		return nil, where(errors.New("no kind: set one of builtin, command, python or scrape"))
	}
	return entry, nil
}

// narrows checks that the config declares only parameters the built-in
// accepts (the config may tighten their patterns).
func narrows(cfg, builtin Params) error {
	for n := range cfg {
		if _, ok := builtin[n]; !ok {
			return fmt.Errorf("params.%s: the built-in takes no such parameter", n)
		}
	}
	return nil
}

func paramsFromConfig(pcs map[string]*config.ParamConfig) Params {
	if len(pcs) == 0 {
		return nil
	}
	ps := make(Params, len(pcs))
	for n, pc := range pcs {
		p := &Param{Name: n, Pattern: pc.Regexp, PatternText: pc.Pattern, Required: pc.Required, Default: pc.Default, PassAs: pc.PassAs, Env: pc.Env}
		if pc.PassAs != config.PassAsEnv {
			name, pc := n, pc
			p.Format = func(v string) []string { return pc.Args(name, v) }
		}
		ps[n] = p
	}
	return ps
}

func runnerSpec(name string, ec *config.ExporterConfig, g *config.GlobalConfig, o BuildOptions) runner.Spec {
	out := runner.OutputFile
	switch ec.Output {
	case config.OutputStdout:
		out = runner.OutputStdout
	case config.OutputSeed:
		out = runner.OutputSeed
	}
	return runner.Spec{
		Name:        name,
		Dir:         ec.Dir,
		Env:         ec.Env,
		Passthrough: ec.EffectiveEnvPassthrough(g),
		Output:      out,
		// No Timeout: a run's bound is decided by internal/run and
		// reaches the runner as its context's deadline.
		KillGrace:      ec.EffectiveKillGrace(g),
		MaxOutputBytes: int64(ec.EffectiveMaxOutputBytes(g)),
		MaxDirBytes:    int64(ec.EffectiveMaxDirBytes(g)),
		CaptureBytes:   int(g.CaptureBytes),
		TempDir:        o.TempDir,
	}
}

// commandArgv runs the configured command. A command whose program is
// literally python3 (or python) runs under the interpreter metricwrap picks
// for Python exporters (SPEC 2.3), since the first python3 on PATH may lack
// prometheus_client; when none is found the name is used as written.
func commandArgv(command []string, py PythonKind) func(bool) (string, []string, error) {
	prog, args := command[0], command[1:]
	return func(bool) (string, []string, error) {
		if py != nil && (prog == "python3" || prog == "python") {
			if interp, err := py.Interpreter(); err == nil {
				return interp, args, nil
			}
		}
		return prog, args, nil
	}
}

// newPython makes a python exporter through py, or one whose runs say
// why Python is not available.
func newPython(py PythonKind, c ProcessConfig, file string, warm *bool) Exporter {
	if py == nil {
		c.Argv = func(bool) (string, []string, error) {
			return "", nil, errors.New("python exporters are not available here")
		}
		return NewProcess(c)
	}
	return py.New(c, file, warm)
}

// discovered makes an exporter of a file found in the exporters directory,
// with the global settings and open parameters (SPEC 2.1).
func discovered(f Found, cfg *config.Config, o BuildOptions) *Entry {
	ec := &config.ExporterConfig{Output: config.OutputFile}
	g := &cfg.Global
	path, err := filepath.Abs(f.Path)
	if err != nil {
		path = f.Path
	}
	c := ProcessConfig{Name: f.Name, Kind: KindCommand, Job: f.Name, Spec: runnerSpec(f.Name, ec, g, o)}
	if cfg.Discovery.OpenParamsFor(f.Python) {
		c.Params = OpenParams()
	}
	var e Exporter
	switch {
	case f.Python:
		c.Kind, c.Job = KindPython, ""
		e = newPython(o.Python, c, path, nil)
	case filepath.Ext(path) == ".sh":
		c.Argv = commandArgv([]string{"/bin/sh", path}, nil)
		e = NewProcess(c)
	default:
		c.Argv = commandArgv([]string{path}, nil)
		e = NewProcess(c)
	}
	return &Entry{Exporter: e, Timeout: ec.EffectiveTimeout(g), Warm: true, Source: f.Path}
}

// labeledExporter adds constant labels to every successful run's families,
// never replacing a label the exporter set itself.
type labeledExporter struct {
	Exporter
	labels map[string]string
}

func withLabels(e *Entry, labels map[string]string) *Entry {
	if len(labels) == 0 {
		return e
	}
	l := &labeledExporter{Exporter: e.Exporter, labels: labels}
	e.Exporter = l
	if w, ok := l.Exporter.(WarmRunner); ok {
		// Only a warm runner stays one: the engine must not try a warm
		// run of an exporter that has none.
		e.Exporter = &labeledWarmExporter{labeledExporter: l, warm: w}
	}
	return e
}

func (l *labeledExporter) Run(ctx context.Context, req *Request) (*Result, error) {
	return l.label(l.Exporter.Run(ctx, req))
}

func (l *labeledExporter) label(res *Result, err error) (*Result, error) {
	if err == nil && res != nil {
		exposition.AddLabels(res.Families, l.labels)
	}
	return res, err
}

// labeledWarmExporter is a labeledExporter of a WarmRunner.
type labeledWarmExporter struct {
	*labeledExporter
	warm WarmRunner
}

func (l *labeledWarmExporter) RunWarm(ctx context.Context, req *Request) (*Result, error) {
	return l.label(l.warm.RunWarm(ctx, req))
}
