package config

import (
	"fmt"
	"path/filepath"
	"regexp/syntax"
	"strings"
)

// Warnings lists what loads but is likely a mistake, each located like an
// Error; check-config prints them and still exits 0:
//   - a pass_as arg parameter whose value stands as an argument of its own
//     (`arg: '{value}'`, `'--{name} {value}'`) while its pattern admits a
//     leading "-", so a request can hand the program an option (`--help`,
//     `-rf`);
//   - a ${VAR} in a `command:` shell snippet (`sh -c '...'`): metricwrap
//     expanded it at load from its own environment, not the shell from the
//     child's.
func (c *Config) Warnings() []*Error {
	var out []*Error
	for _, name := range sortedKeys(c.Exporters) {
		e := c.Exporters[name]
		if shellSnippet(e.Command) {
			for i := range e.Command {
				key := index(join(join("exporters", name), "command"), i)
				for _, v := range c.envRefs[key] {
					out = append(out, c.Problem(key, fmt.Errorf("${%s} in a shell snippet was expanded by metricwrap when the config loaded, from its own environment; write $${%s} to leave it to the shell (and $$$$ for the shell's $$)", v, v)))
				}
			}
		}
		for _, pn := range sortedKeys(e.Params) {
			p := e.Params[pn]
			if p.PassAs != PassAsArg || !valueStandsAlone(p.Arg) {
				continue
			}
			key := join(join(join("exporters", name), "params"), pn)
			switch {
			case p.Pattern == "":
				out = append(out, c.Problem(key, fmt.Errorf("no pattern, and arg %q passes the value as an argument of its own: a request can pass an option such as --help or -rf; add a pattern that cannot start with -", p.Arg)))
			case admitsLeadingDash(p.Pattern):
				out = append(out, c.Problem(key, fmt.Errorf("pattern %q admits a value starting with -, and arg %q passes it as an argument of its own: a request can pass an option such as --help or -rf; make the pattern start with something else (e.g. [A-Za-z0-9])", p.Pattern, p.Arg)))
			}
		}
	}
	return out
}

// shellSnippet reports whether command runs a shell on a script given
// inline (sh -c, bash -c, ...).
func shellSnippet(command []string) bool {
	if len(command) < 2 {
		return false
	}
	switch filepath.Base(command[0]) {
	case "sh", "bash", "dash", "ash", "zsh", "ksh":
	default:
		return false
	}
	for _, a := range command[1:] {
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "c") {
			return true
		}
	}
	return false
}

// valueStandsAlone reports whether an arg format puts the value at the
// start of an argument, where a program would read a leading - as an option.
func valueStandsAlone(format string) bool {
	if format == "" {
		format = DefaultArgFormat
	}
	for _, f := range strings.Fields(format) {
		if strings.HasPrefix(f, "{value}") {
			return true
		}
	}
	return false
}

// admitsLeadingDash reports whether some string starting with "-" matches
// pattern (anchored, as parameters are): it steps the compiled program over
// "-" and asks whether a match is still reachable. Empty-width assertions
// are taken as satisfiable, so it may warn about a pattern that could not
// really match, never miss one that can.
func admitsLeadingDash(pattern string) bool {
	re, err := syntax.Parse("^(?:"+pattern+")$", syntax.Perl)
	if err != nil {
		return false
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return false
	}
	var after []uint32
	seen := map[uint32]bool{}
	var step func(pc uint32)
	step = func(pc uint32) { // epsilon closure, then consume '-'
		if seen[pc] {
			return
		}
		seen[pc] = true
		i := &prog.Inst[pc]
		switch i.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			step(i.Out)
			step(i.Arg)
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			step(i.Out)
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			if i.MatchRune('-') {
				after = append(after, i.Out)
			}
		}
	}
	step(uint32(prog.Start))
	reached := map[uint32]bool{}
	var canMatch func(pc uint32) bool
	canMatch = func(pc uint32) bool {
		if reached[pc] {
			return false
		}
		reached[pc] = true
		i := &prog.Inst[pc]
		switch i.Op {
		case syntax.InstMatch:
			return true
		case syntax.InstFail:
			return false
		case syntax.InstAlt, syntax.InstAltMatch:
			return canMatch(i.Out) || canMatch(i.Arg)
		default:
			return canMatch(i.Out)
		}
	}
	for _, pc := range after {
		if canMatch(pc) {
			return true
		}
	}
	return false
}
