package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Job metric templates and `when` conditions, read as Argo Workflows reads
// them. A template holds `{{status}}`, `{{duration}}`, `{{exitCode}}`,
// `{{job.name}}` and `{{env.NAME}}` (spaces inside the braces allowed), and
// `{{=EXPR}}`, an expr-lang expression over the variables status, duration,
// exitCode, job.name and env.NAME.
//
// Argo substitutes the variables of a `when` as text and evaluates the result
// with govaluate, reading every bare word as a string. The same language is
// evaluated here by expr-lang/expr, the library Argo uses for `{{=...}}`,
// after a translation of the few places where govaluate's syntax differs:
// bare words become string literals, `=~` and `!~` become `matches` and
// `not matches`, and `in (a, b)` becomes `in ["a", "b"]`. Rather than pasted
// into the text, each variable is handed to expr as a value (a number when
// its text is one, true or false, else a string), so a value holding quotes
// or spaces cannot change the condition's meaning. The same functions serve
// validation here and evaluation in the exec wrapper, so both read alike.

// Lookup answers a template variable's value by name ("status",
// "env.HOME", ...); false means it has none.
type Lookup func(name string) (string, bool)

// templateVar checks a variable name.
func templateVar(name string) error {
	switch name {
	case "status", "duration", "exitCode", "job.name":
		return nil
	}
	if env, ok := strings.CutPrefix(name, "env."); ok && envNameRE.MatchString(env) {
		return nil
	}
	return fmt.Errorf("unknown variable {{%s}} (want status, duration, exitCode, job.name or env.NAME)", name)
}

// segment is a piece of a template: literal text, a {{variable}}, or a
// {{=expression}}.
type segment struct {
	lit, name, expr string
}

// splitTemplate cuts s into segments, checking variable names.
func splitTemplate(s string) ([]segment, error) {
	var segs []segment
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if strings.Contains(s, "}}") {
				return nil, errors.New("}} without {{")
			}
			if s != "" {
				segs = append(segs, segment{lit: s})
			}
			return segs, nil
		}
		if strings.Contains(s[:i], "}}") {
			return nil, errors.New("}} without {{")
		}
		if i > 0 {
			segs = append(segs, segment{lit: s[:i]})
		}
		end := strings.Index(s[i:], "}}")
		if end < 0 {
			return nil, errors.New("unclosed {{")
		}
		inner := strings.TrimSpace(s[i+2 : i+end])
		if e, ok := strings.CutPrefix(inner, "="); ok {
			if strings.TrimSpace(e) == "" {
				return nil, errors.New("empty expression {{=}}")
			}
			segs = append(segs, segment{expr: e})
		} else {
			if err := templateVar(inner); err != nil {
				return nil, err
			}
			segs = append(segs, segment{name: inner})
		}
		s = s[i+end+2:]
	}
}

// sampleVars stands for a finished run at load time, so that expressions
// are compiled and type-checked against the types they will see.
func sampleVars(name string) (string, bool) {
	switch name {
	case "status":
		return "Succeeded", true
	case "duration":
		return "1.5", true
	case "exitCode":
		return "0", true
	}
	return "", true
}

// envRefRE finds the environment variables an {{=expression}} reads, as
// env.NAME or env["NAME"]; only those are handed to it.
var envRefRE = regexp.MustCompile(`\benv(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\])`)

// exprEnv is what an {{=expression}} sees: status and job.name as strings,
// duration and exitCode as numbers, env as the variables it names.
func exprEnv(src string, vars Lookup) (map[string]any, error) {
	get := func(name string) (string, error) {
		v, ok := vars(name)
		if !ok {
			return "", fmt.Errorf("variable {{%s}} has no value", name)
		}
		return v, nil
	}
	env := map[string]string{}
	for _, m := range envRefRE.FindAllStringSubmatch(src, -1) {
		name := m[1] + m[2]
		v, err := get("env." + name)
		if err != nil {
			return nil, err
		}
		env[name] = v
	}
	status, err := get("status")
	if err != nil {
		return nil, err
	}
	jobName, err := get("job.name")
	if err != nil {
		return nil, err
	}
	out := map[string]any{"status": status, "job": map[string]string{"name": jobName}, "env": env}
	for _, n := range []string{"duration", "exitCode"} {
		s, err := get(n)
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("variable {{%s}} is %q, not a number", n, s)
		}
		out[n] = f
	}
	out[eqFunc] = looseEqual
	return out, nil
}

// compileExpr compiles one {{=expression}} for env.
func compileExpr(src string, env map[string]any) (*vm.Program, error) {
	p, err := compile(src, env)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %s", src, oneLine(err))
	}
	return p, nil
}

// runExpr evaluates one {{=expression}}.
func runExpr(src string, vars Lookup) (any, error) {
	env, err := exprEnv(src, vars)
	if err != nil {
		return nil, err
	}
	p, err := compileExpr(src, env)
	if err != nil {
		return nil, err
	}
	out, err := expr.Run(p, env)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %s", src, oneLine(err))
	}
	return out, nil
}

// compile compiles src with == and != rewritten to looseEqual. The rewrite
// is done on the parsed tree before the one type check, not as an
// expr.Patch: that runs after a first check whose cached types would hide
// an unknown name from the second.
func compile(src string, env map[string]any) (*vm.Program, error) {
	cfg := conf.CreateNew()
	expr.Env(env)(cfg)
	cfg.Check()
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return nil, err
	}
	ast.Walk(&tree.Node, eqPatch{})
	if _, err := checker.Check(tree, cfg); err != nil {
		return nil, err
	}
	return compiler.Compile(tree, cfg)
}

// oneLine keeps the first line of an expr error: the rest is a picture of
// the source with a caret, which a one-line config error cannot carry.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// CheckTemplate reports a syntax error, an unknown variable or an
// expression that does not compile in s.
func CheckTemplate(s string) error {
	segs, err := splitTemplate(s)
	if err != nil {
		return err
	}
	for _, sg := range segs {
		if sg.expr == "" {
			continue
		}
		env, err := exprEnv(sg.expr, sampleVars)
		if err != nil {
			return err
		}
		if _, err := compileExpr(sg.expr, env); err != nil {
			return err
		}
	}
	return nil
}

// ExpandTemplate replaces each variable and expression of s by its value.
func ExpandTemplate(s string, vars Lookup) (string, error) {
	segs, err := splitTemplate(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, sg := range segs {
		switch {
		case sg.name != "":
			v, ok := vars(sg.name)
			if !ok {
				return "", fmt.Errorf("variable {{%s}} has no value", sg.name)
			}
			b.WriteString(v)
		case sg.expr != "":
			v, err := runExpr(sg.expr, vars)
			if err != nil {
				return "", err
			}
			b.WriteString(formatValue(v))
		default:
			b.WriteString(sg.lit)
		}
	}
	return b.String(), nil
}

// formatValue writes an expression's result as Argo would substitute it.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// typed reads a substituted variable as govaluate reads its text: a number,
// true or false, else a string.
func typed(s string) any {
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		return f
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	return s
}

// eqFunc is the name == and != are rewritten to, see looseEqual.
const eqFunc = "_eq"

// looseEqual is == for conditions. govaluate calls a number and a string
// never equal, so `{{exitCode}} != '0'` would always hold; here a string
// that reads as a number equals that number, which is what such a
// condition means. Every other comparison is expr's own.
func looseEqual(a, b any) bool {
	if f, ok := a.(float64); ok {
		if s, ok := b.(string); ok {
			g, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			return err == nil && f == g
		}
	}
	if s, ok := a.(string); ok {
		if f, ok := b.(float64); ok {
			g, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			return err == nil && f == g
		}
	}
	if isNumber(a) && isNumber(b) {
		return toFloat(a) == toFloat(b)
	}
	return reflect.DeepEqual(a, b)
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, int64, float64:
		return true
	}
	return false
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// eqPatch rewrites A == B to _eq(A, B) and A != B to !_eq(A, B).
type eqPatch struct{}

func (eqPatch) Visit(n *ast.Node) {
	b, ok := (*n).(*ast.BinaryNode)
	if !ok || (b.Operator != "==" && b.Operator != "!=") {
		return
	}
	var out ast.Node = &ast.CallNode{Callee: &ast.IdentifierNode{Value: eqFunc}, Arguments: []ast.Node{b.Left, b.Right}}
	if b.Operator == "!=" {
		out = &ast.UnaryNode{Operator: "!", Node: out}
	}
	ast.Patch(n, out)
}

// when is a condition translated for expr: its source, and the variables
// it binds as _t0, _t1, ... in order.
type when struct {
	orig string
	src  string
	vars []whenVar
}

// whenVar is one {{variable}} of a condition; quoted when it stood inside a
// string literal (and so is always a string), raw for {{=expression}}s.
type whenVar struct {
	name, expr string
	quoted     bool
}

var (
	wordRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*`)
	numberRE = regexp.MustCompile(`^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?`)
)

// translateWhen turns a govaluate-style condition into expr source.
func translateWhen(s string) (*when, error) {
	w := &when{orig: s}
	var b strings.Builder
	bind := func(v whenVar) string {
		w.vars = append(w.vars, v)
		return fmt.Sprintf("_t%d", len(w.vars)-1)
	}
	var parens []bool // true: a parenthesis that opened an `in` list
	lastWord := ""
	for i := 0; i < len(s); {
		c := s[i]
		word := ""
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			b.WriteByte(' ')
			i++
			continue
		case strings.HasPrefix(s[i:], "{{"):
			end := strings.Index(s[i:], "}}")
			if end < 0 {
				return nil, errors.New("unclosed {{")
			}
			segs, err := splitTemplate(s[i : i+end+2])
			if err != nil {
				return nil, err
			}
			sg := segs[0]
			if sg.expr != "" {
				b.WriteString("(" + bind(whenVar{expr: sg.expr}) + ")")
			} else {
				b.WriteString(bind(whenVar{name: sg.name}))
			}
			i += end + 2
			word = "{{"
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unclosed quote %c", c)
			}
			segs, err := splitTemplate(s[i+1 : i+1+end])
			if err != nil {
				return nil, err
			}
			var parts []string
			for _, sg := range segs {
				switch {
				case sg.expr != "":
					return nil, fmt.Errorf("{{=%s}} inside quotes: write the expression outside them", sg.expr)
				case sg.name != "":
					parts = append(parts, bind(whenVar{name: sg.name, quoted: true}))
				default:
					parts = append(parts, strconv.Quote(sg.lit))
				}
			}
			if len(parts) == 0 {
				parts = []string{`""`}
			}
			b.WriteString("(" + strings.Join(parts, " + ") + ")")
			i += end + 2
			word = "'"
		case strings.HasPrefix(s[i:], "}}"):
			return nil, errors.New("}} without {{")
		case strings.HasPrefix(s[i:], "=~"):
			b.WriteString(" matches ")
			i += 2
		case strings.HasPrefix(s[i:], "!~"):
			b.WriteString(" not matches ")
			i += 2
		case c == '(':
			list := lastWord == "in"
			parens = append(parens, list)
			if list {
				b.WriteByte('[')
			} else {
				b.WriteByte('(')
			}
			i++
		case c == ')':
			if len(parens) == 0 {
				return nil, errors.New(") without (")
			}
			if parens[len(parens)-1] {
				b.WriteByte(']')
			} else {
				b.WriteByte(')')
			}
			parens = parens[:len(parens)-1]
			i++
		case c == '[' || c == ']' || c == '{' || c == '}' || c == '?' || c == ':' || c == '#' || c == '`' || c == ';':
			return nil, fmt.Errorf("unexpected %q at offset %d", c, i)
		case numberRE.MatchString(s[i:]):
			n := numberRE.FindString(s[i:])
			b.WriteString(n)
			i += len(n)
			word = n
		case wordRE.MatchString(s[i:]):
			word = wordRE.FindString(s[i:])
			switch word {
			case "true", "false", "in":
				b.WriteString(" " + word + " ")
			default:
				// govaluate reads a bare word as a variable, which Argo
				// turns into a string: `{{status}} == Succeeded`.
				b.WriteString(strconv.Quote(word))
			}
			i += len(word)
		case c == '|' || c == '&':
			if i+1 >= len(s) || s[i+1] != c {
				return nil, fmt.Errorf("%c alone: write %c%c", c, c, c)
			}
			b.WriteString(" " + s[i:i+2] + " ")
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
		lastWord = word
	}
	if len(parens) > 0 {
		return nil, errors.New("( without )")
	}
	w.src = b.String()
	return w, nil
}

// compile binds a condition's variables to vars and compiles it.
func (w *when) compile(vars Lookup) (*vm.Program, map[string]any, error) {
	env := map[string]any{eqFunc: looseEqual}
	for i, v := range w.vars {
		key := fmt.Sprintf("_t%d", i)
		switch {
		case v.expr != "":
			val, err := runExpr(v.expr, vars)
			if err != nil {
				return nil, nil, err
			}
			env[key] = val
		default:
			val, ok := vars(v.name)
			if !ok {
				return nil, nil, fmt.Errorf("variable {{%s}} has no value", v.name)
			}
			if v.quoted {
				env[key] = val
			} else {
				env[key] = typed(val)
			}
		}
	}
	p, err := compile(w.src, env)
	if err != nil {
		return nil, nil, notCondition(w.orig, err)
	}
	if t := p.Node().Type(); t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		return nil, nil, fmt.Errorf("not a condition: it gives a %s, not true or false", t)
	}
	return p, env, nil
}

// CheckWhen reports what keeps a `when` condition from evaluating: a syntax
// error, an unknown variable, an expression that does not compile, or a
// comparison of types that cannot be compared (a status with a number).
// The variables take the types they have after a run (status a string,
// duration and exitCode numbers); env.NAME and job.name are not known yet.
func CheckWhen(s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	w, err := translateWhen(s)
	if err != nil {
		return err
	}
	check := func(name string) (string, bool) {
		if name == "job.name" || strings.HasPrefix(name, "env.") {
			return "", true
		}
		return sampleVars(name)
	}
	// The variables whose text is not known yet (job.name, env.NAME) may
	// read as numbers or strings after a run: the condition passes when it
	// compiles with either.
	var firstErr error
	for _, unknown := range []any{"", 0.0} {
		env := map[string]any{eqFunc: looseEqual}
		for i, v := range w.vars {
			key := fmt.Sprintf("_t%d", i)
			switch {
			case v.expr != "":
				e, err := exprEnv(v.expr, check)
				if err != nil {
					return err
				}
				p, err := compileExpr(v.expr, e)
				if err != nil {
					return err
				}
				env[key] = zeroOf(p.Node().Type())
			case v.quoted:
				env[key] = ""
			case v.name == "job.name" || strings.HasPrefix(v.name, "env."):
				env[key] = unknown
			default:
				val, _ := check(v.name)
				env[key] = typed(val)
			}
		}
		p, err := compile(w.src, env)
		if err == nil {
			if t := p.Node().Type(); t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
				return fmt.Errorf("not a condition: it gives a %s, not true or false", t)
			}
			return nil
		}
		if firstErr == nil {
			firstErr = notCondition(s, err)
		}
	}
	return firstErr
}

var positionRE = regexp.MustCompile(` \(\d+:\d+\)$`)

// notCondition explains a condition expr refused. Its position is left out:
// it counts in the translated source, not in what the user wrote.
func notCondition(s string, err error) error {
	msg := positionRE.ReplaceAllString(oneLine(err), "")
	if strings.Contains(msg, `Operator("=")`) {
		msg += " (compare with ==)"
	}
	return fmt.Errorf("%q is not a condition: %s", s, msg)
}

// zeroOf is a value of type t for type-checking, nil (untyped) if unknown.
func zeroOf(t reflect.Type) any {
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	return reflect.Zero(t).Interface()
}

// EvalWhen evaluates a `when` condition after a run. An empty condition is
// true.
func EvalWhen(s string, vars Lookup) (bool, error) {
	if strings.TrimSpace(s) == "" {
		return true, nil
	}
	w, err := translateWhen(s)
	if err != nil {
		return false, err
	}
	p, env, err := w.compile(vars)
	if err != nil {
		return false, err
	}
	out, err := expr.Run(p, env)
	if err != nil {
		return false, fmt.Errorf("evaluating %q: %s", s, oneLine(err))
	}
	ok, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("%q gives %v, not true or false", s, out)
	}
	return ok, nil
}
