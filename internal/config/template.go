package config

import (
	"errors"
	"fmt"
	"strings"
)

// Job metric templates, in the Argo Workflows style: `{{status}}`,
// `{{duration}}`, `{{exitCode}}`, `{{job.name}}` and `{{env.NAME}}`, with
// optional spaces inside the braces. The same functions serve validation
// here and evaluation in the exec wrapper, so both read templates alike.

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

// walkTemplate calls lit for each literal run and v for each variable.
func walkTemplate(s string, lit func(string), v func(string) error) error {
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if strings.Contains(s, "}}") {
				return errors.New("}} without {{")
			}
			lit(s)
			return nil
		}
		if strings.Contains(s[:i], "}}") {
			return errors.New("}} without {{")
		}
		lit(s[:i])
		end := strings.Index(s[i:], "}}")
		if end < 0 {
			return errors.New("unclosed {{")
		}
		name := strings.TrimSpace(s[i+2 : i+end])
		if err := templateVar(name); err != nil {
			return err
		}
		if err := v(name); err != nil {
			return err
		}
		s = s[i+end+2:]
	}
}

// CheckTemplate reports a syntax error or an unknown variable in s.
func CheckTemplate(s string) error {
	return walkTemplate(s, func(string) {}, func(string) error { return nil })
}

// ExpandTemplate replaces each variable of s by its value.
func ExpandTemplate(s string, vars Lookup) (string, error) {
	var b strings.Builder
	err := walkTemplate(s, func(l string) { b.WriteString(l) }, func(name string) error {
		val, ok := vars(name)
		if !ok {
			return fmt.Errorf("variable {{%s}} has no value", name)
		}
		b.WriteString(val)
		return nil
	})
	return b.String(), err
}

// whenExpr is a `when` condition: an OR of ANDs of comparisons.
type whenExpr [][]comparison

type comparison struct {
	left, right string
	notEqual    bool
}

// splitTop splits s at sep where sep is outside {{...}} and quotes.
func splitTop(s, sep string) ([]string, error) {
	var parts []string
	var quote byte
	inVar := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch {
		case quote != 0:
			if s[i] == quote {
				quote = 0
			}
		case inVar:
			if strings.HasPrefix(s[i:], "}}") {
				inVar = false
				i++
			}
		case strings.HasPrefix(s[i:], "{{"):
			inVar = true
			i++
		case s[i] == '\'' || s[i] == '"':
			quote = s[i]
		case strings.HasPrefix(s[i:], sep):
			parts = append(parts, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed quote %c", quote)
	}
	return append(parts, s[start:]), nil
}

// operand trims an operand and removes its quotes.
func operand(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("missing operand")
	}
	if n := len(s); n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n-1] == s[0] {
		s = s[1 : n-1]
	} else if strings.ContainsAny(s, `'"`) {
		return "", fmt.Errorf("stray quote in %q", s)
	} else if strings.Contains(s, "==") || strings.Contains(s, "!=") {
		return "", fmt.Errorf("both == and != in one comparison near %q", s)
	}
	if err := CheckTemplate(s); err != nil {
		return "", err
	}
	return s, nil
}

func parseWhen(s string) (whenExpr, error) {
	ors, err := splitTop(s, "||")
	if err != nil {
		return nil, err
	}
	var expr whenExpr
	for _, or := range ors {
		ands, err := splitTop(or, "&&")
		if err != nil {
			return nil, err
		}
		var terms []comparison
		for _, and := range ands {
			c, err := parseComparison(and)
			if err != nil {
				return nil, err
			}
			terms = append(terms, c)
		}
		expr = append(expr, terms)
	}
	return expr, nil
}

func parseComparison(s string) (comparison, error) {
	for _, op := range []string{"==", "!="} {
		parts, err := splitTop(s, op)
		if err != nil {
			return comparison{}, err
		}
		switch len(parts) {
		case 1:
			continue
		case 2:
		default:
			return comparison{}, fmt.Errorf("more than one %s in %q", op, strings.TrimSpace(s))
		}
		l, err := operand(parts[0])
		if err != nil {
			return comparison{}, err
		}
		r, err := operand(parts[1])
		if err != nil {
			return comparison{}, err
		}
		return comparison{left: l, right: r, notEqual: op == "!="}, nil
	}
	return comparison{}, fmt.Errorf("%q is not a comparison (want A == B or A != B)", strings.TrimSpace(s))
}

// CheckWhen reports a syntax error or an unknown variable in a `when`
// condition: comparisons `A == B` and `A != B` joined by && and ||
// (&& binds tighter), operands being text with variables, optionally quoted.
func CheckWhen(s string) error {
	_, err := parseWhen(s)
	return err
}

// EvalWhen evaluates a `when` condition, comparing operands as strings after
// expanding their variables. An empty condition is true.
func EvalWhen(s string, vars Lookup) (bool, error) {
	if strings.TrimSpace(s) == "" {
		return true, nil
	}
	expr, err := parseWhen(s)
	if err != nil {
		return false, err
	}
	for _, ands := range expr {
		all := true
		for _, c := range ands {
			l, err := ExpandTemplate(c.left, vars)
			if err != nil {
				return false, err
			}
			r, err := ExpandTemplate(c.right, vars)
			if err != nil {
				return false, err
			}
			if (l == r) == c.notEqual {
				all = false
				break
			}
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}
