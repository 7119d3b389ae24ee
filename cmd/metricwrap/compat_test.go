package main

import "testing"

func TestIsCompat(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--exporter", "dummy"}, true},
		{[]string{"--no-print"}, true},
		{[]string{"--debug", "--exporter=x", "--target", "sw1"}, true},
		{[]string{"--log.level=info", "exec", "--", "sh", "-c", "x", "--debug"}, false},
		{[]string{"--config.file=c.yml", "run", "dummy", "--no-print"}, false},
		{[]string{"run", "dummy", "--no-print"}, false},
		{[]string{"--version"}, false},
		{[]string{"--exporter", "dummy", "--mode", "run"}, true},
		{[]string{"--debug", "--exporter", "run"}, true},
		{nil, false},
	} {
		if got := isCompat(c.args); got != c.want {
			t.Errorf("isCompat(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
