package exporter

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// How a parameter value reaches a child process.
const (
	PassAsArg = "arg"
	PassAsEnv = "env"
)

// maxParamLen bounds a parameter value whatever its pattern allows: no
// legitimate target needs more, and it keeps hostile input out of argv.
const maxParamLen = 1024

// Param declares one query parameter an exporter accepts.
type Param struct {
	Name string
	// Pattern must match the whole value (it is anchored); nil accepts any
	// value without control characters.
	Pattern  *regexp.Regexp
	Required bool
	Default  string
	// PassAs is PassAsArg (--NAME=VALUE) or PassAsEnv (variable Env).
	PassAs string
	Env    string
}

// Params is the set of parameters an exporter declares, by name.
type Params map[string]*Param

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
		if !ok {
			return nil, &ParamError{Param: printable(raw), Msg: "unknown parameter"}
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
		if _, ok := out[n]; ok {
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
		if p != nil && p.PassAs == PassAsEnv {
			env[p.envName()] = values[n]
			continue
		}
		args = append(args, "--"+n+"="+values[n])
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
