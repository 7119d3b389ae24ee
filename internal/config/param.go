package config

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// How a parameter value reaches a child process.
const (
	PassAsArg = "arg"
	PassAsEnv = "env"
)

// DefaultArgFormat is how a pass_as arg parameter is written when `arg:` is
// not set: one argument `--NAME=VALUE`, which argparse, click, kingpin and
// getopt_long all read.
const DefaultArgFormat = "--{name}={value}"

// ReservedOptions are the options of the runner contract, without their
// leading "--": what metricwrap itself passes to a child (--output-filename
// in seed mode; --exporters-dir, --exporter and --debug to the Python
// runner) and the compatibility form's own flags. A query parameter never
// becomes one of them, or a GET could redirect an exporter's output file
// (SECURITY: issue 17, item 1); the debug view has its own gate.
var ReservedOptions = []string{"debug", "exporter", "exporters-dir", "help", "no-print", "output-filename", "pushgateway-address"}

// IsReservedOption reports whether --name is one of ReservedOptions.
func IsReservedOption(name string) bool { return slices.Contains(ReservedOptions, name) }

// AbbreviatesReservedOption reports whether --name could be taken for one
// of ReservedOptions by a parser that accepts unique prefixes (Python's
// argparse and getopt_long do: --output means --output-filename when
// nothing else starts so).
func AbbreviatesReservedOption(name string) bool {
	if name == "" {
		return false
	}
	for _, o := range ReservedOptions {
		if strings.HasPrefix(o, name) {
			return true
		}
	}
	return false
}

// ParamConfig declares one query parameter of an exporter.
type ParamConfig struct {
	// Pattern must match the whole value: it is anchored as ^(?:Pattern)$.
	// Empty accepts any value.
	Pattern string `yaml:"pattern,omitempty"`
	// Regexp is Pattern compiled and anchored; nil when Pattern is empty.
	Regexp   *regexp.Regexp `yaml:"-"`
	Required bool           `yaml:"required,omitempty"`
	// Default is used when the request leaves the parameter out; it must
	// match Pattern.
	Default string `yaml:"default,omitempty"`
	// PassAs is PassAsArg or PassAsEnv.
	PassAs string `yaml:"pass_as,omitempty"`
	// Env is the variable of a pass_as env parameter; loading sets it to the
	// upper-cased parameter name when not given.
	Env string `yaml:"env,omitempty"`
	// Arg is the argument format of a pass_as arg parameter, with {name} and
	// {value} placeholders; a space splits it into separate arguments, so
	// `--{name} {value}` gives two. Loading sets it to DefaultArgFormat when
	// not given.
	Arg string `yaml:"arg,omitempty"`
}

// DefaultParamConfig is applied to each parameter before decoding.
var DefaultParamConfig = ParamConfig{PassAs: PassAsArg}

// Args formats a pass_as arg parameter's value as the child's arguments.
// The value is substituted into each argument whole, never split.
func (p *ParamConfig) Args(name, value string) []string {
	format := p.Arg
	if format == "" {
		format = DefaultArgFormat
	}
	if strings.IndexFunc(format, unicode.IsSpace) < 0 {
		// One argument, the usual case: no Fields to split it.
		if format == "" {
			return []string{}
		}
		return []string{expandPlaceholders(format, name, value)}
	}
	fields := strings.Fields(format)
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = expandPlaceholders(f, name, value)
	}
	return out
}

// expandPlaceholders replaces {name} and {value} in f in one left-to-right
// pass (as a strings.Replacer would, never rescanning what it put in),
// without building a Replacer on every run.
func expandPlaceholders(f, name, value string) string {
	i := strings.IndexByte(f, '{')
	if i < 0 {
		return f
	}
	var b strings.Builder
	b.Grow(len(f) + len(name) + len(value))
	for i >= 0 {
		b.WriteString(f[:i])
		rest := f[i:]
		switch {
		case strings.HasPrefix(rest, "{name}"):
			b.WriteString(name)
			f = rest[len("{name}"):]
		case strings.HasPrefix(rest, "{value}"):
			b.WriteString(value)
			f = rest[len("{value}"):]
		default:
			b.WriteByte('{')
			f = rest[1:]
		}
		i = strings.IndexByte(f, '{')
	}
	b.WriteString(f)
	return b.String()
}

// Match reports whether v is allowed by the pattern.
func (p *ParamConfig) Match(v string) bool {
	return p.Regexp == nil || p.Regexp.MatchString(v)
}

// UnmarshalYAML decodes and validates one parameter on its own.
func (p *ParamConfig) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	p.decodeNode(d, n, "")
	return d.err()
}

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

func (p *ParamConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	*p = DefaultParamConfig
	d.decodeFields(n, path, reflect.ValueOf(p).Elem())
	if p.Pattern != "" {
		if _, err := regexp.Compile(p.Pattern); err != nil {
			d.errorf(join(path, "pattern"), "invalid pattern %q: %v", p.Pattern, err)
		} else {
			p.Regexp = regexp.MustCompile("^(?:" + p.Pattern + ")$")
		}
	}
	switch p.PassAs {
	case PassAsArg:
		if d.has(join(path, "env")) {
			d.errorf(join(path, "env"), "only valid with pass_as: env")
		}
		if p.Arg == "" {
			p.Arg = DefaultArgFormat
		}
		p.checkArg(d, join(path, "arg"))
	case PassAsEnv:
		if d.has(join(path, "arg")) {
			d.errorf(join(path, "arg"), "only valid with pass_as: arg")
		}
	default:
		d.errorf(join(path, "pass_as"), "invalid pass_as %q (want arg or env)", p.PassAs)
	}
	if d.has(join(path, "default")) {
		switch {
		case p.Required:
			d.errorf(join(path, "default"), "a required parameter cannot have a default")
		case p.Regexp != nil && !p.Regexp.MatchString(p.Default):
			d.errorf(join(path, "default"), "default %q does not match pattern %q", p.Default, p.Pattern)
		}
	}
}

// checkReserved refuses a parameter whose argument would be one of the
// runner contract's own options.
func (p *ParamConfig) checkReserved(d *decoder, path, name string) {
	for _, a := range p.Args(name, "x") {
		opt, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if strings.HasPrefix(a, "--") && IsReservedOption(opt) {
			d.errorf(path, "passes --%s, an option metricwrap reserves for its runner contract (reserved: %s); pass the value under another option", opt, strings.Join(ReservedOptions, ", "))
			return
		}
	}
}

func (p *ParamConfig) checkArg(d *decoder, path string) {
	if !strings.Contains(p.Arg, "{value}") {
		d.errorf(path, "format %q has no {value}", p.Arg)
		return
	}
	for _, ph := range placeholderRE.FindAllString(p.Arg, -1) {
		if ph != "{name}" && ph != "{value}" {
			d.errorf(path, "unknown placeholder %s in %q (want {name} or {value})", ph, p.Arg)
		}
	}
}
