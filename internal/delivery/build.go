package delivery

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
	"github.com/metricwrap/metricwrap/internal/sink/otlp"
	"github.com/metricwrap/metricwrap/internal/sink/pushgateway"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
	"github.com/metricwrap/metricwrap/internal/sink/s3"
)

// Names of the sinks that need no config file (SPEC 1): each reads its
// settings from flags and environment variables.
const (
	EnvPushgateway = "pushgateway"
	EnvDynatrace   = "dynatrace"
	EnvS3          = "s3"
	EnvRemoteWrite = "remote-write"
	EnvOTLP        = "otlp"
)

// Env-only sinks take the defaults of a configured sink, defined once in
// config.DefaultSinkConfig.
var (
	defaultRetryFor = time.Duration(config.DefaultSinkConfig.RetryFor)
	defaultTimeout  = time.Duration(config.DefaultSinkConfig.Timeout)
)

// build makes the sink called name: the config's sink of that name, else
// one of the env-only sinks. It also returns how long a failed delivery to
// it is retried before spooling.
func build(name string, o Options) (sink.Sink, time.Duration, error) {
	if sc, ok := o.Config.Sinks[name]; ok {
		s, err := fromConfig(name, sc, o)
		if err != nil {
			return nil, 0, fmt.Errorf("sink %s: %w", name, err)
		}
		return s, time.Duration(sc.RetryFor), nil
	}
	s, err := fromEnv(name, o)
	if err != nil {
		return nil, 0, fmt.Errorf("sink %s: %w", name, err)
	}
	return s, defaultRetryFor, nil
}

func fromConfig(name string, sc *config.SinkConfig, o Options) (sink.Sink, error) {
	timeout := time.Duration(sc.Timeout)
	tlsConfig, err := tlsFor(sc.TLSConfig)
	if err != nil {
		return nil, err
	}
	switch sc.Type {
	case config.SinkPushgateway:
		po := pushgateway.Options{
			Name: name, URL: sc.URL, Job: sc.Job, Grouping: sc.Grouping, Method: sc.Method,
			TLS: tlsConfig, Timeout: timeout,
		}
		if po.Username, po.Password, err = basicAuth(sc.BasicAuth); err != nil {
			return nil, err
		}
		return pushgateway.New(po)
	case config.SinkDynatrace:
		url := sc.URL
		if url == "" {
			url = tenantURL(o.Getenv("DT_TENANT"))
			if url == "" {
				return nil, errors.New("no url: set sinks.NAME.url or DT_TENANT")
			}
		}
		token, err := dynatraceToken(sc.TokenEnv, sc.TokenFile, o.Getenv)
		if err != nil {
			return nil, err
		}
		return dynatrace.New(dynatrace.Options{
			Name: name, URL: url, Token: token, Prefix: sc.Prefix,
			DefaultDimensions: sc.DefaultDimensions, Metadata: sc.Metadata,
			StateFile: filepath.Join(stateDir(o.Config), "dynatrace-"+safeFile(name)+".json"),
			Timeout:   timeout, Logger: o.Logger, Client: clientFor(tlsConfig),
		})
	case config.SinkS3:
		so := s3.Options{
			Name: name, Endpoint: sc.Endpoint, Bucket: sc.Bucket, Prefix: sc.Prefix, Region: sc.Region,
			AccessKeyID: sc.AccessKeyID, Insecure: sc.Insecure, Timeout: timeout, Logger: o.Logger,
		}
		if so.SecretAccessKey, err = secret(sc.SecretAccessKey, sc.SecretAccessKeyFile); err != nil {
			return nil, err
		}
		so.FillFromEnv(o.Getenv)
		return s3.New(so)
	case config.SinkRemoteWrite:
		ro := remotewrite.Options{Name: name, URL: sc.URL, TLS: tlsConfig, BatchSize: sc.BatchSize, Timeout: timeout}
		if ro.Username, ro.Password, err = basicAuth(sc.BasicAuth); err != nil {
			return nil, err
		}
		if ro.BearerToken, err = secret(sc.BearerToken, sc.BearerTokenFile); err != nil {
			return nil, err
		}
		return remotewrite.New(ro)
	case config.SinkOTLP:
		oo := otlp.Options{
			Name: name, URL: sc.URL, Temporality: otlp.Temporality(sc.Temporality), Compression: sc.Compression,
			TLS: tlsConfig, Timeout: timeout, Logger: o.Logger,
			StateFile: filepath.Join(stateDir(o.Config), "otlp-"+safeFile(name)+".json"),
		}
		if len(sc.Headers) > 0 {
			oo.Headers = map[string]string{}
			for k, v := range sc.Headers {
				oo.Headers[k] = string(v)
			}
		}
		return otlp.New(oo)
	}
	return nil, fmt.Errorf("unknown sink type %q", sc.Type)
}

func fromEnv(name string, o Options) (sink.Sink, error) {
	getenv := o.Getenv
	switch name {
	case EnvPushgateway:
		addr := o.PushgatewayAddr
		if addr == "" {
			addr = getenv("PUSHGATEWAY_URL")
		}
		if addr == "" {
			return nil, errors.New("no address: give --pushgateway-address or set PUSHGATEWAY_URL")
		}
		return pushgateway.New(pushgateway.Options{Name: name, URL: addr, Timeout: defaultTimeout})
	case EnvDynatrace:
		url := getenv("DT_URL")
		if url == "" {
			url = tenantURL(getenv("DT_TENANT"))
		}
		if url == "" {
			return nil, errors.New("no endpoint: set DT_TENANT (https://<id>.live.dynatrace.com) and DT_API_TOKEN, or DT_URL for the OneAgent endpoint")
		}
		token := getenv("DT_API_TOKEN")
		if token == "" && !isLocalIngest(url) {
			return nil, errors.New("DT_API_TOKEN is not set (a token with scope metrics.ingest)")
		}
		return dynatrace.New(dynatrace.Options{
			Name: name, URL: url, Token: token, Timeout: defaultTimeout, Logger: o.Logger,
			StateFile: filepath.Join(stateDir(o.Config), "dynatrace-"+name+".json"),
		})
	case EnvS3:
		so, err := s3.OptionsFromEnv(getenv)
		if err != nil {
			return nil, err
		}
		so.Logger = o.Logger
		return s3.New(so)
	case EnvRemoteWrite:
		url := getenv("REMOTE_WRITE_URL")
		if url == "" {
			return nil, errors.New("REMOTE_WRITE_URL is not set")
		}
		return remotewrite.New(remotewrite.Options{
			Name: name, URL: url, Timeout: defaultTimeout,
			Username: getenv("REMOTE_WRITE_USERNAME"), Password: getenv("REMOTE_WRITE_PASSWORD"),
			BearerToken: getenv("REMOTE_WRITE_BEARER_TOKEN"),
		})
	case EnvOTLP:
		oo, et, err := otlp.OptionsFromEnv(getenv)
		if err != nil {
			return nil, err
		}
		if oo.TLS, err = tlsFor(promconfig.TLSConfig{CAFile: et.CAFile, CertFile: et.CertFile, KeyFile: et.KeyFile}); err != nil {
			return nil, err
		}
		if oo.Timeout == 0 {
			oo.Timeout = defaultTimeout
		}
		oo.Name, oo.Logger = name, o.Logger
		oo.StateFile = filepath.Join(stateDir(o.Config), "otlp-"+name+".json")
		return otlp.New(oo)
	}
	return nil, fmt.Errorf("not defined in the config, and not one of the env-only sinks %s, %s, %s, %s, %s",
		EnvPushgateway, EnvDynatrace, EnvS3, EnvRemoteWrite, EnvOTLP)
}

// tenantURL turns DT_TENANT (https://abc12345.live.dynatrace.com, or the
// bare host) into the Metrics API v2 ingest URL.
func tenantURL(tenant string) string {
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

func dynatraceToken(tokenEnv, tokenFile string, getenv func(string) string) (string, error) {
	if tokenFile != "" {
		t, err := readSecretFile(tokenFile)
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

// basicAuth resolves a basic_auth block: username or username_file,
// password or password_file.
func basicAuth(ba *promconfig.BasicAuth) (user, password string, err error) {
	if ba == nil {
		return "", "", nil
	}
	user = ba.Username
	if ba.UsernameFile != "" {
		if user, err = readSecretFile(ba.UsernameFile); err != nil {
			return "", "", fmt.Errorf("basic_auth.username_file: %w", err)
		}
	}
	if password, err = secret(ba.Password, ba.PasswordFile); err != nil {
		return "", "", fmt.Errorf("basic_auth: %w", err)
	}
	return user, password, nil
}

func secret(s promconfig.Secret, file string) (string, error) {
	if file != "" {
		v, err := readSecretFile(file)
		if err != nil {
			return "", fmt.Errorf("reading secret file: %w", err)
		}
		return v, nil
	}
	return string(s), nil
}

func tlsFor(tc promconfig.TLSConfig) (*tls.Config, error) {
	if tc == (promconfig.TLSConfig{}) {
		return nil, nil
	}
	c, err := promconfig.NewTLSConfig(&tc)
	if err != nil {
		return nil, fmt.Errorf("tls_config: %w", err)
	}
	return c, nil
}

// clientFor is an HTTP client using tlsConfig, or nil (the sink's own
// default) without one.
func clientFor(tlsConfig *tls.Config) *http.Client {
	if tlsConfig == nil {
		return nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	return &http.Client{Transport: tr}
}

// safeFile keeps a sink name usable as part of a file name.
func safeFile(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
}
