package config

import (
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Exporter kinds, as Kind reports them (the same strings the exporter
// package uses).
const (
	KindBuiltin = "builtin"
	KindCommand = "command"
	KindPython  = "python"
	KindScrape  = "scrape"
)

// What a failed run answers over HTTP (on_failure).
const (
	OnFailureError  = "error"
	OnFailureReport = "report"
)

// Output modes of a command exporter.
const (
	OutputFile   = "file"   // the child writes $METRICS_FILE
	OutputStdout = "stdout" // metricwrap reads the child's stdout
	OutputSeed   = "seed"   // as file, plus `--output-filename FILE` as the first two arguments
)

// ExporterConfig is one entry of `exporters:`. Exactly one of Builtin,
// Command, Python and Scrape says what runs.
type ExporterConfig struct {
	Builtin string   `yaml:"builtin,omitempty"`
	Command []string `yaml:"command,omitempty"`
	// Python is the path of a .py file defining an Exporter subclass.
	Python string `yaml:"python,omitempty"`
	// Scrape is the http(s) URL of another exporter to fetch and forward.
	Scrape string                  `yaml:"scrape,omitempty"`
	Params map[string]*ParamConfig `yaml:"params,omitempty"`
	// Env is added to the child's environment (command and python only).
	Env            map[string]string `yaml:"env,omitempty"`
	EnvPassthrough []string          `yaml:"env_passthrough,omitempty"`
	// Timeout, KillGrace and MaxOutputBytes are zero when not set: the
	// Effective* methods resolve them against the global section.
	Timeout        model.Duration `yaml:"timeout,omitempty"`
	KillGrace      model.Duration `yaml:"kill_grace,omitempty"`
	MaxOutputBytes Bytes          `yaml:"max_output_bytes,omitempty"`
	MaxDirBytes    Bytes          `yaml:"max_dir_bytes,omitempty"`
	// Output is OutputFile (the default), OutputStdout or OutputSeed for a
	// command exporter; empty for the other kinds.
	Output string `yaml:"output,omitempty"`
	// Dir is the child's working directory; empty means metricwrap's.
	Dir string `yaml:"dir,omitempty"`
	// Job is the push job name; loading sets it to the exporter's name when
	// not given.
	Job          string         `yaml:"job,omitempty"`
	CacheTTL     model.Duration `yaml:"cache_ttl,omitempty"`
	StaleOnError bool           `yaml:"stale_on_error,omitempty"`
	// MaxConcurrency bounds this exporter's runs in progress; 0 means a
	// fair share of global.max_concurrency.
	MaxConcurrency int `yaml:"max_concurrency,omitempty"`
	// OnFailure is what a failed run answers over HTTP: OnFailureError (500
	// or 504, the default) or OnFailureReport (200 with
	// metricwrap_run_success 0 and the reason).
	OnFailure string `yaml:"on_failure,omitempty"`
	// Schedule, when set, makes serve run the exporter on that interval with
	// ScheduleParams and deliver each result to Sinks.
	Schedule       model.Duration    `yaml:"schedule,omitempty"`
	ScheduleParams map[string]string `yaml:"schedule_params,omitempty"`
	Sinks          []string          `yaml:"sinks,omitempty"`
	// Instance is the instance label of scheduled runs sent to remote
	// write; empty means the default (schedule_params.target, a scrape's
	// host:port, else this host's name and serve's port).
	Instance string `yaml:"instance,omitempty"`
	// HonorLabels keeps the exporter's own job and instance labels on
	// scheduled runs sent to remote write, as Prometheus's honor_labels;
	// without it they become exported_job and exported_instance.
	HonorLabels bool `yaml:"honor_labels,omitempty"`

	// Warm, for Python class exporters under serve: nil or true runs them
	// from a warm worker (imported once, each run forked from it); false
	// runs a fresh interpreter per run, for exporters whose import has side
	// effects (opens connections, starts threads, reads its environment).
	Warm *bool `yaml:"warm,omitempty"`
	// Options are builtin- or scrape-specific settings, decoded strictly by
	// whoever implements the kind; the zero Node when absent.
	Options yaml.Node `yaml:"options,omitempty"`
}

// DefaultExporterConfig is applied to each exporter before decoding. Output
// is set to OutputFile for command exporters only, the one kind it applies to.
var DefaultExporterConfig = ExporterConfig{}

// Kind says which of builtin, command, python or scrape the exporter is;
// empty if none is set.
func (e *ExporterConfig) Kind() string {
	switch {
	case e.Builtin != "":
		return KindBuiltin
	case len(e.Command) > 0:
		return KindCommand
	case e.Python != "":
		return KindPython
	case e.Scrape != "":
		return KindScrape
	}
	return ""
}

// EffectiveTimeout is the exporter's timeout, or the global one.
func (e *ExporterConfig) EffectiveTimeout(g *GlobalConfig) time.Duration {
	if e.Timeout > 0 {
		return time.Duration(e.Timeout)
	}
	return time.Duration(g.Timeout)
}

// EffectiveKillGrace is the exporter's kill grace, or the global one.
func (e *ExporterConfig) EffectiveKillGrace(g *GlobalConfig) time.Duration {
	if e.KillGrace > 0 {
		return time.Duration(e.KillGrace)
	}
	return time.Duration(g.KillGrace)
}

// EffectiveMaxDirBytes is the exporter's private directory cap, or the
// global one.
func (e *ExporterConfig) EffectiveMaxDirBytes(g *GlobalConfig) Bytes {
	if e.MaxDirBytes > 0 {
		return e.MaxDirBytes
	}
	return g.MaxDirBytes
}

// EffectiveMaxOutputBytes is the exporter's output cap, or the global one.
func (e *ExporterConfig) EffectiveMaxOutputBytes(g *GlobalConfig) Bytes {
	if e.MaxOutputBytes > 0 {
		return e.MaxOutputBytes
	}
	return g.MaxOutputBytes
}

// EffectiveEnvPassthrough is the global passthrough list followed by the
// exporter's own, without duplicates.
func (e *ExporterConfig) EffectiveEnvPassthrough(g *GlobalConfig) []string {
	var out []string
	for _, n := range slices.Concat(g.EnvPassthrough, e.EnvPassthrough) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// UnmarshalYAML decodes and validates one exporter on its own (sink names
// are checked only when a whole Config is loaded).
func (e *ExporterConfig) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	e.decodeNode(d, n, "")
	return d.err()
}

// kindKeys are the keys that only some kinds accept; the others accept all.
var kindKeys = map[string][]string{
	"env":              {KindCommand, KindPython},
	"env_passthrough":  {KindCommand, KindPython},
	"kill_grace":       {KindCommand, KindPython},
	"dir":              {KindCommand, KindPython},
	"output":           {KindCommand},
	"max_output_bytes": {KindCommand, KindPython, KindScrape},
	"max_dir_bytes":    {KindCommand, KindPython},
	"options":          {KindBuiltin, KindScrape},
}

var paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (e *ExporterConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	*e = DefaultExporterConfig
	d.decodeFields(n, path, reflect.ValueOf(e).Elem())

	var kinds []string
	for _, k := range []string{KindBuiltin, KindCommand, KindPython, KindScrape} {
		if d.has(join(path, k)) {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		d.errorf(path, "one of builtin, command, python or scrape is required")
		return
	case 1:
	default:
		d.errorf(join(path, kinds[1]), "%s and %s exclude each other: set only one", kinds[0], kinds[1])
		return
	}
	kind := kinds[0]
	for _, key := range d.keys[path] {
		if allowed, ok := kindKeys[key]; ok && !slices.Contains(allowed, kind) {
			d.errorf(join(path, key), "not valid for a %s exporter", kind)
		}
	}
	switch kind {
	case KindBuiltin:
		if !nameRE.MatchString(e.Builtin) {
			d.errorf(join(path, "builtin"), "invalid builtin name %q", e.Builtin)
		}
	case KindCommand:
		if e.Output == "" && !d.has(join(path, "output")) {
			e.Output = OutputFile
		}
		if len(e.Command) == 0 {
			d.errorf(join(path, "command"), "must not be empty")
		} else if e.Command[0] == "" {
			d.errorf(join(path, "command[0]"), "program must not be empty")
		}
	case KindPython:
		if !strings.HasSuffix(e.Python, ".py") {
			d.errorf(join(path, "python"), "%q is not a .py file", e.Python)
		}
	case KindScrape:
		checkURL(d, join(path, "scrape"), e.Scrape)
	}

	positive := []struct {
		key string
		ok  bool
	}{
		{"timeout", e.Timeout > 0},
		{"kill_grace", e.KillGrace > 0},
		{"max_output_bytes", e.MaxOutputBytes > 0},
		{"max_dir_bytes", e.MaxDirBytes > 0},
		{"schedule", e.Schedule > 0},
	}
	for _, p := range positive {
		if d.has(join(path, p.key)) && !p.ok {
			d.errorf(join(path, p.key), "must be greater than zero")
		}
	}
	if d.has(join(path, "max_concurrency")) && e.MaxConcurrency <= 0 {
		d.errorf(join(path, "max_concurrency"), "must be greater than zero")
	}
	switch e.OnFailure {
	case OnFailureError, OnFailureReport:
	case "":
		e.OnFailure = OnFailureError
	default:
		d.errorf(join(path, "on_failure"), "invalid on_failure %q (want error or report)", e.OnFailure)
	}
	switch e.Output {
	case OutputFile, OutputStdout, OutputSeed:
	case "":
		if d.has(join(path, "output")) {
			d.errorf(join(path, "output"), "must not be empty (file, stdout or seed)")
		}
	default:
		d.errorf(join(path, "output"), "invalid output %q (want file, stdout or seed)", e.Output)
	}
	if d.has(join(path, "job")) && e.Job == "" {
		d.errorf(join(path, "job"), "must not be empty")
	}
	for _, k := range sortedKeys(e.Env) {
		checkChildEnv(d, join(join(path, "env"), k), k)
	}
	checkPassthrough(d, join(path, "env_passthrough"), e.EnvPassthrough)
	e.validateParams(d, join(path, "params"))
	e.validateSchedule(d, path, kind)
}

func (e *ExporterConfig) validateParams(d *decoder, path string) {
	envs := map[string]string{}
	for _, name := range sortedKeys(e.Params) {
		p := e.Params[name]
		pp := join(path, name)
		switch {
		case !paramNameRE.MatchString(name):
			d.errorf(pp, "invalid parameter name %q (want %s)", name, paramNameRE)
			continue
		case name == "debug":
			d.errorf(pp, `parameter name "debug" is reserved (the server's ?debug=1)`)
			continue
		}
		if p.PassAs != PassAsEnv {
			ap := join(pp, "arg")
			if !d.has(ap) {
				ap = pp
			}
			p.checkReserved(d, ap, name)
			continue
		}
		if p.Env == "" {
			p.Env = strings.ToUpper(name)
		}
		ep := join(pp, "env")
		if !d.has(ep) {
			ep = pp
		}
		switch {
		case !envNameRE.MatchString(p.Env):
			d.errorf(ep, "invalid environment variable name %q", p.Env)
		case deniedParamEnv(p.Env):
			d.errorf(ep, "pass_as env may not set %s: a request could change how the child runs", p.Env)
		case envs[p.Env] != "":
			d.errorf(ep, "parameters %q and %q both set %s", envs[p.Env], name, p.Env)
		case e.Env[p.Env] != "":
			d.errorf(ep, "%s is also set in env", p.Env)
		}
		envs[p.Env] = name
	}
}

func (e *ExporterConfig) validateSchedule(d *decoder, path, kind string) {
	sp := join(path, "schedule_params")
	if e.Schedule == 0 {
		if d.has(sp) {
			d.errorf(sp, "set without schedule")
		}
		return
	}
	if len(e.Sinks) == 0 {
		d.errorf(join(path, "schedule"), "needs sinks to deliver to")
	}
	if kind == KindBuiltin && len(e.Params) == 0 {
		// The builtin declares its own parameters; wiring checks them.
		return
	}
	for _, k := range sortedKeys(e.ScheduleParams) {
		p := e.Params[k]
		v := e.ScheduleParams[k]
		switch {
		case p == nil:
			d.errorf(join(sp, k), "unknown parameter %q (declare it under params)", k)
		case p.Regexp != nil && !p.Regexp.MatchString(v):
			d.errorf(join(sp, k), "value %q does not match pattern %q", v, p.Pattern)
		}
	}
	for _, k := range sortedKeys(e.Params) {
		if _, ok := e.ScheduleParams[k]; !ok && e.Params[k].Required {
			d.errorf(join(path, "schedule"), "required parameter %q missing from schedule_params", k)
		}
	}
}

// reservedChildEnv are the variables metricwrap itself sets for a child:
// neither env nor env_passthrough may replace them.
func reservedChildEnv(name string) bool {
	n := strings.ToUpper(name)
	return n == "EXPORTER_NAME" || strings.HasPrefix(n, "METRICS_") || strings.HasPrefix(n, "SCRAPE_")
}

// deniedParamEnv are the variables a request parameter may not set: those
// metricwrap sets, and those that change what a shell, the dynamic loader
// or an interpreter runs (script_exporter's BASH_ENV hole).
func deniedParamEnv(name string) bool {
	n := strings.ToUpper(name)
	switch n {
	case "PATH", "HOME", "IFS", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "CDPATH",
		"GLOBIGNORE", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS",
		"NODE_PATH", "GCONV_PATH", "TMPDIR":
		return true
	}
	for _, p := range []string{"PYTHON", "LD_", "DYLD_"} {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return reservedChildEnv(n)
}

func checkChildEnv(d *decoder, path, name string) {
	switch {
	case !envNameRE.MatchString(name):
		d.errorf(path, "invalid environment variable name %q", name)
	case reservedChildEnv(name):
		d.errorf(path, "%s is set by metricwrap and cannot be replaced", name)
	}
}

func checkPassthrough(d *decoder, path string, names []string) {
	for i, n := range names {
		checkChildEnv(d, index(path, i), n)
	}
}

// checkURL refuses anything but an absolute http(s) URL with a host.
func checkURL(d *decoder, path, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		d.errorf(path, "invalid URL %q", s)
	case u.Scheme != "http" && u.Scheme != "https":
		d.errorf(path, "URL %q must start with http:// or https://", s)
	case u.Host == "":
		d.errorf(path, "URL %q has no host", s)
	}
}
