package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

// rulesFile is the source of the alerting rules; the PrometheusRule
// objects carry copies of its groups.
const rulesFile = "rules/metricwrap.rules.yml"

// ruleGroups decodes the groups of the rules file.
func ruleGroups(t *testing.T) []any {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Groups) == 0 {
		t.Fatalf("%s has no groups", rulesFile)
	}
	return f.Groups
}

// ruleExprs are the expressions of every rule of the rules file.
func ruleExprs(t *testing.T) []string {
	t.Helper()
	var exprs []string
	for _, g := range ruleGroups(t) {
		for _, r := range list(g, "rules") {
			exprs = append(exprs, str(r, "expr"))
		}
	}
	return exprs
}

// TestRulesPromtool checks the rules with Prometheus' own tool and runs
// their unit tests (rules/metricwrap.rules.test.yml): each alert fires on
// the series that should fire it, with its labels and annotations, and
// stays quiet otherwise.
func TestRulesPromtool(t *testing.T) {
	promtool := testenv.Promtool(t)
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", "metricwrap.rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(rulesFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// TestPrometheusRuleMatchesRulesFile: the PrometheusRule of
// deploy/kubernetes holds exactly the rules file's groups.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	want := ruleGroups(t)
	pr := byKind(t, kubeObjects(t), "PrometheusRule")
	if got := list(pr.doc, "spec", "groups"); !reflect.DeepEqual(got, want) {
		t.Errorf("%s spec.groups differ from %s: copy the groups over", pr.file, rulesFile)
	}
}
