package jsonexporter

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in, canonical string
		singular      bool
	}{
		{"$", "$", true},
		{"@", "$", true},
		{"$.jobs", "$.jobs", true},
		{"jobs", "$.jobs", true},
		{"lastBuild.number", "$.lastBuild.number", true},
		{".jobs", "$.jobs", true},
		{"$.jobs[0].name", "$.jobs[0].name", true},
		{"$.jobs[-1]", "$.jobs[-1]", true},
		{"$.jobs[*].name", "$.jobs[*].name", false},
		{"$.jobs.*", "$.jobs[*]", false},
		{"$['jobs']", "$.jobs", true},
		{`$["jobs"]`, "$.jobs", true},
		{"$._class", "$._class", true},
		{"$['a.b']", `$["a.b"]`, true},
		{"$['']", `$[""]`, true},
		{`$['it\'s']`, `$["it's"]`, true},
		{`$["say \"hi\""]`, `$["say \"hi\""]`, true},
		{`$['back\\slash']`, `$["back\\slash"]`, true},
		{"$['with space'][2]", `$["with space"][2]`, true},
		// Keys the former subset took after a dot, RFC 9535 only in brackets.
		{"$.x-y.ä", `$["x-y"].ä`, true},
		{"$.0", `$["0"]`, true},
		{"[0]", "$[0]", true},
		// RFC 9535 beyond the former subset.
		{"$..name", `$..["name"]`, false},
		{"$.jobs[1:3]", "$.jobs[1:3]", false},
		{"$.jobs[0,2]", "$.jobs[0,2]", false},
		{"$.jobs[?@.color == 'blue'].name", `$.jobs[?@["color"] == "blue"].name`, false},
		{"$.jobs[?length(@.name) > 4 && @.x-y]", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if tt.canonical == "" {
				if err == nil {
					t.Fatalf("ParsePath(%q) accepted a filter RFC 9535 refuses", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if got := p.String(); got != tt.canonical {
				t.Errorf("String() = %q, want %q", got, tt.canonical)
			}
			if p.Singular() != tt.singular {
				t.Errorf("Singular() = %v, want %v", p.Singular(), tt.singular)
			}
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty path"},
		{"$.", `invalid JSONPath "$.": unexpected eof`},
		{"$.jobs[", "unexpected eof"},
		{"$.jobs[*", "unexpected eof"},
		{"$.jobs[?(@.color)", "unexpected eof"},
		{"$[-]", "invalid number literal"},
		{"$['a", "unterminated string literal"},
		{"$.a b", "unexpected blank space"},
		{"name]", `invalid JSONPath "name]" (read as $.name]): unexpected ']'`},
		{"$.]", "unexpected ']'"},
		{"$$", "unexpected '$'"},
		{"$[?@.a == ]", "position"},
		{"$[?nope(@)]", "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParsePath(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParsePath(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func loadFixture(t *testing.T, name string) any {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestEval(t *testing.T) {
	jenkins := loadFixture(t, "jenkins.json")
	var small any
	if err := json.Unmarshal([]byte(`{"b": 2, "a": 1, "n": null, "arr": [10, null, 30], "s": "x", "o": {"k": [{"v": 1}, {"w": 2}]}}`), &small); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		doc     any
		path    string
		want    []any
		missing int
	}{
		{"root", small, "$", []any{small}, 0},
		{"key", jenkins, "$._class", []any{"hudson.model.Hudson"}, 0},
		{"quoted key", jenkins, "$['mode']", []any{"NORMAL"}, 0},
		{"number", jenkins, "$.numExecutors", []any{2.0}, 0},
		{"bool", jenkins, "$.useCrumbs", []any{true}, 0},
		{"nested", jenkins, "$.primaryView.name", []any{"all"}, 0},
		{"index", jenkins, "$.jobs[1].name", []any{"deploy-production"}, 0},
		{"negative index", jenkins, "$.jobs[-1].name", []any{"team-data"}, 0},
		{"index out of range", jenkins, "$.jobs[7].name", nil, 1},
		{"negative out of range", jenkins, "$.jobs[-8]", nil, 1},
		{"wildcard", jenkins, "$.jobs[*].name", []any{"backup-nightly", "deploy-production", "integration-tests", "lint", "new-service", "old-release", "team-data"}, 0},
		{"wildcard, some missing", jenkins, "$.jobs[*].lastBuild.number", []any{412.0, 87.0, 1503.0, 2290.0, 19.0}, 2},
		{"wildcard over object in key order", small, "$.*", []any{1.0, []any{10.0, nil, 30.0}, 2.0, map[string]any{"k": []any{map[string]any{"v": 1.0}, map[string]any{"w": 2.0}}}, "x"}, 1},
		{"null is missing", jenkins, "$.description", nil, 1},
		{"null element is missing", small, "$.arr[*]", []any{10.0, 30.0}, 1},
		{"null indexed is missing", small, "$.arr[1]", nil, 1},
		{"step into null", jenkins, "$.jobs[4].lastBuild.number", nil, 1},
		{"step into string", small, "$.s.x", nil, 1},
		{"index into object", small, "$.o[0]", nil, 1},
		{"key of array", small, "$.arr.x", nil, 1},
		{"wildcard of scalar", small, "$.s[*]", nil, 1},
		{"wildcard of empty", jenkins, "$.overallLoad.*", nil, 0},
		{"nested wildcards", small, "$.o.k[*].*", []any{1.0, 2.0}, 0},
		{"missing key", jenkins, "$.nope", nil, 1},
		{"nil document", nil, "$", nil, 1},
		{"filter", jenkins, "$.jobs[?@.color == 'red'].name", []any{"deploy-production"}, 0},
		{"filter selecting nothing is not missing", jenkins, "$.jobs[?@.color == 'purple'].name", nil, 0},
		{"filter on numbers", jenkins, "$.jobs[?@.lastBuild.number > 1000].name", []any{"integration-tests", "lint"}, 0},
		{"slice", jenkins, "$.jobs[0:2].name", []any{"backup-nightly", "deploy-production"}, 0},
		{"descendant", small, "$..v", []any{1.0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, missing := p.Eval(tt.doc)
			if !reflect.DeepEqual(got, tt.want) || missing != tt.missing {
				t.Errorf("Eval(%s) = %v, %d missing; want %v, %d missing", tt.path, got, missing, tt.want, tt.missing)
			}
		})
	}
}

// FuzzParsePath: whatever parses has a canonical form that parses back to
// the same path, and evaluating it never panics.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"$", "$.jobs[*].name", "$['a\\'b'][0]", `$["x"][-1].*`, "name.first", "[3]", "$..a", "$[", "$['"} {
		f.Add(s)
	}
	var doc any
	if err := json.Unmarshal([]byte(`{"a": [1, {"b": "c"}, null], "": {"'": true}}`), &doc); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		canonical := p.String()
		q, err := ParsePath(canonical)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canonical, s, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("%q parses to %v, its canonical form %q to %v", s, p, canonical, q)
		}
		if q.String() != canonical {
			t.Fatalf("canonical form not stable: %q then %q", canonical, q.String())
		}
		p.Eval(doc)
	})
}
