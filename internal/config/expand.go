package config

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/redact"
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandTree replaces ${VAR} in every scalar value (never in keys) of the
// tree, node by node so line numbers stay those of the file. A plain scalar
// whose text changed has its tag re-resolved, so `max_concurrency: ${N}`
// decodes as an integer.
func (d *decoder) expandTree(n *yaml.Node, path string, lookup func(string) (string, bool), depth int) {
	if n == nil || depth > 100 {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			d.expandTree(c, path, lookup, depth+1)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expandTree(n.Content[i+1], join(path, n.Content[i].Value), lookup, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.expandTree(c, index(path, i), lookup, depth+1)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		out, err := expand(n.Value, func(name string) (string, bool) {
			v, ok := lookup(name)
			if ok {
				d.envRefs[path] = append(d.envRefs[path], name)
			}
			return v, ok
		})
		if err != nil {
			d.addf(n.Line, path, "%v", err)
			d.bad[path] = true
			return
		}
		if out != n.Value {
			n.Value = out
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
				n.Tag = ""
			}
		}
	}
}

// expand replaces ${NAME} and ${NAME:-default} with the environment's value
// and $$ with $; each value taken from the environment is registered with
// package redact. A $ followed by anything else is kept, so regular
// expressions such as `[a-z]+$` need no escaping. An unset variable without
// a default is an error: a missing token should fail at load time, not be
// sent empty.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s[i:])
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !envNameRE.MatchString(name) {
			return "", fmt.Errorf("invalid environment variable name %q in ${%s}", name, ref)
		}
		val, ok := lookup(name)
		switch {
		case ok:
			// Whatever came from the environment may be a token: no
			// message, log line or page shows it from now on.
			redact.Register(val)
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		default:
			return "", fmt.Errorf("environment variable %q is not set (write ${%s:-} to allow it empty)", name, name)
		}
		s = s[i+end+1:]
	}
}
