package config

import (
	"strings"
	"testing"
)

// FuzzWhen checks the `when` conditions of job metrics, which come from
// config files and, through {{env.NAME}}, compare values from the job's
// environment. No input may panic; an answer is the same every time; a
// condition CheckWhen refuses is refused by EvalWhen too (unless blank,
// which is true by definition); a condition CheckWhen accepts that reads
// only variables whose type it knows evaluates without error; and a value
// holding quotes or operators cannot change a condition's shape: comparing
// {{env.X}} with itself holds whatever X is.
func FuzzWhen(f *testing.F) {
	for _, s := range []string{
		"{{status}} == Succeeded",
		"{{status}} != Failed && {{exitCode}} == 0",
		"{{status}} == 'a || b' || {{env.X}} != \"\"",
		"( {{status}} == Succeeded && {{exitCode}} == 0 ) || {{duration}} > 10",
		"{{status}} =~ 'Succ' && {{status}} in (Succeeded, Failed)",
		"{{= status == 'Succeeded' && duration < 3 }}",
		"{{ job.name }} == backup",
		"{{status}} == == x",
		"'unclosed == x",
		"{{nope}} == 1",
		"a == b && || c != d",
		"}} == {{",
	} {
		f.Add(s, "Succeeded")
	}
	f.Fuzz(func(t *testing.T, cond, value string) {
		vars := func(name string) (string, bool) {
			switch name {
			case "duration":
				return "1.5", true
			case "exitCode":
				return "3", true
			case "status":
				return "Failed", true
			}
			return value, true
		}
		checkErr := CheckWhen(cond)
		got, err := EvalWhen(cond, vars)
		if checkErr != nil {
			if err == nil && strings.TrimSpace(cond) != "" {
				t.Fatalf("CheckWhen(%q) = %v, yet EvalWhen evaluated it to %v", cond, checkErr, got)
			}
			return
		}
		if again, err2 := EvalWhen(cond, vars); again != got || (err == nil) != (err2 == nil) {
			t.Fatalf("EvalWhen(%q) is %v, %v, then %v, %v", cond, got, err, again, err2)
		}
		typedOnly := !strings.Contains(cond, "env") && !strings.Contains(cond, "job") &&
			!strings.Contains(cond, "{{=") && !strings.ContainsAny(cond, "/%")
		if err != nil && typedOnly {
			t.Fatalf("CheckWhen(%q) passed, EvalWhen failed: %v", cond, err)
		}
		if ok, err := EvalWhen("{{env.X}} == '{{env.X}}'", vars); err != nil || !ok {
			t.Fatalf("{{env.X}} with X=%q is not equal to itself: %v, %v", value, ok, err)
		}
	})
}
