package job

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Statuses of a run, named as Argo Workflows names them.
const (
	// StatusSucceeded: the command exited 0.
	StatusSucceeded = "Succeeded"
	// StatusFailed: the command exited non-zero or was ended by a signal
	// (including one metricwrap forwarded to it).
	StatusFailed = "Failed"
	// StatusError: the command never ran (not found, not executable), or
	// metricwrap had to kill it with SIGKILL (grace period over, second
	// SIGTERM): the job did not get to decide its own outcome.
	StatusError = "Error"
)

// Statuses lists every status, in the order job_runs_total shows them.
var Statuses = []string{StatusSucceeded, StatusFailed, StatusError}

// Names of the metrics exec always records (config.BuiltinJobMetrics).
const (
	MetricDuration    = "job_duration_seconds"
	MetricExitCode    = "job_exit_code"
	MetricLastRun     = "job_last_run_timestamp_seconds"
	MetricLastSuccess = "job_last_success_timestamp_seconds"
	MetricRuns        = "job_runs_total"
)

// Outcome is what a run's own metrics are made from.
type Outcome struct {
	Status   string
	ExitCode int
	Start    time.Time
	Duration time.Duration
}

// RunMetrics are the families exec records for every run. The timestamps
// are the end of the run. job_last_success_timestamp_seconds is present only
// when the run succeeded, so that a POST to a Pushgateway after a failure
// leaves the previous success in place. job_runs_total has one series, this
// run's status, with value 1 (pushgateway.Accumulate adds what the group holds).
func RunMetrics(o Outcome, prefix string) []*dto.MetricFamily {
	end := float64(o.Start.Add(o.Duration).UnixNano()) / 1e9
	fams := []*dto.MetricFamily{
		gauge(prefixed(prefix, MetricDuration), "How long the job ran, in seconds.", o.Duration.Seconds()),
		gauge(prefixed(prefix, MetricExitCode), "The job's exit code; 128+N when a signal N ended it.", float64(o.ExitCode)),
		gauge(prefixed(prefix, MetricLastRun), "When the job last finished, in unix seconds.", end),
	}
	if o.Status == StatusSucceeded {
		fams = append(fams, gauge(prefixed(prefix, MetricLastSuccess), "When the job last finished successfully, in unix seconds.", end))
	}
	one := 1.0
	fams = append(fams, &dto.MetricFamily{
		Name: ptr(prefixed(prefix, MetricRuns)),
		Help: ptr("Runs of the job by status (Succeeded, Failed, Error)."),
		Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{
			Label:   []*dto.LabelPair{pair("status", o.Status)},
			Counter: &dto.Counter{Value: &one},
		}},
	})
	return fams
}

func gauge(name, help string, v float64) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name:   &name,
		Help:   &help,
		Type:   dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}},
	}
}

// Keptn job-executor-service environment (REFERENCE "Keptn").
const (
	EnvKeptnProject = "KEPTN_PROJECT"
	EnvKeptnStage   = "KEPTN_STAGE"
	EnvKeptnService = "KEPTN_SERVICE"
	envLabelsPrefix = "LABELS_"
)

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// KeptnLabels are the labels of a job run by the Keptn job-executor-service,
// read from environ (KEY=VALUE entries): when KEPTN_PROJECT, KEPTN_STAGE and
// KEPTN_SERVICE are all set, keptn_project, keptn_stage, keptn_service,
// ci_platform="keptn", and one label per LABELS_<KEY> variable (the event's
// labels), named <key> in lower case. A LABELS_ variable whose key is no
// valid label name, or would replace one of the four, is returned in
// skipped. Outside Keptn (any of the three unset) there are none: LABELS_*
// alone is too generic a prefix to trust.
func KeptnLabels(environ []string) (labels map[string]string, skipped []string) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	project, stage, service := env[EnvKeptnProject], env[EnvKeptnStage], env[EnvKeptnService]
	if project == "" || stage == "" || service == "" {
		return nil, nil
	}
	labels = map[string]string{
		"keptn_project": project,
		"keptn_stage":   stage,
		"keptn_service": service,
		"ci_platform":   "keptn",
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v := env[k]
		key, ok := strings.CutPrefix(k, envLabelsPrefix)
		if !ok {
			continue
		}
		name := strings.ToLower(key)
		if _, taken := labels[name]; taken || !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__") {
			skipped = append(skipped, k)
			continue
		}
		labels[name] = v
	}
	slices.Sort(skipped)
	return labels, skipped
}

func ptr[T any](v T) *T { return &v }

func pair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: &name, Value: &value}
}

func sortPairs(ps []*dto.LabelPair) {
	slices.SortFunc(ps, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
}
