package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into the config types itself, instead of
// letting yaml.v3 do it, so that every problem is collected (not only the
// first) with its line and dotted key, and unknown keys are refused with the
// same precision.
type decoder struct {
	file string
	errs Errors
	// lines maps a dotted key path to the line of its key (or of the list
	// item), for problems found after decoding.
	lines map[string]int
	// keys lists, per mapping path, the keys present in document order.
	keys map[string][]string
	// bad marks paths that already have a problem, see errorf.
	bad map[string]bool
	// aliases counts alias dereferences, see maxAliases.
	aliases int
	// envRefs lists, per value path, the variables ${VAR} took from the
	// environment there.
	envRefs map[string][]string
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}, keys: map[string][]string{}, bad: map[string]bool{}, envRefs: map[string][]string{}}
}

// nodeDecoder is implemented by the config's own types: they set their
// defaults, decode their fields and validate themselves.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// addf records a problem at a line.
func (d *decoder) addf(line int, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// unknownKey reports a key the mapping at path does not have; the mapping's
// own checks (such as "one of builtin, command... is required") are then
// left out, as the typo is their likely cause.
func (d *decoder) unknownKey(k *yaml.Node, path string) {
	d.addf(k.Line, path, "unknown key %q", k.Value)
	d.bad[path] = true
}

// errorf records a problem with an already decoded key, finding its line.
// A key that already failed to decode or expand gets no further problems:
// they would only be consequences of the first.
func (d *decoder) errorf(path, format string, args ...any) {
	if d.bad[path] {
		return
	}
	d.addf(d.line(path), path, format, args...)
}

// line is the line of path, or of its nearest ancestor present in the file.
func (d *decoder) line(path string) int {
	for p := path; p != ""; {
		if l, ok := d.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// has reports whether the key at path was written in the file.
func (d *decoder) has(path string) bool {
	_, ok := d.lines[path]
	return ok
}

// err returns the collected problems in file order, or nil.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	d.errs.sort()
	return d.errs
}

// join appends a key to a dotted path; a key that is not a plain word
// (an exporter called "my.exp") is written ["my.exp"], so paths stay
// unambiguous.
func join(path, key string) string {
	if !plainKeyRE.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// maxAliases bounds how many aliases one file may dereference, so that a
// "billion laughs" document cannot make the walk explode.
const maxAliases = 10000

// deref follows aliases, counting them against maxAliases; past the budget
// it answers nil (which decodes as null) and reports the problem once.
func (d *decoder) deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		d.aliases++
		if d.aliases > maxAliases {
			if d.aliases == maxAliases+1 {
				d.addf(n.Line, "", "too many alias references (more than %d)", maxAliases)
			}
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names a node's kind for a message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

type pair struct {
	key, value *yaml.Node
}

// pairs lists the key/value pairs of a mapping, with `<<: *anchor` merges
// resolved: merged keys come first so that explicit ones override them.
// Duplicate explicit keys are reported.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var merged, own []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && depth < 10 {
			v = d.deref(v)
			if v == nil {
				continue
			}
			var srcs []*yaml.Node
			switch v.Kind {
			case yaml.MappingNode:
				srcs = []*yaml.Node{v}
			case yaml.SequenceNode:
				for _, s := range v.Content {
					srcs = append(srcs, d.deref(s))
				}
			}
			for _, s := range srcs {
				switch {
				case s == nil: // past the alias budget, already reported
				case s.Kind == yaml.MappingNode:
					merged = append(merged, d.pairs(s, path, depth+1)...)
				default:
					d.addf(k.Line, path, "<< must merge a mapping")
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.addf(k.Line, path, "keys must be strings, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.addf(k.Line, path, "key %q already defined at line %d", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, pair{k, v})
	}
	if len(merged) == 0 {
		return own
	}
	out := make([]pair, 0, len(merged)+len(own))
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key.Line
			out = append(out, p)
		}
	}
	return append(out, own...)
}

var (
	durationType = reflect.TypeFor[model.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
	v3Unmarsh    = reflect.TypeFor[yaml.Unmarshaler]()
	v2Unmarsh    = reflect.TypeFor[interface {
		UnmarshalYAML(func(any) error) error
	}]()
	nodeDecType = reflect.TypeFor[nodeDecoder]()
)

// decode decodes n into the addressable v. A null node leaves v as it is,
// so defaults survive `key:` with no value.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	n = d.deref(n)
	if isNull(n) {
		if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && n != nil {
			// `counter:` with no value sets an empty counter, which
			// its own checks then judge.
			d.decode(&yaml.Node{Kind: yaml.MappingNode, Line: n.Line}, path, v)
		}
		return
	}
	if reflect.PointerTo(t).Implements(nodeDecType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch t {
	case durationType:
		d.decodeDuration(n, path, v)
		return
	case nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	}
	if pt := reflect.PointerTo(t); pt.Implements(v3Unmarsh) || pt.Implements(v2Unmarsh) {
		// A foreign type with its own decoding (prometheus/common's
		// TLSConfig, Secret): check its keys, then let it decode itself.
		if t.Kind() == reflect.Struct && !d.checkKeys(n, path, t) {
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.addf(n.Line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeFields(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		var b bool
		if d.scalar(n, path, "true or false") && d.decodeScalar(n, path, &b, "true or false") {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if d.scalar(n, path, "an integer") && d.decodeScalar(n, path, &i, "an integer") {
			v.SetInt(i)
		}
	case reflect.Float64:
		var f float64
		if d.scalar(n, path, "a number") && d.decodeScalar(n, path, &f, "a number") {
			v.SetFloat(f)
		}
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.addf(n.Line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
}

// scalar checks that n is a scalar, reporting what was wanted otherwise.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.addf(n.Line, path, "expected %s, got %s", want, describe(n))
		return false
	}
	return true
}

func (d *decoder) decodeScalar(n *yaml.Node, path string, ptr any, want string) bool {
	if err := n.Decode(ptr); err != nil {
		d.addf(n.Line, path, "expected %s, got %q", want, n.Value)
		return false
	}
	return true
}

func (d *decoder) decodeDuration(n *yaml.Node, path string, v reflect.Value) {
	if !d.scalar(n, path, "a duration") {
		return
	}
	dur, err := model.ParseDuration(n.Value)
	if err != nil {
		d.addf(n.Line, path, "invalid duration %q", n.Value)
		return
	}
	v.Set(reflect.ValueOf(dur))
}

// mapping checks that n is a mapping.
func (d *decoder) mapping(n *yaml.Node, path string) bool {
	if n.Kind != yaml.MappingNode {
		d.addf(n.Line, path, "expected a mapping, got %s", describe(n))
		return false
	}
	return true
}

// fieldsByKey indexes a struct's fields by their yaml key.
func fieldsByKey(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = i
	}
	return out
}

// checkKeys refuses keys the struct type does not declare.
func (d *decoder) checkKeys(n *yaml.Node, path string, t reflect.Type) bool {
	if !d.mapping(n, path) {
		return false
	}
	fields := fieldsByKey(t)
	ok := true
	for _, p := range d.pairs(n, path, 0) {
		if _, known := fields[p.key.Value]; !known {
			d.unknownKey(p.key, path)
			ok = false
			continue
		}
		d.lines[join(path, p.key.Value)] = p.key.Line
		d.keys[path] = append(d.keys[path], p.key.Value)
	}
	return ok
}

// decodeFields decodes a mapping into a struct by its yaml tags.
func (d *decoder) decodeFields(n *yaml.Node, path string, v reflect.Value) {
	if !d.mapping(n, path) {
		return
	}
	fields := fieldsByKey(v.Type())
	for _, p := range d.pairs(n, path, 0) {
		key := p.key.Value
		i, ok := fields[key]
		if !ok {
			d.unknownKey(p.key, path)
			continue
		}
		child := join(path, key)
		d.lines[child] = p.key.Line
		d.keys[path] = append(d.keys[path], key)
		before := len(d.errs)
		d.decode(p.value, child, v.Field(i))
		if len(d.errs) > before {
			d.bad[child] = true
		}
	}
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if !d.mapping(n, path) {
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range d.pairs(n, path, 0) {
		key := p.key.Value
		child := join(path, key)
		d.lines[child] = p.key.Line
		d.keys[path] = append(d.keys[path], key)
		elem := reflect.New(t.Elem()).Elem()
		if t.Elem().Kind() == reflect.Pointer {
			// A `name:` with no value still defines the entry.
			elem.Set(reflect.New(t.Elem().Elem()))
			if isNull(d.deref(p.value)) {
				d.decode(&yaml.Node{Kind: yaml.MappingNode, Line: p.key.Line}, child, elem)
			}
		}
		before := len(d.errs)
		d.decode(p.value, child, elem)
		if len(d.errs) > before {
			d.bad[child] = true
		}
		v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.addf(n.Line, path, "expected a list, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		child := index(path, i)
		d.lines[child] = item.Line
		if isNull(d.deref(item)) && reflect.PointerTo(v.Type().Elem()).Implements(nodeDecType) {
			// A bare `-` is an empty entry, still to be validated.
			item = &yaml.Node{Kind: yaml.MappingNode, Line: item.Line}
		}
		d.decode(item, child, out.Index(i))
	}
	v.Set(out)
}
