package job

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/exposition"
)

func TestKeptnLabels(t *testing.T) {
	keptn := []string{"KEPTN_PROJECT=shop", "KEPTN_STAGE=dev", "KEPTN_SERVICE=cart"}
	for _, tc := range []struct {
		name        string
		env         []string
		want        map[string]string
		wantSkipped []string
	}{
		{"outside keptn", []string{"KEPTN_PROJECT=shop", "LABELS_TEAM=ops"}, nil, nil},
		{"keptn", keptn, map[string]string{
			"keptn_project": "shop", "keptn_stage": "dev", "keptn_service": "cart", "ci_platform": "keptn",
		}, nil},
		{"event labels", append(slices.Clone(keptn), "LABELS_TEAM=ops", "LABELS_GIT_COMMIT=abc", "LABELS_KEPTN_STAGE=x", "LABELS_1X=y", "OTHER=z"),
			map[string]string{
				"keptn_project": "shop", "keptn_stage": "dev", "keptn_service": "cart", "ci_platform": "keptn",
				"team": "ops", "git_commit": "abc",
			}, []string{"LABELS_1X", "LABELS_KEPTN_STAGE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := KeptnLabels(tc.env)
			if !maps.Equal(got, tc.want) || !slices.Equal(skipped, tc.wantSkipped) {
				t.Errorf("KeptnLabels = %v, %v; want %v, %v", got, skipped, tc.want, tc.wantSkipped)
			}
		})
	}
}

func TestJobMetrics(t *testing.T) {
	start := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name string
		o    Outcome
		want string
	}{
		{"success", Outcome{Status: StatusSucceeded, Start: start, Duration: 2500 * time.Millisecond}, `# HELP job_duration_seconds How long the job ran, in seconds.
# TYPE job_duration_seconds gauge
job_duration_seconds 2.5
# HELP job_exit_code The job's exit code; 128+N when a signal N ended it.
# TYPE job_exit_code gauge
job_exit_code 0
# HELP job_last_run_timestamp_seconds When the job last finished, in unix seconds.
# TYPE job_last_run_timestamp_seconds gauge
job_last_run_timestamp_seconds 1.7000000025e+09
# HELP job_last_success_timestamp_seconds When the job last finished successfully, in unix seconds.
# TYPE job_last_success_timestamp_seconds gauge
job_last_success_timestamp_seconds 1.7000000025e+09
# HELP job_runs_total Runs of the job by status (Succeeded, Failed, Error).
# TYPE job_runs_total counter
job_runs_total{status="Succeeded"} 1
`},
		{"failure has no success timestamp", Outcome{Status: StatusFailed, ExitCode: 143, Start: start, Duration: time.Second}, `# HELP job_duration_seconds How long the job ran, in seconds.
# TYPE job_duration_seconds gauge
job_duration_seconds 1
# HELP job_exit_code The job's exit code; 128+N when a signal N ended it.
# TYPE job_exit_code gauge
job_exit_code 143
# HELP job_last_run_timestamp_seconds When the job last finished, in unix seconds.
# TYPE job_last_run_timestamp_seconds gauge
job_last_run_timestamp_seconds 1.700000001e+09
# HELP job_runs_total Runs of the job by status (Succeeded, Failed, Error).
# TYPE job_runs_total counter
job_runs_total{status="Failed"} 1
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fams := RunMetrics(tc.o, "")
			if err := exposition.Validate(fams); err != nil {
				t.Fatal(err)
			}
			if got := string(exposition.Text(fams)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
