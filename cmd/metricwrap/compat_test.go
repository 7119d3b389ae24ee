package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

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
		{[]string{"--exp", "cisco"}, true},
		{[]string{"--no", "--exporters.dir", "d"}, true},
		{nil, false},
	} {
		if got := isCompat(c.args); got != c.want {
			t.Errorf("isCompat(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

func TestParseCompat(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    compatArgs
		wantErr string
	}{
		{args: []string{"--exp", "cisco", "--target", "x"}, want: compatArgs{exporter: "cisco", rest: []string{"--target", "x"}}},
		{args: []string{"--e=cisco", "--no", "--deb", "--pu", "gw:9091", "--o", "f"},
			want: compatArgs{exporter: "cisco", noPrint: true, debug: true, pushgateway: "gw:9091", outputFile: "f"}},
		// Before --exporter --timeout is ours; after it, the exporter's.
		{args: []string{"--timeout", "90", "--exporter", "x", "--timeout", "5"},
			want: compatArgs{exporter: "x", timeout: 90 * time.Second, rest: []string{"--timeout", "5"}}},
		// Our own flags are never abbreviated; single dashes are the exporter's.
		{args: []string{"--exporter", "x", "--config", "c", "--time=1s", "-h", "--"},
			want: compatArgs{exporter: "x", rest: []string{"--config", "c", "--time=1s", "-h", "--"}}},
		{args: []string{"--exporter", "x", "--he"}, want: compatArgs{exporter: "x", help: true}},
		{args: []string{"--debug=yes"}, wantErr: "flag --debug takes no value"},
		{args: []string{"--timeout", "soon", "--exporter", "x"}, wantErr: `--timeout "soon"`},
		{args: []string{"--exporter"}, wantErr: "flag --exporter needs a value"},
	} {
		got, err := parseCompat(c.args)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("parseCompat(%q) error %v, want %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseCompat(%q) = %+v, %v; want %+v", c.args, got, err, c.want)
		}
	}
}
