package exporter

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// FuzzParamsCheck feeds raw query strings to parameter validation, the first
// thing a request from the network reaches. Whatever the query, Check must
// not panic, must refuse with a *ParamError whose message carries no control
// character, and what it accepts must be safe to hand to a child: declared
// or plain-word names, values within the length bound that match their
// pattern, and arguments that Apply keeps one per value.
func FuzzParamsCheck(f *testing.F) {
	for _, q := range []string{
		"target=core-sw01",
		"--target=core-sw01&region=us",
		"target=a&target=b",
		"target=a%0Ab",
		"target=a&debug=1",
		"--=x&*=y",
		"target=" + strings.Repeat("a", 1100),
		"%ZZ",
		"region=eu|us&target=x;rm",
	} {
		f.Add(q, false)
		f.Add(q, true)
	}
	declared := Params{
		"target": {Name: "target", Pattern: regexp.MustCompile(`^(?:[A-Za-z0-9.-]+)$`), Required: true},
		"region": {Name: "region", Pattern: regexp.MustCompile(`^(?:eu|us)$`), Default: "eu", PassAs: PassAsEnv, Env: "REGION"},
		"any":    {Name: "any"},
	}
	open := OpenParams()
	f.Fuzz(func(t *testing.T, raw string, isOpen bool) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // the server answers 400 before Check
		}
		ps := declared
		if isOpen {
			ps = open
		}
		got, err := ps.Check(q)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParamError: %v", err, err)
			}
			if strings.ContainsFunc(err.Error(), isControl) {
				t.Fatalf("error message echoes a control character: %q", err.Error())
			}
			return
		}
		for name, v := range got {
			p, ok := ps[name]
			if !ok {
				if !isOpen || !openNameRE.MatchString(name) {
					t.Fatalf("accepted undeclared parameter %q", name)
				}
				p = ps[anyParam]
			}
			if name == anyParam {
				t.Fatalf("accepted the wildcard key itself: %v", got)
			}
			if len(v) > maxParamLen || strings.ContainsFunc(v, isControl) {
				t.Fatalf("accepted %s=%q", name, v)
			}
			if p.Pattern != nil && !p.Pattern.MatchString(v) {
				t.Fatalf("accepted %s=%q against %s", name, v, p.Pattern)
			}
		}
		args, env := ps.Apply(got)
		if len(args)+len(env) != len(got) {
			t.Fatalf("Apply(%v) = %q, %v: want one argument or variable per value", got, args, env)
		}
		for _, a := range args {
			if !strings.HasPrefix(a, "--") {
				t.Fatalf("argument %q could be taken for something other than a flag", a)
			}
		}
	})
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
