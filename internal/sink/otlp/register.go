package otlp

import (
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// EnvName is the env-only sink: --push otlp with the OTEL_EXPORTER_OTLP_*
// variables (OptionsFromEnv).
const EnvName = "otlp"

func init() {
	sink.Register(sink.Kind{Type: config.SinkOTLP, EnvName: EnvName, FromConfig: fromConfig, FromEnv: fromEnv})
}

func fromConfig(name string, sc *config.SinkConfig, env sink.Env) (sink.Sink, error) {
	tlsConfig, err := sink.TLS(sc.TLSConfig)
	if err != nil {
		return nil, err
	}
	o := Options{
		Name: name, URL: sc.URL, Temporality: Temporality(sc.Temporality), Compression: sc.Compression,
		TLS: tlsConfig, Timeout: time.Duration(sc.Timeout), Logger: env.Logger,
		StateFile: env.StateFile("otlp", name),
	}
	if len(sc.Headers) > 0 {
		o.Headers = map[string]string{}
		for k, v := range sc.Headers {
			o.Headers[k] = string(v)
		}
	}
	return New(o)
}

func fromEnv(env sink.Env) (sink.Sink, error) {
	o, et, err := OptionsFromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	if o.TLS, err = sink.TLS(promconfig.TLSConfig{CAFile: et.CAFile, CertFile: et.CertFile, KeyFile: et.KeyFile}); err != nil {
		return nil, err
	}
	if o.Timeout == 0 {
		o.Timeout = time.Duration(config.DefaultSinkConfig.Timeout)
	}
	o.Name, o.Logger = EnvName, env.Logger
	o.StateFile = env.StateFile("otlp", EnvName)
	return New(o)
}
