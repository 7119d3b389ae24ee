package delivery

import (
	"fmt"
	"time"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink"
	_ "github.com/metricwrap/metricwrap/internal/sink/all" // every sink registers itself
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
	"github.com/metricwrap/metricwrap/internal/sink/otlp"
	"github.com/metricwrap/metricwrap/internal/sink/pushgateway"
	"github.com/metricwrap/metricwrap/internal/sink/remotewrite"
	"github.com/metricwrap/metricwrap/internal/sink/s3"
)

// Names of the sinks that need no config file (SPEC 1): each reads its
// settings from flags and environment variables; each sink package defines
// its own.
const (
	EnvPushgateway = pushgateway.EnvName
	EnvDynatrace   = dynatrace.EnvName
	EnvS3          = s3.EnvName
	EnvRemoteWrite = remotewrite.EnvName
	EnvOTLP        = otlp.EnvName
)

// defaultRetryFor bounds the retries of env-only sinks: the default of a
// configured sink, defined once in config.DefaultSinkConfig.
var defaultRetryFor = time.Duration(config.DefaultSinkConfig.RetryFor)

// build makes the sink called name: the config's sink of that name, else
// one of the env-only sinks, each by its own package (sink.Register). It
// also returns how long a failed delivery to it is retried before it waits
// in the spool.
func build(name string, o Options) (sink.Sink, time.Duration, error) {
	env := sink.Env{Getenv: o.Getenv, StateDir: stateDir(o.Config), PushgatewayAddr: o.PushgatewayAddr, Logger: o.Logger}
	if sc, ok := o.Config.Sinks[name]; ok {
		s, err := sink.FromConfig(name, sc, env)
		if err != nil {
			return nil, 0, fmt.Errorf("sink %s: %w", name, err)
		}
		return s, time.Duration(sc.RetryFor), nil
	}
	s, err := sink.FromEnv(name, env)
	if err != nil {
		return nil, 0, fmt.Errorf("sink %s: %w", name, err)
	}
	return s, defaultRetryFor, nil
}
