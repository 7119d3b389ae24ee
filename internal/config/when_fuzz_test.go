package config

import (
	"strings"
	"testing"
)

// FuzzWhen checks the `when` condition parser of job metrics, which reads
// text from config files and, through {{env.NAME}}, compares values from the
// job's environment. No input may panic; a condition that CheckWhen accepts
// must evaluate without error once its variables have values, and to the
// same answer every time; a condition it refuses must be refused by
// EvalWhen too (unless blank, which is true by definition); and negating
// every comparison of a single-comparison condition flips its answer.
func FuzzWhen(f *testing.F) {
	for _, s := range []string{
		"{{status}} == Succeeded",
		"{{status}} != Failed && {{exitCode}} == 0",
		"{{status}} == 'a || b' || {{env.X}} != \"\"",
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
			if name == "duration" {
				return "1.5", true
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
		if err != nil {
			t.Fatalf("CheckWhen(%q) passed, EvalWhen failed: %v", cond, err)
		}
		if again, _ := EvalWhen(cond, vars); again != got {
			t.Fatalf("EvalWhen(%q) is %v, then %v", cond, got, again)
		}
		expr, err := parseWhen(cond)
		if err != nil || len(expr) != 1 || len(expr[0]) != 1 || strings.TrimSpace(cond) == "" {
			return
		}
		c := expr[0][0]
		op, neg := "==", "!="
		if c.notEqual {
			op, neg = neg, op
		}
		flipped := "'" + c.left + "' " + neg + " '" + c.right + "'"
		if strings.ContainsAny(c.left+c.right, `'"`) || CheckWhen(flipped) != nil {
			return
		}
		if other, err := EvalWhen(flipped, vars); err != nil || other == got {
			t.Fatalf("%q (%s) is %v and %q is %v, %v", cond, op, got, flipped, other, err)
		}
	})
}
