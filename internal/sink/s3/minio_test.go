package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

const (
	rootUser     = "metricwrap"
	rootPassword = "minio-test-s3cr3t-value"
)

// minioServer is a MinIO started for one test.
type minioServer struct {
	URL    string
	client *minio.Client // root credentials
	stop   func()
}

// startMinio runs a MinIO server on a free port with its data, config and
// certs dirs in t.TempDir(), and stops it when the test ends.
// testenv.StartServer cannot pass the root credentials, which MinIO reads
// only from its environment.
func startMinio(t *testing.T) *minioServer {
	t.Helper()
	bin := testenv.Minio(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	console := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", addr, "--console-address", console, "--certs-dir", filepath.Join(dir, "certs"), "--quiet")
	cmd.Env = append(os.Environ(),
		"HOME="+dir, // MinIO creates ~/.minio even with --certs-dir
		"MINIO_ROOT_USER="+rootUser,
		"MINIO_ROOT_PASSWORD="+rootPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start minio: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("minio output:\n%s", out.String())
		}
	})
	url := "http://" + addr
	testenv.WaitHTTP(t, url+"/minio/health/ready", 30*time.Second)
	client, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(rootUser, rootPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	return &minioServer{URL: url, client: client, stop: stop}
}

// bucket creates a fresh bucket.
func (m *minioServer) bucket(t *testing.T, name string) string {
	t.Helper()
	if err := m.client.MakeBucket(t.Context(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
	return name
}

// objects lists every key in bucket, sorted.
func (m *minioServer) objects(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range m.client.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", bucket, o.Err)
		}
		keys = append(keys, o.Key)
	}
	slices.Sort(keys)
	return keys
}

// get returns an object's content and content type.
func (m *minioServer) get(t *testing.T, bucket, key string) ([]byte, string) {
	t.Helper()
	obj, err := m.client.GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	st, err := obj.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return data, st.ContentType
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

const testExposition = `# HELP dummy_gauge A gauge.
# TYPE dummy_gauge gauge
dummy_gauge{ci_platform="keptn"} 0.5
# HELP jobs_total Jobs, with a label that needs escaping.
# TYPE jobs_total counter
jobs_total{ci_platform="keptn",path="a \"b\"\\c\n"} 3
# HELP latency_seconds A histogram.
# TYPE latency_seconds histogram
latency_seconds_bucket{ci_platform="keptn",le="0.1"} 1
latency_seconds_bucket{ci_platform="keptn",le="+Inf"} 2
latency_seconds_sum{ci_platform="keptn"} 0.35
latency_seconds_count{ci_platform="keptn"} 2
`

// parseText parses exposition text into families sorted by name.
func parseText(t *testing.T, text []byte) []*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	var fams []*dto.MetricFamily
	for _, mf := range m {
		fams = append(fams, mf)
	}
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return fams
}

func testBatch(t *testing.T, id string) *batch.Batch {
	t.Helper()
	return &batch.Batch{
		ID: id, Exporter: "dummy", Job: "DummyExporter",
		Params:   map[string]string{"target": "core-sw01"},
		Labels:   map[string]string{"ci_platform": "keptn"},
		Families: parseText(t, []byte(testExposition)),
		Start:    time.Date(2024, 12, 31, 23, 59, 58, 5e8, time.FixedZone("X", -2*3600)),
		Duration: 250 * time.Millisecond,
		ExitCode: 1, Error: "exit status 1",
	}
}

// TestMinio runs the tests that share one MinIO server (it takes seconds to
// start).
func TestMinio(t *testing.T) {
	t.Parallel()
	m := startMinio(t)
	t.Run("push", func(t *testing.T) { testPush(t, m) })
	t.Run("from env", func(t *testing.T) { testPushFromEnv(t, m) })
	t.Run("errors", func(t *testing.T) { testPushErrors(t, m) })
	t.Run("context", func(t *testing.T) { testPushHonoursContext(t, m) })
}

func testPush(t *testing.T, m *minioServer) {
	bucket := m.bucket(t, "runs")
	s, err := New(Options{Name: "archive", Endpoint: m.URL, Bucket: bucket, Prefix: "/metrics/prod/",
		AccessKeyID: rootUser, SecretAccessKey: rootPassword, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := testBatch(t, "run/7")
	if err := s.Push(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	const dir = "metrics/prod/dummy/2025/01/01/"
	base := dir + "2025-01-01T01:59:58Z-run_7-" + segment("run/7")[len("run_7-"):]
	want := []string{base + ".json", base + ".prom"}
	if got := m.objects(t, bucket); !slices.Equal(got, want) {
		t.Fatalf("objects = %q, want %q", got, want)
	}

	t.Run("prom parses back to the same families", func(t *testing.T) {
		data, ctype := m.get(t, bucket, base+".prom")
		if ctype != ContentTypeProm {
			t.Errorf("content type %q, want %q", ctype, ContentTypeProm)
		}
		got := parseText(t, data)
		if len(got) != len(b.Families) {
			t.Fatalf("%d families, want %d:\n%s", len(got), len(b.Families), data)
		}
		for i := range got {
			if !proto.Equal(got[i], b.Families[i]) {
				t.Errorf("family %d differs:\ngot  %v\nwant %v", i, got[i], b.Families[i])
			}
		}
	})

	t.Run("json record", func(t *testing.T) {
		data, ctype := m.get(t, bucket, base+".json")
		if ctype != ContentTypeJSON {
			t.Errorf("content type %q, want %q", ctype, ContentTypeJSON)
		}
		var rec record
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		want := record{
			ID: "run/7", Exporter: "dummy", Job: "DummyExporter",
			Params: b.Params, Labels: b.Labels,
			Start: b.Start.UTC(), DurationSeconds: 0.25, ExitCode: 1, Error: "exit status 1",
			Series: 3, PromKey: base + ".prom",
		}
		if fmt.Sprintf("%+v", rec) != fmt.Sprintf("%+v", want) {
			t.Errorf("record\ngot  %+v\nwant %+v", rec, want)
		}
	})

	t.Run("same batch again overwrites", func(t *testing.T) {
		again := testBatch(t, "run/7")
		again.Families = again.Families[:1]
		if err := s.Push(t.Context(), again); err != nil {
			t.Fatal(err)
		}
		if got := m.objects(t, bucket); !slices.Equal(got, want) {
			t.Fatalf("objects = %q, want %q", got, want)
		}
		data, _ := m.get(t, bucket, base+".prom")
		if got := parseText(t, data); len(got) != 1 {
			t.Errorf("prom object not replaced: %d families", len(got))
		}
	})

	t.Run("concurrent pushes", func(t *testing.T) {
		other := m.bucket(t, "concurrent")
		cs, err := New(Options{Name: "c", Endpoint: m.URL, Bucket: other, AccessKeyID: rootUser, SecretAccessKey: rootPassword})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = cs.Push(t.Context(), testBatch(t, fmt.Sprint("id", i))) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("push %d: %v", i, err)
			}
		}
		if got := len(m.objects(t, other)); got != 2*len(errs) {
			t.Errorf("%d objects, want %d", got, 2*len(errs))
		}
	})
}

func testPushFromEnv(t *testing.T, m *minioServer) {
	tests := []struct {
		name   string
		env    map[string]string
		bucket string
		dir    string
	}{
		{
			name: "ceph variables",
			env: map[string]string{"S3_ENDPOINT_URL": m.URL, "CEPH_BUCKET": "ceph", "CEPH_BUCKET_PREFIX": "ci/",
				"CEPH_KEY_ID": rootUser, "CEPH_SECRET_KEY": rootPassword,
				// Decoys: the AWS pair must not be used alongside CEPH_*.
				"AWS_ACCESS_KEY_ID": "wrong", "AWS_SECRET_ACCESS_KEY": "wrong-secret"},
			bucket: "ceph",
			dir:    "ci/dummy/2025/01/01/",
		},
		{
			name: "object storage and aws variables",
			env: map[string]string{"OBJECT_STORAGE_ENDPOINT_URL": m.URL, "OBJECT_STORAGE_BUCKET_NAME": "objstore",
				"AWS_ACCESS_KEY_ID": rootUser, "AWS_SECRET_ACCESS_KEY": rootPassword},
			bucket: "objstore",
			dir:    "dummy/2025/01/01/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.bucket(t, tt.bucket)
			o, err := OptionsFromEnv(envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != "s3" {
				t.Errorf("name %q, want s3", s.Name())
			}
			if err := s.Push(t.Context(), testBatch(t, "e1")); err != nil {
				t.Fatal(err)
			}
			base := tt.dir + "2025-01-01T01:59:58Z-e1"
			if got, want := m.objects(t, tt.bucket), []string{base + ".json", base + ".prom"}; !slices.Equal(got, want) {
				t.Errorf("objects = %q, want %q", got, want)
			}
		})
	}
}

func testPushErrors(t *testing.T, m *minioServer) {
	bucket := m.bucket(t, "errors")
	tests := []struct {
		name string
		opts Options
		want string // in the error text
	}{
		{"wrong secret", Options{Bucket: bucket, AccessKeyID: rootUser, SecretAccessKey: "wrong-" + rootPassword}, "(SignatureDoesNotMatch, 403); check the access key id and secret access key"},
		{"unknown key id", Options{Bucket: bucket, AccessKeyID: "nobody", SecretAccessKey: rootPassword}, "(InvalidAccessKeyId, 403); check the access key id"},
		{"anonymous", Options{Bucket: bucket}, "(AccessDenied, 403); check the credentials"},
		{"missing bucket", Options{Bucket: "no-such-bucket", AccessKeyID: rootUser, SecretAccessKey: rootPassword}, "(NoSuchBucket, 404); create bucket no-such-bucket"},
		{"missing bucket with region", Options{Bucket: "no-such-bucket", Region: "us-east-1", AccessKeyID: rootUser, SecretAccessKey: rootPassword}, "(NoSuchBucket, 404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Name, o.Endpoint = "archive", m.URL
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Push(t.Context(), testBatch(t, "x"))
			if err == nil {
				t.Fatal("push succeeded")
			}
			if !sink.IsPermanent(err) {
				t.Errorf("not permanent: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if o.SecretAccessKey != "" && strings.Contains(err.Error(), o.SecretAccessKey) {
				t.Errorf("error leaks the secret: %v", err)
			}
			if !strings.Contains(err.Error(), "s3 sink archive") {
				t.Errorf("error does not name the sink: %v", err)
			}
		})
	}
	if got := m.objects(t, bucket); len(got) != 0 {
		t.Errorf("failed pushes left objects: %q", got)
	}
}

func TestPushToStoppedMinio(t *testing.T) {
	t.Parallel()
	m := startMinio(t)
	bucket := m.bucket(t, "stopped")
	var logged syncBuffer
	s, err := New(Options{Name: "archive", Endpoint: m.URL, Bucket: bucket, AccessKeyID: rootUser, SecretAccessKey: rootPassword,
		Timeout: 5 * time.Second, Logger: slogTo(&logged)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Push(t.Context(), testBatch(t, "before")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "before.json") {
		t.Errorf("no debug line for the delivered batch: %q", logged.String())
	}
	m.stop()
	err = s.Push(t.Context(), testBatch(t, "after"))
	if err == nil {
		t.Fatal("push to a stopped server succeeded")
	}
	if sink.IsPermanent(err) {
		t.Errorf("a stopped server gave a permanent error: %v", err)
	}
	if !strings.Contains(err.Error(), "after.prom") {
		t.Errorf("error does not name the object: %v", err)
	}
	if strings.Contains(logged.String(), rootPassword) {
		t.Errorf("log leaks the secret: %s", logged.String())
	}
}

func testPushHonoursContext(t *testing.T, m *minioServer) {
	bucket := m.bucket(t, "ctx")
	s, err := New(Options{Name: "archive", Endpoint: m.URL, Bucket: bucket, AccessKeyID: rootUser, SecretAccessKey: rootPassword})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = s.Push(ctx, testBatch(t, "c"))
	if err == nil || sink.IsPermanent(err) {
		t.Fatalf("push with a cancelled context: err = %v, want a non-permanent error", err)
	}
	if got := m.objects(t, bucket); len(got) != 0 {
		t.Errorf("cancelled push wrote %q", got)
	}
}
