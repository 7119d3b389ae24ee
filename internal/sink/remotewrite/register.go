package remotewrite

import (
	"errors"
	"time"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// EnvName is the env-only sink: --push remote-write with REMOTE_WRITE_URL
// and REMOTE_WRITE_USERNAME, REMOTE_WRITE_PASSWORD or
// REMOTE_WRITE_BEARER_TOKEN.
const EnvName = "remote-write"

func init() {
	sink.Register(sink.Kind{Type: config.SinkRemoteWrite, EnvName: EnvName, FromConfig: fromConfig, FromEnv: fromEnv})
}

func fromConfig(name string, sc *config.SinkConfig, _ sink.Env) (sink.Sink, error) {
	tlsConfig, err := sink.TLS(sc.TLSConfig)
	if err != nil {
		return nil, err
	}
	o := Options{Name: name, URL: sc.URL, TLS: tlsConfig, BatchSize: sc.BatchSize, Timeout: time.Duration(sc.Timeout)}
	if o.Username, o.Password, err = sink.BasicAuth(sc.BasicAuth); err != nil {
		return nil, err
	}
	if o.BearerToken, err = sink.Secret(sc.BearerToken, sc.BearerTokenFile); err != nil {
		return nil, err
	}
	return New(o)
}

func fromEnv(env sink.Env) (sink.Sink, error) {
	url := env.Getenv("REMOTE_WRITE_URL")
	if url == "" {
		return nil, errors.New("REMOTE_WRITE_URL is not set")
	}
	return New(Options{
		Name: EnvName, URL: url, Timeout: time.Duration(config.DefaultSinkConfig.Timeout),
		Username: env.Getenv("REMOTE_WRITE_USERNAME"), Password: env.Getenv("REMOTE_WRITE_PASSWORD"),
		BearerToken: env.Getenv("REMOTE_WRITE_BEARER_TOKEN"),
	})
}
