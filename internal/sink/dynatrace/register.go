package dynatrace

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// EnvName is the env-only sink: --push dynatrace with DT_TENANT and
// DT_API_TOKEN, or DT_URL.
const EnvName = "dynatrace"

func init() {
	sink.Register(sink.Kind{Type: config.SinkDynatrace, EnvName: EnvName, FromConfig: fromConfig, FromEnv: fromEnv})
}

func fromConfig(name string, sc *config.SinkConfig, env sink.Env) (sink.Sink, error) {
	tlsConfig, err := sink.TLS(sc.TLSConfig)
	if err != nil {
		return nil, err
	}
	url := sc.URL
	if url == "" {
		url = TenantURL(env.Getenv("DT_TENANT"))
		if url == "" {
			return nil, errors.New("no url: set sinks.NAME.url or DT_TENANT")
		}
	}
	token, err := token(sc.TokenEnv, sc.TokenFile, env.Getenv)
	if err != nil {
		return nil, err
	}
	return New(Options{
		Name: name, URL: url, Token: token, Prefix: sc.Prefix,
		DefaultDimensions: sc.DefaultDimensions, Metadata: sc.Metadata,
		StateFile: env.StateFile("dynatrace", name),
		Timeout:   time.Duration(sc.Timeout), Logger: env.Logger, Client: sink.HTTPClient(tlsConfig),
	})
}

func fromEnv(env sink.Env) (sink.Sink, error) {
	url := env.Getenv("DT_URL")
	if url == "" {
		url = TenantURL(env.Getenv("DT_TENANT"))
	}
	if url == "" {
		return nil, errors.New("no endpoint: set DT_TENANT (https://<id>.live.dynatrace.com) and DT_API_TOKEN, or DT_URL for the OneAgent endpoint")
	}
	token := env.Getenv("DT_API_TOKEN")
	if token == "" && !isLocalIngest(url) {
		return nil, errors.New("DT_API_TOKEN is not set (a token with scope metrics.ingest)")
	}
	return New(Options{
		Name: EnvName, URL: url, Token: token, Timeout: time.Duration(config.DefaultSinkConfig.Timeout), Logger: env.Logger,
		StateFile: env.StateFile("dynatrace", EnvName),
	})
}

// TenantURL turns DT_TENANT (https://abc12345.live.dynatrace.com, or the
// bare host) into the Metrics API v2 ingest URL.
func TenantURL(tenant string) string {
	tenant = strings.TrimRight(strings.TrimSpace(tenant), "/")
	if tenant == "" {
		return ""
	}
	if !strings.Contains(tenant, "://") {
		tenant = "https://" + tenant
	}
	return tenant + "/api/v2/metrics/ingest"
}

// isLocalIngest reports whether url is the OneAgent's local endpoint, which
// takes no token.
func isLocalIngest(url string) bool {
	return strings.Contains(url, "://localhost:14499/") || strings.Contains(url, "://127.0.0.1:14499/")
}

// token resolves token_file, else the variable token_env names.
func token(tokenEnv, tokenFile string, getenv func(string) string) (string, error) {
	if tokenFile != "" {
		t, err := sink.ReadSecretFile(tokenFile)
		if err != nil {
			return "", fmt.Errorf("token_file: %w", err)
		}
		return t, nil
	}
	if tokenEnv == "" {
		tokenEnv = config.DefaultDynatraceTokenEnv
	}
	return getenv(tokenEnv), nil
}
