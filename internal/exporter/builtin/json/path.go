package jsonexporter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
)

// Path is a JSONPath query as RFC 9535 defines it, parsed and evaluated by
// github.com/theory/jsonpath: keys (.key, ['key']), indexes ([0], [-1]),
// wildcards (.*, [*]), slices ([1:3]), unions ([0,2]), recursive descent
// (..key) and filters ([?@.color == 'red'], with length(), count(),
// match(), search() and value()).
//
// Paths written for the subset metricwrap used to implement keep working:
// a path may start with `@` (the same as `$`) or directly with a key
// (`name` is `$.name`), and a dotted key may hold characters RFC 9535 only
// allows in brackets (`$.x-y`, `$.0`): those are rewritten to ['...'].
type Path struct {
	text  string
	query *spec.PathQuery
}

// ParsePath parses a path.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return Path{}, errors.New("empty path")
	}
	text, err := normalize(s)
	if err != nil {
		return Path{}, err
	}
	p, err := jsonpath.Parse(text)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "jsonpath: ")
		if text != s {
			return Path{}, fmt.Errorf("invalid JSONPath %q (read as %s): %s", s, text, msg)
		}
		return Path{}, fmt.Errorf("invalid JSONPath %q: %s", s, msg)
	}
	return Path{text: canonical(p.Query()), query: p.Query()}, nil
}

// normalize rewrites the forms of the former subset into RFC 9535: a
// leading `@` or key, and dotted keys RFC 9535 only takes in brackets.
// Text inside brackets (filters, quoted keys) is left alone.
func normalize(s string) (string, error) {
	switch {
	case s[0] == '@':
		s = "$" + s[1:]
	case s[0] == '.' || s[0] == '[':
		s = "$" + s
	case s[0] != '$':
		s = "$." + s
	}
	var b strings.Builder
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(s) {
				b.WriteByte(c)
				i++
				c = s[i]
			} else if c == quote {
				quote = 0
			}
		case depth > 0 && (c == '\'' || c == '"'):
			quote = c
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth == 0 && c == '.' && i+1 < len(s) && s[i+1] != '.' && s[i+1] != '*' && (i == 0 || s[i-1] != '.'):
			n := dottedKeyLen(s[i+1:])
			key := s[i+1 : i+1+n]
			if n > 0 && !shorthand(key) {
				b.WriteString("['" + strings.ReplaceAll(strings.ReplaceAll(key, `\`, `\\`), "'", `\'`) + "']")
				i += n
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// dottedKeyLen is the length of the key after a '.', up to the next '.',
// '[' or a character no key may hold unquoted.
func dottedKeyLen(s string) int {
	for i, r := range s {
		switch {
		case r == '.' || r == '[' || r == ']' || r == '\'' || r == '"' || r == '*' || r == '\\' || r == '(' || r == ')',
			r == utf8.RuneError, unicode.IsSpace(r), !unicode.IsPrint(r):
			return i
		}
	}
	return len(s)
}

// shorthand reports whether RFC 9535 takes key after a '.' as it is.
func shorthand(key string) bool {
	for i, r := range key {
		switch {
		case r == '_' || r >= 0x80 || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// canonical writes q with .key wherever RFC 9535 allows it, and the
// library's bracket form elsewhere: $.jobs[*].name, $['a.b'].
func canonical(q *spec.PathQuery) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, seg := range q.Segments() {
		if sels := seg.Selectors(); !seg.IsDescendant() && len(sels) == 1 {
			if n, ok := sels[0].(spec.Name); ok && string(n) != "" && shorthand(string(n)) {
				b.WriteString("." + string(n))
				continue
			}
		}
		b.WriteString(seg.String())
	}
	return b.String()
}

// Singular reports whether the path selects at most one value: only keys
// and indexes, no wildcard, slice, filter or descent.
func (p Path) Singular() bool {
	return p.query == nil || p.query.Singular() != nil
}

// String writes the path in the library's canonical form, which parses
// back to the same path.
func (p Path) String() string {
	if p.query == nil {
		return "$"
	}
	return p.text
}

// Eval returns the values the path selects in doc, a document decoded by
// encoding/json (with or without UseNumber), and how many branches ended
// without a value: a key or index that is not there, a wildcard over
// something that is neither an object nor an array, or null. Null is never
// returned: it counts as missing, the way a Jenkins job that never ran has
// `"lastBuild": null`. A filter, slice or descent that selects nothing is
// not missing anything: selecting nothing is what it asked for. Members of
// an object come in key order, so runs are reproducible.
//
// Filters see doc as the root `$`; in value and labels, doc is the element.
func (p Path) Eval(doc any) (found []any, missing int) {
	if doc == nil {
		return nil, 1
	}
	cur := []any{doc}
	if p.query == nil {
		// The zero Path is `$`: the document (or the element) itself.
		return cur, 0
	}
	for _, seg := range p.query.Segments() {
		counts := countsMissing(seg)
		var next []any
		for _, v := range cur {
			var out []any
			if _, isObject := v.(map[string]any); isObject {
				located := seg.SelectLocated(v, doc, nil)
				slices.SortStableFunc(located, func(a, b *spec.LocatedNode) int { return a.Path.Compare(b.Path) })
				for _, n := range located {
					out = append(out, n.Node)
				}
			} else {
				out = seg.Select(v, doc)
			}
			if len(out) == 0 && counts(v) {
				missing++
			}
			for _, x := range out {
				if x == nil {
					missing++
					continue
				}
				next = append(next, x)
			}
		}
		cur = next
	}
	return cur, missing
}

// countsMissing says, for a segment, whether selecting nothing from a value
// means something was missing: for keys and indexes always, for a wildcard
// when the value is no object or array, for anything else never.
func countsMissing(seg *spec.Segment) func(any) bool {
	never := func(any) bool { return false }
	if seg.IsDescendant() {
		return never
	}
	sels := seg.Selectors()
	wildcard := false
	for _, s := range sels {
		switch s.(type) {
		case spec.Name, spec.Index:
		case spec.WildcardSelector, *spec.WildcardSelector:
			wildcard = true
		default:
			return never
		}
	}
	if !wildcard {
		return func(any) bool { return true }
	}
	return func(v any) bool {
		switch v.(type) {
		case []any, map[string]any:
			return false
		}
		return true
	}
}
