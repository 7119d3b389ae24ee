package exporter

import (
	"errors"
	"net/url"
	"reflect"
	"regexp"
	"testing"
)

func testParams() Params {
	return Params{
		"target":  {Name: "target", Pattern: regexp.MustCompile(`^(?:[A-Za-z0-9.-]+)$`), Required: true},
		"region":  {Name: "region", Pattern: regexp.MustCompile(`^(?:eu|us)$`), Default: "eu", PassAs: PassAsEnv, Env: "REGION"},
		"verbose": {Name: "verbose"},
	}
}

func TestParamsCheck(t *testing.T) {
	cases := []struct {
		query   string
		want    map[string]string
		errWant string
	}{
		{"target=a", map[string]string{"target": "a", "region": "eu"}, ""},
		{"--target=a&region=us", map[string]string{"target": "a", "region": "us"}, ""},
		{"target=a&debug=1", map[string]string{"target": "a", "region": "eu"}, ""},
		{"target=a&verbose=yes", map[string]string{"target": "a", "region": "eu", "verbose": "yes"}, ""},
		{"", nil, `parameter "target": required`},
		{"target=a%3Bb", nil, `parameter "target": value does not match ^(?:[A-Za-z0-9.-]+)$`},
		{"target=a&target=b", nil, `parameter "target": given more than once`},
		{"target=a&--target=b", nil, `parameter "target": given more than once`},
		{"target=a&zz=1", nil, `parameter "zz": unknown parameter`},
		{"target=a&verbose=%0A", nil, `parameter "verbose": value contains a control character`},
		{"target=a&region=", nil, `parameter "region": value does not match ^(?:eu|us)$`},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			q, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := testParams().Check(q)
			if c.errWant != "" {
				var pe *ParamError
				if !errors.As(err, &pe) || err.Error() != c.errWant {
					t.Fatalf("error %v, want %q", err, c.errWant)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestParamsLongValue(t *testing.T) {
	long := make([]byte, 2000)
	for i := range long {
		long[i] = 'a'
	}
	_, err := testParams().Check(url.Values{"target": {string(long)}})
	if err == nil {
		t.Fatal("a 2000-byte value was accepted")
	}
}

func TestParamsApply(t *testing.T) {
	args, env := testParams().Apply(map[string]string{"target": "sw1", "region": "us", "verbose": "1"})
	if want := []string{"--target=sw1", "--verbose=1"}; !reflect.DeepEqual(args, want) {
		t.Fatalf("args %v, want %v", args, want)
	}
	if want := map[string]string{"REGION": "us"}; !reflect.DeepEqual(env, want) {
		t.Fatalf("env %v, want %v", env, want)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"dummy": true, "my-exporter.v2": true, "_x": true,
		"": false, ".": false, "..": false, "../x": false, "a/b": false, "-x": false, ".hidden": false, "a\x00": false, "a b": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestOpenParams(t *testing.T) {
	ps := OpenParams()
	got, err := ps.Check(url.Values{"--target": {"core-sw01"}, "port": {"22"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"target": "core-sw01", "port": "22"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	args, _ := ps.Apply(got)
	if want := []string{"--port=22", "--target=core-sw01"}; !reflect.DeepEqual(args, want) {
		t.Fatalf("args %v", args)
	}
	for _, q := range []url.Values{
		{"target": {"a b"}}, {"target": {"$(id)"}}, {"*": {"x"}}, {"a;b": {"x"}}, {"target": {""}},
	} {
		if _, err := ps.Check(q); err == nil {
			t.Errorf("%v accepted", q)
		}
	}
}
