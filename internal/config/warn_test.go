package config

import (
	"strings"
	"testing"
)

func TestAdmitsLeadingDash(t *testing.T) {
	for pattern, want := range map[string]bool{
		`[A-Za-z0-9.-]+`:            true,
		`[A-Za-z0-9][A-Za-z0-9.-]*`: false,
		`.*`:                        true,
		`\S+`:                       true,
		`eu|us`:                     false,
		`eu|-x`:                     true,
		`[a-z]+|\d+`:                false,
		`(?:-)?[0-9]+`:              true,
		`https?://[^ ]+`:            false,
		`-`:                         true,
		`a-b`:                       false,
	} {
		if got := admitsLeadingDash(pattern); got != want {
			t.Errorf("admitsLeadingDash(%q) = %v, want %v", pattern, got, want)
		}
	}
}

func TestWarningsOnOptionInjection(t *testing.T) {
	c, err := LoadBytes("w.yml", []byte(`exporters:
  x:
    command: [prog]
    params:
      host: {pattern: '[A-Za-z0-9.-]+', arg: '{value}'}
      safe: {pattern: '[A-Za-z0-9][A-Za-z0-9.-]*', arg: '{value}'}
      split: {pattern: '[a-z-]+', arg: '--{name} {value}'}
      joined: {pattern: '.*'}
      open: {arg: '{value}'}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{"w.yml:5: exporters.x.params.host: pattern", "w.yml:9: exporters.x.params.open: no pattern", "w.yml:7: exporters.x.params.split: pattern"}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}
}
