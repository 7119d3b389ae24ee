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

// TestDollarInCommand: in a command, as in every value, $$ is a literal $
// (so $$$$ gives a shell its $$ and $${VAR} leaves ${VAR} to the shell),
// and a ${VAR} metricwrap expanded inside a shell snippet is warned about.
func TestDollarInCommand(t *testing.T) {
	t.Setenv("MW_DOLLAR_TEST", "from-metricwrap")
	c, err := LoadBytes("d.yml", []byte(`exporters:
  snippet:
    command: [/bin/sh, -c, 'echo $$$$ $${HOME} $HOME ${MW_DOLLAR_TEST} cost$$5 a$b']
  plain:
    command: [/usr/bin/prog, '--token=${MW_DOLLAR_TEST}']
`))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Exporters["snippet"].Command[2]
	if want := "echo $$ ${HOME} $HOME from-metricwrap cost$5 a$b"; got != want {
		t.Errorf("snippet = %q, want %q", got, want)
	}
	ws := c.Warnings()
	if len(ws) != 1 || !strings.HasPrefix(ws[0].Error(), "d.yml:3: exporters.snippet.command[2]: ${MW_DOLLAR_TEST} in a shell snippet") {
		t.Fatalf("warnings %v, want one about the snippet's ${MW_DOLLAR_TEST}", ws)
	}
}
