package config

import (
	"errors"
	"testing"
)

// TestLoadPartial: with problems, the entries they name are left out and
// the rest stays, located, for check-config's next stages.
func TestLoadPartial(t *testing.T) {
	src := `exporters:
  bad: {command: [x], timeout: soon}
  good:
    command: [/bin/true]
sinks:
  pg: {type: pushgateway, url: 'http://127.0.0.1:9091'}
  nourl: {type: pushgateway, methd: PUT}
jobs:
  j: {sinks: [missing]}
`
	c, err := LoadPartialBytes("m.yml", []byte(src))
	var es Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("error %v, want 3 problems", err)
	}
	if c == nil {
		t.Fatal("no partial config")
	}
	if _, ok := c.Exporters["bad"]; ok {
		t.Error("exporter bad kept despite its problem")
	}
	if _, ok := c.Exporters["good"]; !ok {
		t.Error("exporter good left out")
	}
	if _, ok := c.Sinks["pg"]; !ok || len(c.Sinks) != 1 {
		t.Errorf("sinks %v, want only pg", c.Sinks)
	}
	if len(c.Jobs) != 0 {
		t.Errorf("jobs %v, want none", c.Jobs)
	}
	if got := c.Line("exporters.good.command"); got != 4 {
		t.Errorf("Line(exporters.good.command) = %d, want 4", got)
	}
	if got := c.Problem("sinks.pg.url", errors.New("boom")).Error(); got != "m.yml:6: sinks.pg.url: boom" {
		t.Errorf("Problem = %q", got)
	}
	if c, err := LoadBytes("m.yml", []byte(src)); c != nil || err == nil {
		t.Errorf("LoadBytes = %v, %v; want no config and an error", c, err)
	}
}
