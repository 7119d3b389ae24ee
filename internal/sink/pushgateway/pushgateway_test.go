package pushgateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// families parses exposition text, keeping the order of first appearance.
func families(t *testing.T, text string) []*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse test families: %v", err)
	}
	var out []*dto.MetricFamily
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			if mf, ok := byName[f[2]]; ok {
				out = append(out, mf)
				delete(byName, f[2])
			}
		}
	}
	for _, mf := range byName {
		out = append(out, mf)
	}
	return out
}

func newSink(t *testing.T, o Options) *Sink {
	t.Helper()
	if o.Name == "" {
		o.Name = "pgw"
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func mkBatch(t *testing.T, job, text string) *batch.Batch {
	t.Helper()
	return &batch.Batch{ID: "1", Job: job, Families: families(t, text), Start: time.Now()}
}

// group is testenv's view of one grouping key.
type group = testenv.GatewayGroup

// readGroups returns what the gateway holds.
func readGroups(t *testing.T, base string) []group { return testenv.ReadPushgateway(t, base) }

// findGroup returns the group with exactly these grouping labels.
func findGroup(t *testing.T, groups []group, labels map[string]string) group {
	t.Helper()
	for _, g := range groups {
		if len(g.Labels) != len(labels) {
			continue
		}
		same := true
		for k, v := range labels {
			if got, ok := g.Labels[k]; !ok || got != v {
				same = false
			}
		}
		if same {
			return g
		}
	}
	t.Fatalf("no group %v among %d groups", labels, len(groups))
	return group{}
}

// sampleKey renders a metric's labels, without the grouping labels the
// gateway adds, as a sorted string.
func sampleKey(labels map[string]string, grouping map[string]string) string {
	var parts []string
	for k, v := range labels {
		if _, ok := grouping[k]; ok || k == "instance" {
			continue
		}
		parts = append(parts, k+"="+strconv.Quote(v))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func TestPushEveryType(t *testing.T) {
	gw := testenv.StartPushgateway(t)
	text := `# HELP c_total A counter.
# TYPE c_total counter
c_total{path="/a"} 3
c_total{path="/b"} 4.5
# HELP g A gauge with "quotes" and \\ backslash.
# TYPE g gauge
g{u="ünï©ødé ✓",q="say \"hi\"",n="two\nlines",b="back\\slash"} -1.25
# HELP h A histogram.
# TYPE h histogram
h_bucket{le="0.5"} 1
h_bucket{le="1"} 3
h_bucket{le="+Inf"} 4
h_sum 2.75
h_count 4
# HELP s A summary.
# TYPE s summary
s{quantile="0.5"} 0.2
s{quantile="0.99"} 0.9
s_sum 12
s_count 40
# TYPE u untyped
u 42 1700000000000
`
	want := map[string]struct {
		typ, help string
		samples   map[string]string // sampleKey -> value or "count sum buckets/quantiles"
	}{
		"c_total": {"COUNTER", "A counter.", map[string]string{`{path="/a"}`: "3", `{path="/b"}`: "4.5"}},
		"g": {"GAUGE", `A gauge with "quotes" and \ backslash.`, map[string]string{
			`{b="back\\slash",n="two\nlines",q="say \"hi\"",u="ünï©ødé ✓"}`: "-1.25"}},
		"h": {"HISTOGRAM", "A histogram.", map[string]string{`{}`: "4 2.75 +Inf=4 0.5=1 1=3"}},
		"s": {"SUMMARY", "A summary.", map[string]string{`{}`: "40 12 0.5=0.2 0.99=0.9"}},
		"u": {"UNTYPED", "", map[string]string{`{}`: "42"}},
	}
	grouping := map[string]string{"instance": "host-1"}
	s := newSink(t, Options{URL: gw.Addr, Grouping: grouping}) // host:port, as --pushgateway-address
	if err := s.Push(context.Background(), mkBatch(t, "every", text)); err != nil {
		t.Fatalf("Push: %v", err)
	}
	g := findGroup(t, readGroups(t, gw.URL), map[string]string{"job": "every", "instance": "host-1"})
	if len(g.Families) != len(want) {
		t.Errorf("gateway holds %d families, want %d: %v", len(g.Families), len(want), g.Families)
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			f, ok := g.Families[name]
			if !ok {
				t.Fatalf("family %s missing", name)
			}
			if f.Type != w.typ || f.Help != w.help {
				t.Errorf("type, help = %s, %q; want %s, %q", f.Type, f.Help, w.typ, w.help)
			}
			got := map[string]string{}
			for _, m := range f.Metrics {
				if m.Labels["job"] != "every" || m.Labels["instance"] != "host-1" {
					t.Errorf("grouping labels missing on %v", m.Labels)
				}
				got[sampleKey(m.Labels, map[string]string{"job": ""})] = render(m)
			}
			if len(got) != len(w.samples) {
				t.Errorf("samples = %v, want %v", got, w.samples)
			}
			for k, v := range w.samples {
				if got[k] != v {
					t.Errorf("sample %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// render writes a sample group as "value" or "count sum k=v...".
func render(m testenv.GatewayMetric) string {
	if m.Value != "" {
		return m.Value
	}
	kv := m.Buckets
	if kv == nil {
		kv = m.Quantiles
	}
	var parts []string
	for k, v := range kv {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(append([]string{m.Count, m.Sum}, parts...), " ")
}

func TestPutReplacesGroupPostReplacesNames(t *testing.T) {
	gw := testenv.StartPushgateway(t)
	const ab = "# TYPE a gauge\na 1\n# TYPE b gauge\nb 2\n"
	const b2 = "# TYPE b gauge\nb 3\n"
	tests := []struct {
		method string
		want   map[string]string // family -> value after the second push
	}{
		{MethodPost, map[string]string{"a": "1", "b": "3"}},
		{MethodPut, map[string]string{"b": "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			job := "replace-" + tt.method
			first := newSink(t, Options{URL: gw.URL, Method: MethodPut})
			if err := first.Push(context.Background(), mkBatch(t, job, ab)); err != nil {
				t.Fatal(err)
			}
			second := newSink(t, Options{URL: gw.URL, Method: strings.ToUpper(tt.method)})
			if err := second.Push(context.Background(), mkBatch(t, job, b2)); err != nil {
				t.Fatal(err)
			}
			g := findGroup(t, readGroups(t, gw.URL), map[string]string{"job": job})
			got := map[string]string{}
			for name, f := range g.Families {
				got[name] = f.Metrics[0].Value
			}
			if len(got) != len(tt.want) {
				t.Errorf("families = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestGroupingValues(t *testing.T) {
	gw := testenv.StartPushgateway(t)
	tests := []struct {
		name     string
		job      string
		grouping map[string]string
	}{
		{"slash", "grp", map[string]string{"path": "/var/tmp/x"}},
		{"empty", "grp", map[string]string{"path": ""}},
		{"slash in job", "team/nightly", map[string]string{"path": "a"}},
		{"several", "grp", map[string]string{"path": "/b", "zone": "eu west", "a": "=?&%+"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, Options{URL: gw.URL, Job: tt.job, Grouping: tt.grouping})
			if err := s.Push(context.Background(), mkBatch(t, "ignored", "# TYPE m gauge\nm 1\n")); err != nil {
				t.Fatalf("Push: %v", err)
			}
			key := map[string]string{"job": tt.job}
			for k, v := range tt.grouping {
				key[k] = v
			}
			g := findGroup(t, readGroups(t, gw.URL), key)
			if _, ok := g.Families["m"]; !ok {
				t.Errorf("m missing from group %v", key)
			}
		})
	}
}

func TestTimestampsStripped(t *testing.T) {
	gw := testenv.StartPushgateway(t)
	b := mkBatch(t, "ts", "# TYPE a gauge\na 1\n# TYPE b gauge\nb{x=\"1\"} 2 1700000000000\nb{x=\"2\"} 3\n")
	s := newSink(t, Options{URL: gw.URL})
	if err := s.Push(context.Background(), b); err != nil {
		t.Fatalf("Push: %v", err) // the gateway answers 400 to timestamps
	}
	if b.Families[1].Metric[0].TimestampMs == nil {
		t.Error("Push changed the shared batch")
	}
	g := findGroup(t, readGroups(t, gw.URL), map[string]string{"job": "ts"})
	if n := len(g.Families["b"].Metrics); n != 2 {
		t.Errorf("b has %d samples, want 2", n)
	}
}

func TestInconsistentHelpIsPermanent(t *testing.T) {
	gw := testenv.StartPushgateway(t)
	s := newSink(t, Options{URL: gw.URL, Method: MethodPost})
	if err := s.Push(context.Background(), mkBatch(t, "one", "# HELP x help A\n# TYPE x gauge\nx 1\n")); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, text string }{
		{"other type", "# HELP x help A\n# TYPE x counter\nx 1\n"},
		{"histogram", "# HELP x help A\n# TYPE x histogram\nx_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Push(context.Background(), mkBatch(t, "two", tt.text))
			if err == nil {
				t.Fatal("Push succeeded, want a 400")
			}
			if !sink.IsPermanent(err) {
				t.Errorf("error is retryable, want permanent: %v", err)
			}
			for _, part := range []string{"400", "inconsistent with existing metrics"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q lacks %q", err, part)
				}
			}
		})
	}
}

func TestBasicAuthRealGateway(t *testing.T) {
	// bcrypt (cost 4) of "s3cr3t-pa55", made once with golang.org/x/crypto/bcrypt;
	// a literal keeps x/crypto out of this module's direct requirements.
	const hash = "$2a$04$SICWPYz/Dvv4kSN5zNl/N.mzdTS6RxN8bJzAvQ9qYa4JYwm5D7n3q"
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte("basic_auth_users:\n  pusher: "+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := testenv.StartPushgateway(t, "--web.config.file="+cfg)
	tests := []struct {
		name      string
		url       string
		user, pwd string
		permanent bool
		ok        bool
	}{
		{name: "right", url: gw.URL, user: "pusher", pwd: "s3cr3t-pa55", ok: true},
		{name: "in url", url: "http://pusher:s3cr3t-pa55@" + gw.Addr, ok: true},
		{name: "wrong", url: gw.URL, user: "pusher", pwd: "wrong-pa55", permanent: true},
		{name: "none", url: gw.URL, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, Options{URL: tt.url, Username: tt.user, Password: tt.pwd})
			err := s.Push(context.Background(), mkBatch(t, "auth", "# TYPE m gauge\nm 1\n"))
			if tt.ok {
				if err != nil {
					t.Fatalf("Push: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Push succeeded without valid credentials")
			}
			if sink.IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", !tt.permanent, tt.permanent, err)
			}
			if !strings.Contains(err.Error(), "401") {
				t.Errorf("error %q does not name the 401", err)
			}
			if tt.pwd != "" && strings.Contains(err.Error(), tt.pwd) {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestErrorsByStatus(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusNotFound, true},
		{http.StatusRequestTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "gateway says no", tt.status)
			}))
			defer srv.Close()
			s := newSink(t, Options{URL: srv.URL, Password: "hunter2-secret", Username: "u"})
			err := s.Push(context.Background(), mkBatch(t, "j", "# TYPE m gauge\nm 1\n"))
			if err == nil {
				t.Fatal("Push succeeded")
			}
			if sink.IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", !tt.permanent, tt.permanent, err)
			}
			if !strings.Contains(err.Error(), "gateway says no") {
				t.Errorf("error %q lacks the gateway's message", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	type seen struct {
		method, path, user, pass, ctype string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		got <- seen{r.Method, r.URL.EscapedPath(), u, p, r.Header.Get("Content-Type")}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	tests := []struct {
		name string
		o    Options
		want seen
	}{
		{"put with auth", Options{URL: srv.URL + "/", Username: "u", Password: "p"},
			seen{method: "PUT", path: "/metrics/job/j", user: "u", pass: "p"}},
		{"post with prefix", Options{URL: srv.URL + "/gw", Method: "POST"},
			seen{method: "POST", path: "/gw/metrics/job/j"}},
		{"base64 forms", Options{URL: srv.URL, Job: "a/b", Grouping: map[string]string{"e": ""}},
			seen{method: "PUT", path: "/metrics/job@base64/YS9i/e@base64/="}},
		{"space as base64", Options{URL: srv.URL, Grouping: map[string]string{"zone": "eu west"}},
			seen{method: "PUT", path: "/metrics/job/j/zone@base64/ZXUgd2VzdA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, tt.o)
			if err := s.Push(context.Background(), mkBatch(t, "j", "# TYPE m gauge\nm 1\n")); err != nil {
				t.Fatal(err)
			}
			r := <-got
			if !strings.HasPrefix(r.ctype, "application/vnd.google.protobuf") {
				t.Errorf("content type %q, want delimited protobuf", r.ctype)
			}
			r.ctype = ""
			if r != tt.want {
				t.Errorf("request %+v, want %+v", r, tt.want)
			}
		})
	}
}

func TestPermanentBeforeSending(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
	}))
	defer srv.Close()
	tests := []struct {
		name string
		o    Options
		b    *batch.Batch
	}{
		{"job label", Options{URL: srv.URL}, mkBatch(t, "j", "# TYPE m gauge\nm{job=\"x\"} 1\n")},
		{"grouping label", Options{URL: srv.URL, Grouping: map[string]string{"zone": "a"}},
			mkBatch(t, "j", "# TYPE m gauge\nm{zone=\"b\"} 1\n")},
		{"no job", Options{URL: srv.URL}, mkBatch(t, "", "# TYPE m gauge\nm 1\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newSink(t, tt.o).Push(context.Background(), tt.b)
			if !sink.IsPermanent(err) {
				t.Errorf("err = %v, want a permanent error", err)
			}
		})
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) // closed a moment ago
	s := newSink(t, Options{URL: "http://pusher:topsecret@" + addr, Timeout: 5 * time.Second})
	err := s.Push(context.Background(), mkBatch(t, "j", "# TYPE m gauge\nm 1\n"))
	if err == nil {
		t.Fatal("Push to a closed port succeeded")
	}
	if sink.IsPermanent(err) {
		t.Errorf("error is permanent, want retryable: %v", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name %s", err, addr)
	}
	if strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error %q reveals the password", err)
	}
}

func TestContextCancelled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, _ *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	s := newSink(t, Options{URL: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Push(ctx, mkBatch(t, "j", "# TYPE m gauge\nm 1\n")) }()
	cancel()
	err := <-done
	if err == nil || sink.IsPermanent(err) {
		t.Errorf("err = %v, want a retryable error", err)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no name", Options{URL: "localhost:9091"}, "name is empty"},
		{"no url", Options{Name: "p"}, "url is empty"},
		{"bad scheme", Options{Name: "p", URL: "ftp://h:1"}, "not http or https"},
		{"query", Options{Name: "p", URL: "http://h:1/?a=b"}, "query"},
		{"bad url hides password", Options{Name: "p", URL: "http://u:pa%zzss@h:1"}, "not valid"},
		{"method", Options{Name: "p", URL: "h:1", Method: "patch"}, "neither put nor post"},
		{"job in grouping", Options{Name: "p", URL: "h:1", Grouping: map[string]string{"job": "x"}}, `"job"`},
		{"bad grouping name", Options{Name: "p", URL: "h:1", Grouping: map[string]string{"": "x"}}, "invalid name"},
		{"tls and client", Options{Name: "p", URL: "h:1", Client: &http.Client{}, TLS: newTLS()}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: err = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "pa%zzss") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func newTLS() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }

func TestConcurrentPushes(t *testing.T) {
	gw := testenv.StartPushgateway(t)
	s := newSink(t, Options{URL: gw.URL, Job: "conc", Method: MethodPost})
	const pushers = 8
	var batches []*batch.Batch // built here: t.Fatal only on the test goroutine
	for i := range pushers {
		batches = append(batches, mkBatch(t, "", fmt.Sprintf("# TYPE m_%d gauge\nm_%d %d\n", i, i, i)))
	}
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() {
			if err := s.Push(context.Background(), b); err != nil {
				t.Errorf("Push %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	g := findGroup(t, readGroups(t, gw.URL), map[string]string{"job": "conc"})
	for i := range pushers {
		name := fmt.Sprintf("m_%d", i)
		if f, ok := g.Families[name]; !ok || f.Metrics[0].Value != strconv.Itoa(i) {
			t.Errorf("%s = %+v, want value %d", name, f, i)
		}
	}
}
