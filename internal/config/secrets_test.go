package config

import (
	"strings"
	"testing"

	"github.com/metricwrap/metricwrap/internal/redact"
)

// TestSecretsRegisteredForRedaction: every credential the sinks take,
// written in the file or read from the environment without a ${VAR}, is
// hidden on every surface once the config is loaded.
func TestSecretsRegisteredForRedaction(t *testing.T) {
	env := map[string]string{
		"REMOTE_WRITE_PASSWORD":              "rw-password-canary",
		"REMOTE_WRITE_BEARER_TOKEN":          "rw-bearer-canary",
		"OTEL_EXPORTER_OTLP_METRICS_HEADERS": "Authorization=Api-Token%20otlp-metrics-canary",
		"OTEL_EXPORTER_OTLP_HEADERS":         "x-api-key=otlp-key-canary,Authorization=Api-Token otlp-all-canary",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	if _, err := LoadBytes("s.yml", []byte(`
sinks:
  o: {type: otlp, url: "http://c:4318/v1/metrics", headers: {Authorization: "Api-Token literal-header-canary"}}
`)); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"rw-password-canary", "rw-bearer-canary", "otlp-metrics-canary", "otlp-key-canary",
		"Api-Token otlp-all-canary", "Api-Token literal-header-canary"} {
		if got := redact.Text("answer: " + secret); strings.Contains(got, secret) {
			t.Errorf("%q is not hidden: %q", secret, got)
		}
	}
}
