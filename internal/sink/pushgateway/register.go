package pushgateway

import (
	"errors"
	"time"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// EnvName is the env-only sink: --push pushgateway with PUSHGATEWAY_URL or
// --pushgateway-address.
const EnvName = "pushgateway"

func init() {
	sink.Register(sink.Kind{Type: config.SinkPushgateway, EnvName: EnvName, FromConfig: fromConfig, FromEnv: fromEnv})
}

func fromConfig(name string, sc *config.SinkConfig, _ sink.Env) (sink.Sink, error) {
	tlsConfig, err := sink.TLS(sc.TLSConfig)
	if err != nil {
		return nil, err
	}
	o := Options{
		Name: name, URL: sc.URL, Job: sc.Job, Grouping: sc.Grouping, Method: sc.Method,
		TLS: tlsConfig, Timeout: time.Duration(sc.Timeout),
	}
	if o.Username, o.Password, err = sink.BasicAuth(sc.BasicAuth); err != nil {
		return nil, err
	}
	return New(o)
}

func fromEnv(env sink.Env) (sink.Sink, error) {
	addr := env.PushgatewayAddr
	if addr == "" {
		addr = env.Getenv("PUSHGATEWAY_URL")
	}
	if addr == "" {
		return nil, errors.New("no address: give --pushgateway-address or set PUSHGATEWAY_URL")
	}
	return New(Options{Name: EnvName, URL: addr, Timeout: time.Duration(config.DefaultSinkConfig.Timeout)})
}
