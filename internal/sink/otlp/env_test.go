package otlp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink/otlp"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOptionsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		url  string
		temp otlp.Temporality
	}{
		{env: nil, url: otlp.DefaultEndpoint, temp: otlp.Cumulative},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, url: "http://collector:4318/v1/metrics"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://abc.live.dynatrace.com/api/v2/otlp/"},
			url: "https://abc.live.dynatrace.com/api/v2/otlp/v1/metrics"},
		// The signal-specific endpoint is used as it is, and wins.
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://b:9000/custom"},
			url: "http://b:9000/custom"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "DELTA"}, url: otlp.DefaultEndpoint, temp: otlp.Delta},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "lowmemory"}, url: otlp.DefaultEndpoint, temp: otlp.Delta},
	} {
		o, _, err := otlp.OptionsFromEnv(envOf(tc.env))
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if o.URL != tc.url {
			t.Errorf("%v: url %s, want %s", tc.env, o.URL, tc.url)
		}
		if tc.temp != "" && o.Temporality != tc.temp {
			t.Errorf("%v: temporality %s, want %s", tc.env, o.Temporality, tc.temp)
		}
	}
}

func TestOptionsFromEnvSettings(t *testing.T) {
	o, tlsFiles, err := otlp.OptionsFromEnv(envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS":             "Authorization=Api-Token%20dt0c01.abc,x-a=1",
		"OTEL_EXPORTER_OTLP_METRICS_HEADERS":     "x-a=2",
		"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT":     "2500",
		"OTEL_EXPORTER_OTLP_COMPRESSION":         "none",
		"OTEL_EXPORTER_OTLP_CERTIFICATE":         "/ca.pem",
		"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": "/metrics-ca.pem",
		"OTEL_RESOURCE_ATTRIBUTES":               "k8s.pod.name=p-1,deployment.environment=prod",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if o.Headers["Authorization"] != "Api-Token dt0c01.abc" || o.Headers["x-a"] != "2" {
		t.Errorf("headers %v", o.Headers)
	}
	if o.Resource["k8s.pod.name"] != "p-1" || o.Resource["deployment.environment"] != "prod" {
		t.Errorf("resource %v", o.Resource)
	}
	if o.Timeout != 2500*time.Millisecond || o.Compression != otlp.CompressionNone || tlsFiles.CAFile != "/metrics-ca.pem" {
		t.Errorf("timeout %s, compression %s, tls %+v", o.Timeout, o.Compression, tlsFiles)
	}
	for env, want := range map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc":              "http/protobuf only",
		"OTEL_EXPORTER_OTLP_HEADERS=novalue":            "no '='",
		"OTEL_EXPORTER_OTLP_HEADERS=k=%zzSECRET":        "not a valid key=value",
		"OTEL_EXPORTER_OTLP_ENDPOINT=localhost:4318":    "not an http(s)",
		"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT=soon":       "milliseconds",
		"OTEL_EXPORTER_OTLP_CLIENT_KEY=/k.pem":          "both",
		"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION=brotli": "gzip or none",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, _, err := otlp.OptionsFromEnv(envOf(map[string]string{k: v}))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v, want an error saying %q", env, err, want)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	h, err := otlp.ParseHeaders(" a = b%2Cc , k%3D=v%3D%25 ,, plus=a+b")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h["a"] != "b,c" || h["k="] != "v=%" || h["plus"] != "a+b" {
		t.Errorf("headers %q", h)
	}
}
