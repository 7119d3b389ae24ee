package pushgateway

import (
	"context"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

func parse(t *testing.T, text string) []*dto.MetricFamily {
	t.Helper()
	fams, err := exposition.Parse([]byte(text), exposition.FormatText)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func TestAccumulate(t *testing.T) {
	prev := parse(t, `# TYPE job_runs_total counter
job_runs_total{status="Succeeded"} 4
job_runs_total{status="Failed"} 2
# TYPE job_exit_code gauge
job_exit_code 1
# TYPE d histogram
d_bucket{le="1"} 1
d_bucket{le="10"} 2
d_bucket{le="+Inf"} 3
d_sum 60
d_count 3
# TYPE moved histogram
moved_bucket{le="5"} 1
moved_bucket{le="+Inf"} 1
moved_sum 1
moved_count 1
`)
	fams := parse(t, `# TYPE job_runs_total counter
job_runs_total{status="Failed"} 1
# TYPE job_exit_code gauge
job_exit_code 7
# TYPE d histogram
d_bucket{le="1"} 0
d_bucket{le="10"} 1
d_bucket{le="+Inf"} 1
d_sum 5
d_count 1
# TYPE moved histogram
moved_bucket{le="1"} 1
moved_bucket{le="+Inf"} 1
moved_sum 0.5
moved_count 1
`)
	Accumulate(fams, prev)
	text := string(exposition.Text(fams))
	for _, want := range []string{
		`job_runs_total{status="Failed"} 3`,
		`job_runs_total{status="Succeeded"} 4`,
		"job_exit_code 7",
		`d_bucket{le="1"} 1`, `d_bucket{le="10"} 3`, `d_bucket{le="+Inf"} 4`, "d_sum 65", "d_count 4",
		`moved_bucket{le="1"} 1`, "moved_count 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %s:\n%s", want, text)
		}
	}
}

// TestGatewayPreviousReadsOnlyItsGroup pushes to two groups of a real
// Pushgateway and checks that a job's read sees only its own, without the
// grouping labels.
func TestGatewayPreviousReadsOnlyItsGroup(t *testing.T) {
	pg := testenv.StartPushgateway(t)
	for path, body := range map[string]string{
		"/metrics/job/backup/env/prod": "# TYPE job_runs_total counter\njob_runs_total{status=\"Succeeded\"} 5\n",
		"/metrics/job/backup/env/dev":  "# TYPE job_runs_total counter\njob_runs_total{status=\"Succeeded\"} 9\n",
		"/metrics/job/other":           "# TYPE job_runs_total counter\njob_runs_total{status=\"Failed\"} 1\n",
	} {
		resp, err := http.Post(pg.URL+path, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("push %s: %s", path, resp.Status)
		}
	}
	for _, tc := range []struct {
		name string
		gw   Gateway
		want string
	}{
		{"grouped", Gateway{URL: pg.Addr, Job: "backup", Grouping: map[string]string{"env": "prod"}}, `job_runs_total{status="Succeeded"} 5`},
		{"other job", Gateway{URL: pg.URL + "/", Job: "other"}, `job_runs_total{status="Failed"} 1`},
		{"nothing yet", Gateway{URL: pg.URL, Job: "new"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev, err := tc.gw.Previous(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var runs []*dto.MetricFamily
			for _, mf := range prev {
				if mf.GetName() == "job_runs_total" {
					runs = append(runs, mf)
				}
			}
			got := strings.TrimSpace(strings.TrimPrefix(string(exposition.Text(runs)), "# TYPE job_runs_total counter\n"))
			if got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
}
