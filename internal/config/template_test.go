package config

import (
	"strings"
	"testing"
)

func vars(name string) (string, bool) {
	v, ok := map[string]string{
		"status": "Succeeded", "duration": "12.5", "exitCode": "0", "job.name": "backup", "env.HOME": "/root",
	}[name]
	return v, ok
}

func TestExpandTemplate(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "{{status}}", want: "Succeeded"},
		{in: "{{ status }}/{{exitCode}}", want: "Succeeded/0"},
		{in: "job={{job.name}} home={{env.HOME}}", want: "job=backup home=/root"},
		{in: "plain", want: "plain"},
		{in: "{{env.UNSET_X}}", err: "has no value"},
		{in: "{{workflow.status}}", err: "unknown variable {{workflow.status}}"},
		{in: "{{env.1X}}", err: "unknown variable"},
		{in: "{{status", err: "unclosed {{"},
		{in: "status}}", err: "}} without {{"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ExpandTemplate(tt.in, vars)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestWhen(t *testing.T) {
	tests := []struct {
		in   string
		want bool
		err  string
	}{
		{in: "", want: true},
		{in: "{{status}} == Succeeded", want: true},
		{in: "{{status}} != Succeeded", want: false},
		{in: "{{status}} == 'Succeeded'", want: true},
		{in: `"{{status}}" == "Failed"`, want: false},
		{in: "{{status}} == Failed || {{exitCode}} == 0", want: true},
		{in: "{{status}} == Succeeded && {{exitCode}} != 0", want: false},
		{in: "{{status}} == Failed && {{exitCode}} == 0 || {{job.name}} == backup", want: true},
		{in: "'a || b' == 'a || b'", want: true},
		{in: "{{status}} = Succeeded", err: "is not a comparison"},
		{in: "{{status}} == ", err: "missing operand"},
		{in: "a == b == c", err: "more than one =="},
		{in: "a == b != c", err: "both == and !="},
		{in: "'a == b", err: "unclosed quote"},
		{in: "{{bogus}} == x", err: "unknown variable {{bogus}}"},
		{in: "a == b &&", err: "is not a comparison"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := EvalWhen(tt.in, vars)
			checkErr := CheckWhen(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				if checkErr == nil {
					t.Errorf("CheckWhen accepts what EvalWhen refuses")
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
