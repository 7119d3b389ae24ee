package config

import (
	"strings"
	"testing"
)

// TestExpandPlaceholdersMatchesReplacer pins the one-pass expansion to what
// strings.Replacer did before it, including values that hold placeholders.
func TestExpandPlaceholdersMatchesReplacer(t *testing.T) {
	cases := []struct{ f, name, value string }{
		{"--{name}={value}", "target", "example.com"},
		{"{value}", "n", "{name}"},
		{"{name}{name}{value}", "{value}", "v"},
		{"{", "n", "v"},
		{"{nam{name}}", "n", "v"},
		{"plain", "n", "v"},
		{"{{value}}{valu", "n", "x"},
		{"", "n", "v"},
	}
	for _, c := range cases {
		want := strings.NewReplacer("{name}", c.name, "{value}", c.value).Replace(c.f)
		if got := expandPlaceholders(c.f, c.name, c.value); got != want {
			t.Errorf("expandPlaceholders(%q, %q, %q) = %q, want %q", c.f, c.name, c.value, got, want)
		}
	}
}
