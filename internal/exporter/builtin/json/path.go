package jsonexporter

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Path is a parsed JSONPath-style expression: the subset of JSONPath a
// metric needs to reach into an API's answer, and no more (no filters, no
// recursive descent, no slices), so that what a path selects is obvious.
//
//	$               the document (or, in value and labels, the element)
//	.key  ['key']   a member of an object; ['...'] for any key at all
//	[N]             an array element, from 0; negative counts from the end
//	.*  [*]         every element of an array, every member value of an
//	                object (in key order)
//
// A path may start with `$` or `@` (the same thing) or directly with a key:
// `name` is `$.name`.
type Path struct {
	steps []step
}

type stepKind uint8

const (
	stepKey stepKind = iota
	stepIndex
	stepWild
)

type step struct {
	kind  stepKind
	key   string
	index int
}

// maxIndexDigits keeps an index well inside int.
const maxIndexDigits = 9

// ParsePath parses a path; the error names the offset of the problem.
func ParsePath(s string) (Path, error) {
	var p Path
	if s == "" {
		return p, errors.New("empty path")
	}
	i, shift := 0, 0
	switch {
	case s[0] == '$' || s[0] == '@':
		i = 1
	case s[0] != '.' && s[0] != '[':
		// A bare first key, as in `name` or `lastBuild.number`.
		s, shift = "."+s, -1
	}
	fail := func(at int, format string, args ...any) (Path, error) {
		return Path{}, fmt.Errorf("offset %d: %s", at+shift, fmt.Sprintf(format, args...))
	}
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			switch {
			case i == len(s):
				return fail(i, "a key must follow '.'")
			case s[i] == '.':
				return fail(i-1, "recursive descent (..) is not supported")
			case s[i] == '*':
				p.steps = append(p.steps, step{kind: stepWild})
				i++
				continue
			}
			n := bareKeyLen(s[i:])
			if n == 0 {
				return fail(i, "unexpected %q after '.'", rune0(s[i:]))
			}
			p.steps = append(p.steps, step{kind: stepKey, key: s[i : i+n]})
			i += n
		case '[':
			st, n, err := parseBracket(s[i:])
			if err != nil {
				return fail(i, "%s", err)
			}
			p.steps = append(p.steps, st)
			i += n
		default:
			return fail(i, "unexpected %q, want '.' or '['", rune0(s[i:]))
		}
	}
	return p, nil
}

func rune0(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// bareKeyLen is the length of the key at the start of s written without
// brackets: up to the next '.', '[' or a character that needs quoting.
func bareKeyLen(s string) int {
	for i, r := range s {
		if !bareKeyRune(r) {
			return i
		}
	}
	return len(s)
}

func bareKeyRune(r rune) bool {
	switch r {
	case '.', '[', ']', '\'', '"', '*', '\\', utf8.RuneError:
		return false
	}
	return !unicode.IsSpace(r) && unicode.IsPrint(r)
}

// parseBracket parses one [...] step at the start of s and returns its
// length.
func parseBracket(s string) (step, int, error) {
	if len(s) < 2 {
		return step{}, 0, errors.New("unterminated '['")
	}
	switch c := s[1]; {
	case c == '*':
		if len(s) < 3 || s[2] != ']' {
			return step{}, 0, errors.New("want ']' after '[*'")
		}
		return step{kind: stepWild}, 3, nil
	case c == '\'' || c == '"':
		var key strings.Builder
		for i := 2; i < len(s); i++ {
			switch s[i] {
			case c:
				if i+1 >= len(s) || s[i+1] != ']' {
					return step{}, 0, errors.New("want ']' after the quoted key")
				}
				return step{kind: stepKey, key: key.String()}, i + 2, nil
			case '\\':
				i++
				if i == len(s) || (s[i] != '\\' && s[i] != '\'' && s[i] != '"') {
					return step{}, 0, errors.New(`only \\, \' and \" may be escaped in a quoted key`)
				}
			}
			key.WriteByte(s[i])
		}
		return step{}, 0, errors.New("unterminated quoted key")
	case c == '-' || (c >= '0' && c <= '9'):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return step{}, 0, errors.New("unterminated '['")
		}
		digits := strings.TrimPrefix(s[1:end], "-")
		if digits == "" || len(digits) > maxIndexDigits || strings.Trim(digits, "0123456789") != "" {
			return step{}, 0, fmt.Errorf("%q is not an array index", s[1:end])
		}
		n, _ := strconv.Atoi(s[1:end])
		return step{kind: stepIndex, index: n}, end + 1, nil
	default:
		return step{}, 0, errors.New("want *, a quoted key or an index after '['")
	}
}

// Singular reports whether the path selects at most one value: it has no
// wildcard.
func (p Path) Singular() bool {
	return !slices.ContainsFunc(p.steps, func(s step) bool { return s.kind == stepWild })
}

// String writes the path in its canonical form, which parses back to the
// same path: bare keys where they can be, ['...'] elsewhere.
func (p Path) String() string {
	var b strings.Builder
	b.WriteByte('$')
	for _, st := range p.steps {
		switch st.kind {
		case stepWild:
			b.WriteString("[*]")
		case stepIndex:
			fmt.Fprintf(&b, "[%d]", st.index)
		case stepKey:
			if st.key != "" && bareKeyLen(st.key) == len(st.key) {
				b.WriteByte('.')
				b.WriteString(st.key)
				continue
			}
			b.WriteString("['")
			for i := 0; i < len(st.key); i++ {
				if c := st.key[i]; c == '\'' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(st.key[i])
			}
			b.WriteString("']")
		}
	}
	return b.String()
}

// Eval returns the values the path selects in doc, a document decoded by
// encoding/json (with or without UseNumber), and how many branches ended
// without a value: a missing key, an index out of range, a step into
// something that is not an object or array, or null. Null is never
// returned: it counts as missing, the way a Jenkins job that never ran has
// `"lastBuild": null`.
func (p Path) Eval(doc any) (found []any, missing int) {
	if doc == nil {
		return nil, 1
	}
	cur := []any{doc}
	for _, st := range p.steps {
		var next []any
		for _, v := range cur {
			switch st.kind {
			case stepKey:
				obj, _ := v.(map[string]any)
				if x := obj[st.key]; x != nil {
					next = append(next, x)
					continue
				}
				missing++
			case stepIndex:
				arr, _ := v.([]any)
				i := st.index
				if i < 0 {
					i += len(arr)
				}
				if i >= 0 && i < len(arr) && arr[i] != nil {
					next = append(next, arr[i])
					continue
				}
				missing++
			case stepWild:
				switch t := v.(type) {
				case []any:
					for _, x := range t {
						if x == nil {
							missing++
							continue
						}
						next = append(next, x)
					}
				case map[string]any:
					for _, k := range slices.Sorted(maps.Keys(t)) {
						if t[k] == nil {
							missing++
							continue
						}
						next = append(next, t[k])
					}
				default:
					missing++
				}
			}
		}
		cur = next
	}
	return cur, missing
}
