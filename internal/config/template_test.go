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
		// Argo's conditionals: parentheses, numbers, regular expressions, in.
		{in: "( {{status}} == Failed && {{exitCode}} == 0 ) || ( {{status}} == Succeeded && {{job.name}} == backup )", want: true},
		{in: "({{status}} == Failed && {{exitCode}} == 0) || {{job.name}} == other", want: false},
		{in: "{{duration}} > 10", want: true},
		{in: "{{duration}} >= 12.5 && {{duration}} < 13", want: true},
		{in: "{{duration}} < 9.5", want: false},
		{in: "{{status}} =~ 'Succ'", want: true},
		{in: "{{status}} =~ Fail", want: false},
		{in: "{{status}} !~ '^F'", want: true},
		{in: "{{status}} in (Succeeded, Failed)", want: true},
		{in: "{{exitCode}} in (1, 2)", want: false},
		{in: "!({{status}} == Failed)", want: true},
		{in: "'{{env.HOME}}/x' == '/root/x'", want: true},
		{in: "{{exitCode}} == '0'", want: true},
		{in: "{{job.name}} < c", want: true},
		{in: "{{= status == 'Succeeded' && duration > 10 }}", want: true},
		{in: "{{= exitCode != 0 }} || {{status}} == Failed", want: false},
		{in: "{{= env.HOME == '/root' && job.name == 'backup' }}", want: true},
		{in: "{{status}} = Succeeded", err: "not a condition"},
		{in: "{{status}} == ", err: "not a condition"},
		{in: "'a == b", err: "unclosed quote"},
		{in: "{{bogus}} == x", err: "unknown variable {{bogus}}"},
		{in: "a == b &&", err: "not a condition"},
		{in: "({{status}} == Failed", err: "( without )"},
		{in: "{{status}} == Failed)", err: ") without ("},
		{in: "{{status}} > 3", err: "mismatched types string and int"},
		{in: "{{status}} =~ '('", err: "error parsing regexp"},
		{in: "{{duration}}", err: "not true or false"},
		{in: "{{status}} | x", err: "| alone"},
		{in: "len({{status}}) > 1", err: "not a condition"},
		{in: "{{= nope == 1 }}", err: "unknown name nope"},
		{in: "{{= duration }}", err: "not true or false"},
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
			if checkErr != nil {
				t.Errorf("CheckWhen: %v", checkErr)
			}
			if err != nil || got != tt.want {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestWhenValueCannotInject: a variable is a value, not text pasted into
// the condition, so quotes or operators in it change nothing.
func TestWhenValueCannotInject(t *testing.T) {
	evil := func(name string) (string, bool) {
		if name == "env.X" {
			return "x' || 'a' == 'a", true
		}
		return vars(name)
	}
	for _, cond := range []string{"{{env.X}} == y", "'{{env.X}}' == y"} {
		if ok, err := EvalWhen(cond, evil); err != nil || ok {
			t.Errorf("%s = %v, %v; want false", cond, ok, err)
		}
	}
}

func TestExpandExpression(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "{{= duration * 1000 }}", want: "12500"},
		{in: "{{=exitCode + 1}}", want: "1"},
		{in: "{{= status == 'Succeeded' ? 'ok' : 'bad' }}-{{job.name}}", want: "ok-backup"},
		{in: "{{= upper(env.HOME) }}", want: "/ROOT"},
		{in: "{{= }}", err: "empty expression"},
		{in: "{{= duration +  }}", err: "expression"},
		{in: "{{= workflow.name }}", err: "unknown name workflow"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ExpandTemplate(tc.in, vars)
			checkErr := CheckTemplate(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || checkErr == nil {
					t.Fatalf("error %v (check %v), want %q", err, checkErr, tc.err)
				}
				return
			}
			if err != nil || checkErr != nil || got != tc.want {
				t.Errorf("got %q, %v (check %v); want %q", got, err, checkErr, tc.want)
			}
		})
	}
}
