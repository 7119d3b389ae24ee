package remotewrite

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// startPrometheus runs a real Prometheus that accepts remote write.
func startPrometheus(t *testing.T) *testenv.Process {
	t.Helper()
	bin := testenv.Prometheus(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return testenv.StartServer(t, bin, "/-/ready",
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address={addr}",
		"--web.enable-remote-write-receiver",
	)
}

// query runs an instant query at ms and returns "name{labels}" -> value.
func query(t *testing.T, base, q string, ms int64) map[string]string {
	t.Helper()
	u := base + "/api/v1/query?" + url.Values{
		"query": {q},
		"time":  {strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)},
	}.Encode()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	if doc.Status != "success" {
		t.Fatalf("query %s: %s", q, doc.Error)
	}
	out := map[string]string{}
	for _, r := range doc.Data.Result {
		var parts []string
		for k, v := range r.Metric {
			if k != "__name__" {
				parts = append(parts, k+"="+strconv.Quote(v))
			}
		}
		sort.Strings(parts)
		out[r.Metric["__name__"]+"{"+strings.Join(parts, ",")+"}"] = fmt.Sprint(r.Value[1])
	}
	return out
}

// counter is a reverse proxy that records the series count of each write
// request it passes on.
type counter struct {
	mu    sync.Mutex
	sizes []int
}

func (c *counter) handler(t *testing.T, target string) http.Handler {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			t.Errorf("body is not snappy: %v", err)
		}
		c.mu.Lock()
		c.sizes = append(c.sizes, len(decodeRequest(t, raw)))
		c.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		proxy.ServeHTTP(w, r)
	})
}

func newSink(t *testing.T, o Options) *Sink {
	t.Helper()
	if o.Name == "" {
		o.Name = "rw"
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

const promText = `# TYPE rw_requests_total counter
rw_requests_total{code="200",path="/a"} 3
rw_requests_total{code="500",path="/a"} 1
# TYPE rw_temp gauge
rw_temp{Room="Küche",note="say \"hi\"\nbye",empty=""} -1.5
rw_temp{Room="hall"} 21
# TYPE rw_latency histogram
rw_latency_bucket{le="0.5"} 1
rw_latency_bucket{le="1"} 3
rw_latency_bucket{le="+Inf"} 4
rw_latency_sum 2.75
rw_latency_count 4
# TYPE rw_size summary
rw_size{quantile="0.5"} 0.2
rw_size{quantile="0.99"} 0.9
rw_size_sum 12
rw_size_count 40
# TYPE rw_plain untyped
rw_plain 42
`

func TestPrometheusReceivesEveryType(t *testing.T) {
	prom := startPrometheus(t)
	c := &counter{}
	proxy := httptest.NewServer(c.handler(t, prom.URL))
	defer proxy.Close()

	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	fams := families(t, promText)
	own := start.Add(-90 * time.Second).UnixMilli()
	fams[1].Metric[1].TimestampMs = &own // rw_temp{Room="hall"} carries its own time
	b := &batch.Batch{ID: "1", Job: "j", Families: fams, Start: start}
	s := newSink(t, Options{URL: proxy.URL + "/api/v1/write", BatchSize: 4})
	if err := s.Push(context.Background(), b); err != nil {
		t.Fatalf("Push: %v", err)
	}

	if want := []int{4, 4, 4, 2}; !slices.Equal(c.sizes, want) {
		t.Errorf("requests carried %v series, want %v", c.sizes, want)
	}
	want := map[string]string{
		`rw_requests_total{code="200",path="/a"}`:      "3",
		`rw_requests_total{code="500",path="/a"}`:      "1",
		`rw_temp{Room="Küche",note="say \"hi\"\nbye"}`: "-1.5",
		`rw_temp{Room="hall"}`:                         "21",
		`rw_latency_bucket{le="0.5"}`:                  "1",
		`rw_latency_bucket{le="1"}`:                    "3",
		`rw_latency_bucket{le="+Inf"}`:                 "4",
		`rw_latency_sum{}`:                             "2.75",
		`rw_latency_count{}`:                           "4",
		`rw_size{quantile="0.5"}`:                      "0.2",
		`rw_size{quantile="0.99"}`:                     "0.9",
		`rw_size_sum{}`:                                "12",
		`rw_size_count{}`:                              "40",
		`rw_plain{}`:                                   "42",
	}
	got := query(t, prom.URL, `{__name__=~"rw_.+"}`, start.UnixMilli())
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Prometheus holds %d series, want %d: %v", len(got), len(want), got)
	}

	t.Run("timestamps", func(t *testing.T) {
		ts := query(t, prom.URL, `timestamp({__name__=~"rw_temp|rw_plain"})`, start.UnixMilli())
		tests := []struct {
			series string
			want   time.Time
		}{
			{`{Room="hall"}`, time.UnixMilli(own)},
			{`{}`, start},
		}
		for _, tt := range tests {
			w := strconv.FormatFloat(float64(tt.want.UnixMilli())/1000, 'f', -1, 64)
			if ts[tt.series] != w {
				t.Errorf("timestamp of %s = %s, want %s (all: %v)", tt.series, ts[tt.series], w, ts)
			}
		}
		// Before its own timestamp the series must not exist yet.
		before := query(t, prom.URL, `rw_temp{Room="hall"}`, own-1)
		if len(before) != 0 {
			t.Errorf("series visible before its timestamp: %v", before)
		}
	})

	t.Run("duplicate sample is permanent", func(t *testing.T) {
		fams := families(t, "# TYPE rw_plain untyped\nrw_plain 43\n")
		err := s.Push(context.Background(), &batch.Batch{Families: fams, Start: start})
		if err == nil {
			t.Fatal("Prometheus accepted a second value at the same timestamp")
		}
		if !sink.IsPermanent(err) {
			t.Errorf("error is retryable, want permanent: %v", err)
		}
		if !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "duplicate sample") {
			t.Errorf("error %q lacks the status or Prometheus's message", err)
		}
	})
}

func TestRequestShape(t *testing.T) {
	type seen struct {
		path, encoding, ctype, version, auth string
		series                               int
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			t.Errorf("body is not snappy: %v", err)
		}
		got <- seen{r.URL.Path, r.Header.Get("Content-Encoding"), r.Header.Get("Content-Type"),
			r.Header.Get("X-Prometheus-Remote-Write-Version"), r.Header.Get("Authorization"),
			len(decodeRequest(t, raw))}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	base := seen{path: "/api/v1/write", encoding: "snappy", ctype: "application/x-protobuf", version: "0.1.0", series: 2}
	with := func(auth string) seen { s := base; s.auth = auth; return s }
	tests := []struct {
		name string
		o    Options
		want seen
	}{
		{"no auth", Options{URL: srv.URL + "/api/v1/write"}, base},
		{"basic", Options{URL: srv.URL + "/api/v1/write", Username: "u", Password: "p"}, with("Basic dTpw")},
		{"basic in url", Options{URL: "http://u:p@" + host + "/api/v1/write"}, with("Basic dTpw")},
		{"bearer", Options{URL: srv.URL + "/api/v1/write", BearerToken: "tok"}, with("Bearer tok")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &batch.Batch{Families: families(t, "# TYPE a gauge\na 1\n# TYPE b counter\nb 2\n"), Start: time.Now()}
			if err := newSink(t, tt.o).Push(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if r := <-got; r != tt.want {
				t.Errorf("request %+v, want %+v", r, tt.want)
			}
		})
	}
}

func TestEmptyBatchSendsNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, _ *http.Request) {
		t.Error("unexpected request")
	}))
	defer srv.Close()
	if err := newSink(t, Options{URL: srv.URL}).Push(context.Background(), &batch.Batch{}); !sink.IsPermanent(err) {
		t.Fatalf("Push(empty) = %v, want a permanent refusal", err)
	}
}

func TestErrorsByStatus(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusForbidden, true},
		{http.StatusNotFound, true},
		{http.StatusRequestEntityTooLarge, true},
		{http.StatusRequestTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusServiceUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "receiver says no", tt.status)
			}))
			defer srv.Close()
			s := newSink(t, Options{URL: srv.URL, Username: "u", Password: "hunter2-secret"})
			err := s.Push(context.Background(), &batch.Batch{Families: families(t, "# TYPE a gauge\na 1\n")})
			if err == nil {
				t.Fatal("Push succeeded")
			}
			if sink.IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", !tt.permanent, tt.permanent, err)
			}
			for _, part := range []string{"receiver says no", strconv.Itoa(tt.status), srv.URL} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q lacks %q", err, part)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestStopsAtFirstFailure(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if requests == 2 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	text := "# TYPE m gauge\nm{i=\"1\"} 1\nm{i=\"2\"} 1\nm{i=\"3\"} 1\nm{i=\"4\"} 1\nm{i=\"5\"} 1\n"
	err := newSink(t, Options{URL: srv.URL, BatchSize: 2}).Push(context.Background(), &batch.Batch{Families: families(t, text)})
	if err == nil || sink.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "after 2 samples") {
		t.Errorf("error %q does not say how far it got", err)
	}
	if requests != 2 {
		t.Errorf("%d requests, want 2 (stop after the failure)", requests)
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) // closed a moment ago
	s := newSink(t, Options{URL: "http://u:topsecret@" + addr + "/api/v1/write", Timeout: 5 * time.Second})
	err := s.Push(context.Background(), &batch.Batch{Families: families(t, "# TYPE a gauge\na 1\n")})
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

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no name", Options{URL: "http://h:1/w"}, "name is empty"},
		{"no url", Options{Name: "r"}, "url is empty"},
		{"no scheme", Options{Name: "r", URL: "h:1"}, "not valid"},
		{"bad scheme", Options{Name: "r", URL: "ftp://h:1/w"}, "not http or https"},
		{"bad url hides password", Options{Name: "r", URL: "http://u:pa%zzss@h:1"}, "not valid"},
		{"basic and bearer", Options{Name: "r", URL: "http://h:1", Username: "u", BearerToken: "t"}, "not both"},
		{"negative batch", Options{Name: "r", URL: "http://h:1", BatchSize: -1}, "negative"},
		{"tls and client", Options{Name: "r", URL: "https://h:1", Client: &http.Client{},
			TLS: &tls.Config{MinVersion: tls.VersionTLS12}}, "not both"},
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

func TestConcurrentPushes(t *testing.T) {
	var mu sync.Mutex
	received := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			t.Errorf("body is not snappy: %v", err)
			return
		}
		series := decodeRequest(t, raw)
		mu.Lock()
		defer mu.Unlock()
		for _, s := range series {
			received[s.String()]++
		}
	}))
	defer srv.Close()
	s := newSink(t, Options{URL: srv.URL, BatchSize: 3})
	const pushers = 8
	var batches []*batch.Batch // built here: t.Fatal only on the test goroutine
	for i := range pushers {
		text := fmt.Sprintf("# TYPE m gauge\nm{p=\"%d\",i=\"1\"} 1\nm{p=\"%d\",i=\"2\"} 2\n# TYPE n counter\nn{p=\"%d\"} 3\n", i, i, i)
		batches = append(batches, &batch.Batch{Families: families(t, text), Start: time.UnixMilli(int64(1000 + i))})
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
	if len(received) != pushers*3 {
		t.Errorf("received %d distinct series, want %d: %v", len(received), pushers*3, received)
	}
	for k, n := range received {
		if n != 1 {
			t.Errorf("%s received %d times", k, n)
		}
	}
}
