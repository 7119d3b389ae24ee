package job

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exposition"
)

// jobMetrics decodes a YAML list of job metrics through config, so the
// tests see what a loaded config holds.
func jobMetrics(t *testing.T, src string) []config.JobMetric {
	t.Helper()
	var ms []config.JobMetric
	if err := yaml.Unmarshal([]byte(src), &ms); err != nil {
		t.Fatalf("config: %v", err)
	}
	return ms
}

func TestVarsLookup(t *testing.T) {
	v := Vars{Status: StatusFailed, Duration: 1.5, ExitCode: 3, JobName: "backup",
		Getenv: func(n string) string { return map[string]string{"REGION": "eu"}[n] }}
	for _, tc := range []struct{ tmpl, want string }{
		{"{{status}}", "Failed"},
		{"{{ duration }}s", "1.5s"},
		{"code={{exitCode}}", "code=3"},
		{"{{job.name}}-{{env.REGION}}", "backup-eu"},
		{"[{{env.UNSET}}]", "[]"},
	} {
		t.Run(tc.tmpl, func(t *testing.T) {
			got, err := config.ExpandTemplate(tc.tmpl, v.Lookup)
			if err != nil || got != tc.want {
				t.Errorf("expand %q = %q, %v; want %q", tc.tmpl, got, err, tc.want)
			}
		})
	}
}

func TestCustomMetricsWhen(t *testing.T) {
	ms := jobMetrics(t, `
- name: runs_by_status
  help: Runs by status
  labels: [{key: status, value: '{{status}}'}, {key: job, value: '{{job.name}}'}]
  counter: {value: '1'}
- name: success_duration_seconds
  help: Duration of successful runs
  when: '{{status}} == Succeeded'
  histogram: {value: '{{duration}}', buckets: [1, 10, 100]}
- name: failed_exit_code
  help: Exit code of a failure
  when: "{{status}} != Succeeded && {{exitCode}} != '0'"
  gauge: {value: '{{exitCode}}'}
- name: in_region
  help: Runs in region eu or us
  when: '{{env.REGION}} == eu || {{env.REGION}} == us'
  gauge: {value: '1'}
`)
	env := func(r string) func(string) string {
		return func(n string) string {
			if n == "REGION" {
				return r
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name string
		vars Vars
		want string
	}{
		{"success in eu", Vars{Status: StatusSucceeded, Duration: 5, JobName: "b", Getenv: env("eu")}, `
# HELP p_runs_by_status Runs by status
# TYPE p_runs_by_status counter
p_runs_by_status{job="b",status="Succeeded"} 1
# HELP p_success_duration_seconds Duration of successful runs
# TYPE p_success_duration_seconds histogram
p_success_duration_seconds_bucket{le="1"} 0
p_success_duration_seconds_bucket{le="10"} 1
p_success_duration_seconds_bucket{le="100"} 1
p_success_duration_seconds_bucket{le="+Inf"} 1
p_success_duration_seconds_sum 5
p_success_duration_seconds_count 1
# HELP p_in_region Runs in region eu or us
# TYPE p_in_region gauge
p_in_region 1
`},
		{"failure in asia", Vars{Status: StatusFailed, Duration: 5, ExitCode: 2, JobName: "b", Getenv: env("asia")}, `
# HELP p_runs_by_status Runs by status
# TYPE p_runs_by_status counter
p_runs_by_status{job="b",status="Failed"} 1
# HELP p_failed_exit_code Exit code of a failure
# TYPE p_failed_exit_code gauge
p_failed_exit_code 2
`},
		{"error with exit 0 is not a failure code", Vars{Status: StatusError, JobName: "b", Getenv: env("us")}, `
# HELP p_runs_by_status Runs by status
# TYPE p_runs_by_status counter
p_runs_by_status{job="b",status="Error"} 1
# HELP p_in_region Runs in region eu or us
# TYPE p_in_region gauge
p_in_region 1
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fams, err := CustomMetrics(ms, "p", tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			if err := exposition.Validate(fams); err != nil {
				t.Fatalf("invalid families: %v", err)
			}
			if got := string(exposition.Text(fams)); got != strings.TrimPrefix(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestCustomMetricsBadValueLeavesOthers(t *testing.T) {
	ms := jobMetrics(t, `
- name: from_env
  help: A value from the environment
  gauge: {value: '{{env.COST}}'}
- name: negative
  help: A counter going down
  counter: {value: '{{env.DELTA}}'}
- name: ok
  help: Fine
  gauge: {value: '{{exitCode}}'}
`)
	env := map[string]string{"COST": "cheap", "DELTA": "-1"}
	fams, err := CustomMetrics(ms, "", Vars{Status: StatusSucceeded, Getenv: func(n string) string { return env[n] }})
	if err == nil || !strings.Contains(err.Error(), "from_env") || !strings.Contains(err.Error(), "negative") {
		t.Errorf("err = %v, want one naming from_env and negative", err)
	}
	if len(fams) != 1 || fams[0].GetName() != "ok" || fams[0].GetType() != dto.MetricType_GAUGE {
		t.Errorf("families = %v, want only ok", fams)
	}
}

// TestCustomMetricsArgoWhen runs the conditions of Argo's own
// documentation (conditionals and metrics) on finished runs.
func TestCustomMetricsArgoWhen(t *testing.T) {
	ms := jobMetrics(t, `
- name: failed_total
  help: Failed runs
  when: "{{status}} == Failed"
  counter: {value: '1'}
- name: complex
  help: Failed with a known code, or slow and successful
  when: >-
    ( {{status}} == Failed &&
      {{exitCode}} in (1, 2)
    ) ||
    ( {{status}} == Succeeded && {{duration}} > 60 )
  gauge: {value: '{{exitCode}}'}
- name: regex
  help: Status matches
  when: "{{status}} =~ Fai"
  gauge: {value: '{{= duration * 1000 }}'}
`)
	for _, tc := range []struct {
		name string
		vars Vars
		want []string
	}{
		{"fails with 2", Vars{Status: StatusFailed, ExitCode: 2, Duration: 1.5}, []string{"p_failed_total", "p_complex", "p_regex"}},
		{"fails with 3", Vars{Status: StatusFailed, ExitCode: 3, Duration: 1.5}, []string{"p_failed_total", "p_regex"}},
		{"slow success", Vars{Status: StatusSucceeded, Duration: 61}, []string{"p_complex"}},
		{"fast success", Vars{Status: StatusSucceeded, Duration: 59}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fams, err := CustomMetrics(ms, "p", tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fams {
				got = append(got, f.GetName())
				if f.GetName() == "p_regex" && f.Metric[0].GetGauge().GetValue() != 1500 {
					t.Errorf("{{= duration * 1000 }} = %v, want 1500", f.Metric[0].GetGauge().GetValue())
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("recorded %v, want %v", got, tc.want)
			}
		})
	}
}
