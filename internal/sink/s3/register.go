package s3

import (
	"time"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink"
)

func init() {
	sink.Register(sink.Kind{Type: config.SinkS3, EnvName: EnvName, FromConfig: fromConfig, FromEnv: fromEnv})
}

func fromConfig(name string, sc *config.SinkConfig, env sink.Env) (sink.Sink, error) {
	o := Options{
		Name: name, Endpoint: sc.Endpoint, Bucket: sc.Bucket, Prefix: sc.Prefix, Region: sc.Region,
		AccessKeyID: sc.AccessKeyID, Insecure: sc.Insecure, Timeout: time.Duration(sc.Timeout), Logger: env.Logger,
	}
	var err error
	if o.SecretAccessKey, err = sink.Secret(sc.SecretAccessKey, sc.SecretAccessKeyFile); err != nil {
		return nil, err
	}
	o.FillFromEnv(env.Getenv)
	return New(o)
}

func fromEnv(env sink.Env) (sink.Sink, error) {
	o, err := OptionsFromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	o.Logger = env.Logger
	if o.Timeout == 0 {
		o.Timeout = time.Duration(config.DefaultSinkConfig.Timeout)
	}
	return New(o)
}
