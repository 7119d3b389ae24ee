package jsonexporter_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
)

// TestConfig runs the exporter from a config file the way serve does: the
// options block reaches the registered factory, params narrow the
// declared target, and a bad option names the file and line.
func TestConfig(t *testing.T) {
	srv := jenkinsServer(t)
	cfg, err := config.LoadBytes("metricwrap.yml", []byte(`
exporters:
  jenkins:
    builtin: json
    params: {target: {pattern: 'http://127\.0\.0\.1:\d+/api/json', required: true}}
    options:
      metrics:
        - {name: jenkins_jobs, help: Number of Jenkins jobs., path: $.jobs, count: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "metricwrap.yml", ExportersDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := set.Get("jenkins")
	if !ok {
		t.Fatalf("no exporter jenkins in %v", set.Names())
	}
	if _, err := e.Params().Check(url.Values{"target": {"https://elsewhere.example.com/api/json"}}); err == nil {
		t.Error("narrowed pattern accepted another host")
	}
	params, err := e.Params().Check(url.Values{"target": {srv.URL + "/api/json"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Run(t.Context(), &exporter.Request{Params: params})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	fams := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return res.Families, nil })
	want := "# HELP jenkins_jobs Number of Jenkins jobs.\n# TYPE jenkins_jobs gauge\njenkins_jobs 7\n"
	if err := testutil.GatherAndCompare(fams, strings.NewReader(want), "jenkins_jobs"); err != nil {
		t.Error(err)
	}

	cfg, err = config.LoadBytes("metricwrap.yml", []byte(`
exporters:
  jenkins:
    builtin: json
    options:
      url: http://127.0.0.1/api/json
      metrics: [{name: jenkins_jobs, path: '$.jobs[', count: true}]
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "metricwrap.yml", ExportersDir: t.TempDir()})
	if want := "metricwrap.yml:6: exporters.jenkins.options.metrics[0]: path: invalid JSONPath \"$.jobs[\": unexpected eof"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Build = %v, want an error containing %q", err, want)
	}
}

// TestDocExample runs the example of the package documentation, pointed at
// the Jenkins fixture, so that what users copy works.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("json.go")
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	for _, line := range strings.Split(string(src), "\n") {
		if yml, ok := strings.CutPrefix(line, "//\t"); ok {
			example = append(example, yml)
		} else if len(example) > 0 {
			break
		}
	}
	secret := filepath.Join(t.TempDir(), "jenkins-token")
	if err := os.WriteFile(secret, []byte("11aa22bb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("testdata/jenkins.json")
	if err != nil {
		t.Fatal(err)
	}
	gotQuery := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pw, _ := r.BasicAuth(); user != "metrics" || pw != "11aa22bb" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		gotQuery <- r.URL.Query().Get("tree")
		_, _ = w.Write(fixture)
	}))
	t.Cleanup(srv.Close)
	yml := strings.Join(example, "\n")
	yml = strings.ReplaceAll(yml, "https://jenkins.example.com", srv.URL)
	yml = strings.ReplaceAll(yml, "/run/secrets/jenkins-token", secret)

	cfg, err := config.LoadBytes("metricwrap.yml", []byte(yml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yml)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "metricwrap.yml", ExportersDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := set.Get("jenkins")
	res, err := e.Run(t.Context(), &exporter.Request{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if q := <-gotQuery; q != "jobs[name,color,lastBuild[number,result,duration]]" {
		t.Errorf("Jenkins got tree=%q", q)
	}
	fams := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return res.Families, nil })
	want := `# HELP jenkins_job_builds_total Builds of each job so far (its last build's number).
# TYPE jenkins_job_builds_total counter
jenkins_job_builds_total{job="backup-nightly"} 412
jenkins_job_builds_total{job="deploy-production"} 87
jenkins_job_builds_total{job="integration-tests"} 1503
jenkins_job_builds_total{job="lint"} 2290
jenkins_job_builds_total{job="new-service"} 0
jenkins_job_builds_total{job="old-release"} 19
jenkins_job_builds_total{job="team-data"} 0
# HELP jenkins_job_last_build_duration_seconds Duration of each job's last build.
# TYPE jenkins_job_last_build_duration_seconds gauge
jenkins_job_last_build_duration_seconds{job="backup-nightly"} 184.233
jenkins_job_last_build_duration_seconds{job="deploy-production"} 65.21
jenkins_job_last_build_duration_seconds{job="integration-tests"} 0
jenkins_job_last_build_duration_seconds{job="lint"} 20.871
jenkins_job_last_build_duration_seconds{job="old-release"} 301.002
# HELP jenkins_job_last_build_result Result of each job's last build (1 success, 0 failed or unstable, -1 aborted).
# TYPE jenkins_job_last_build_result gauge
jenkins_job_last_build_result{job="backup-nightly"} 1
jenkins_job_last_build_result{job="deploy-production"} 0
jenkins_job_last_build_result{job="lint"} 0
jenkins_job_last_build_result{job="old-release"} -1
# HELP jenkins_jobs Number of Jenkins jobs.
# TYPE jenkins_jobs gauge
jenkins_jobs 7
`
	if err := testutil.GatherAndCompare(fams, strings.NewReader(want),
		"jenkins_jobs", "jenkins_job_last_build_result", "jenkins_job_builds_total", "jenkins_job_last_build_duration_seconds"); err != nil {
		t.Error(err)
	}
}
