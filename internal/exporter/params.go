package exporter

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/metricwrap/metricwrap/internal/config"
)

// How a parameter value reaches a child process.
const (
	PassAsArg = "arg"
	PassAsEnv = "env"
)

// MaxParams bounds how many query parameters one request may carry: no
// exporter declares more, and each open parameter becomes an argument.
const MaxParams = 64

// maxParamLen bounds a parameter value whatever its pattern allows: no
// legitimate target needs more, and it keeps hostile input out of argv.
const maxParamLen = 1024

// Param declares one query parameter an exporter accepts.
type Param struct {
	Name string
	// Pattern must match the whole value (it is anchored); nil accepts any
	// value without control characters.
	Pattern *regexp.Regexp
	// PatternText is the pattern as configured (unanchored), for display.
	PatternText string
	Required    bool
	Default     string
	// PassAs is PassAsArg (see Format) or PassAsEnv (variable Env).
	PassAs string
	Env    string
	// Format turns a value into arguments; nil gives one `--NAME=VALUE`.
	Format func(value string) []string
}

// anyParam is the key of a Params entry that accepts parameters not
// declared by name: its Pattern checks their values, and their names must
// match openNameRE. Discovered exporters use it to keep the original tool's
// `?--target=x` URLs working.
const anyParam = "*"

var openNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// OpenParams accepts any parameter whose name is a plain word and whose
// value matches the original tool's own filter (^[a-zA-Z0-9\-_\.\,\:]+$),
// passed as --NAME=VALUE.
func OpenParams() Params {
	return Params{anyParam: {Name: anyParam, Pattern: regexp.MustCompile(`^[a-zA-Z0-9\-_.,:]+$`), PassAs: PassAsArg}}
}

// Params is the set of parameters an exporter declares, by name.
type Params map[string]*Param

// Open reports whether ps accepts parameters it does not declare (a
// discovered exporter with open_params).
func (ps Params) Open() bool {
	_, ok := ps[anyParam]
	return ok
}

// ParamError is a request whose parameters are refused; it is a 400 and
// nothing runs.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg)
}

// reservedQuery are query keys the server itself reads; they are never
// exporter parameters.
var reservedQuery = map[string]bool{"debug": true}

// Check validates a request's query against the declaration and returns the
// values to run with, defaults applied. The original tool's form
// `?--target=x` is accepted as `target=x`. Unknown, repeated, missing or
// non-matching parameters are refused with a *ParamError naming the first
// one in sorted order, so the message does not depend on map order.
func (ps Params) Check(q url.Values) (map[string]string, error) {
	if len(q) > MaxParams {
		return nil, &ParamError{Msg: fmt.Sprintf("too many parameters (%d; at most %d)", len(q), MaxParams)}
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(ps))
	for _, raw := range keys {
		if reservedQuery[raw] {
			continue
		}
		name := strings.TrimPrefix(raw, "--")
		p, ok := ps[name]
		if !ok || name == anyParam {
			open, isOpen := ps[anyParam]
			switch {
			case !isOpen || !openNameRE.MatchString(name):
				return nil, &ParamError{Param: printable(raw), Msg: "unknown parameter"}
			case config.AbbreviatesReservedOption(name):
				return nil, &ParamError{Param: name, Msg: fmt.Sprintf("reserved: --%s is (or abbreviates) an option of metricwrap's runner contract (%s), never set from a query", name, strings.Join(config.ReservedOptions, ", "))}
			}
			p = &Param{Name: name, Pattern: open.Pattern, PassAs: open.PassAs}
		}
		vals := q[raw]
		if _, dup := out[name]; dup || len(vals) != 1 {
			return nil, &ParamError{Param: name, Msg: "given more than once"}
		}
		if err := p.check(vals[0]); err != nil {
			return nil, err
		}
		out[name] = vals[0]
	}
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := ps[n]
		if _, ok := out[n]; ok || n == anyParam {
			continue
		}
		switch {
		case p.Required:
			return nil, &ParamError{Param: n, Msg: "required"}
		case p.Default != "":
			out[n] = p.Default
		}
	}
	return out, nil
}

func (p *Param) check(v string) error {
	if len(v) > maxParamLen {
		return &ParamError{Param: p.Name, Msg: fmt.Sprintf("value longer than %d bytes", maxParamLen)}
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return &ParamError{Param: p.Name, Msg: "value contains a control character"}
		}
	}
	if p.Pattern != nil && !p.Pattern.MatchString(v) {
		return &ParamError{Param: p.Name, Msg: fmt.Sprintf("value does not match %s", p.Pattern)}
	}
	return nil
}

// Apply turns checked values into the arguments and environment of a child
// process, in sorted parameter order.
func (ps Params) Apply(values map[string]string) (args []string, env map[string]string) {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	env = map[string]string{}
	for _, n := range names {
		p := ps[n]
		switch {
		case p != nil && p.PassAs == PassAsEnv:
			env[p.envName()] = values[n]
		case p != nil && p.Format != nil:
			args = append(args, p.Format(values[n])...)
		default:
			args = append(args, "--"+n+"="+values[n])
		}
	}
	return args, env
}

func (p *Param) envName() string {
	if p.Env != "" {
		return p.Env
	}
	return strings.ToUpper(p.Name)
}

// printable quotes hostile input for an error message without echoing
// control characters back.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
