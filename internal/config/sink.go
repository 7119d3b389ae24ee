package config

import (
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Sink types.
const (
	SinkPushgateway = "pushgateway"
	SinkDynatrace   = "dynatrace"
	SinkS3          = "s3"
	SinkRemoteWrite = "remote_write"
	SinkOTLP        = "otlp"
)

// SinkConfig is one entry of `sinks:`. It is flat: which keys are valid
// depends on Type, and a key not valid for the type is an error naming both.
// Environment fallbacks (DT_TENANT, S3_ENDPOINT_URL, ...) are applied when
// the sink is built, not here.
type SinkConfig struct {
	Type string `yaml:"type"`

	// URL is the Pushgateway, the Dynatrace ingest endpoint (optional: else
	// $DT_TENANT/api/v2/metrics/ingest) or the remote write endpoint.
	URL string `yaml:"url,omitempty"`
	// Job (pushgateway) overrides the exporter's or job's push job name;
	// (remote_write) the job label of scheduled runs.
	Job      string            `yaml:"job,omitempty"`
	Grouping map[string]string `yaml:"grouping,omitempty"`
	// Method (pushgateway) is "put" or "post"; empty means the caller's
	// default: PUT for exporter runs, POST for exec (SPEC 5: a failed job
	// must not erase the last success timestamp).
	Method    string            `yaml:"method,omitempty"`
	BasicAuth *config.BasicAuth `yaml:"basic_auth,omitempty"`
	TLSConfig config.TLSConfig  `yaml:"tls_config,omitempty"`

	// Dynatrace.
	TokenEnv          string            `yaml:"token_env,omitempty"`
	TokenFile         string            `yaml:"token_file,omitempty"`
	Prefix            string            `yaml:"prefix,omitempty"` // also s3's key prefix
	DefaultDimensions map[string]string `yaml:"default_dimensions,omitempty"`
	Metadata          bool              `yaml:"metadata,omitempty"`

	// S3.
	Endpoint            string        `yaml:"endpoint,omitempty"`
	Bucket              string        `yaml:"bucket,omitempty"`
	Region              string        `yaml:"region,omitempty"`
	AccessKeyID         string        `yaml:"access_key_id,omitempty"`
	SecretAccessKey     config.Secret `yaml:"secret_access_key,omitempty"`
	SecretAccessKeyFile string        `yaml:"secret_access_key_file,omitempty"`
	// Insecure skips verifying the TLS certificate of an https endpoint
	// (a plain http endpoint needs nothing: its scheme decides).
	Insecure bool `yaml:"insecure,omitempty"`

	// Remote write.
	BearerToken     config.Secret `yaml:"bearer_token,omitempty"`
	BearerTokenFile string        `yaml:"bearer_token_file,omitempty"`
	BatchSize       int           `yaml:"batch_size,omitempty"`
	// HonorLabels (remote_write) keeps exporters' own job and instance
	// labels on scheduled runs, for every exporter sent to this sink.
	HonorLabels bool `yaml:"honor_labels,omitempty"`

	// OTLP: url is the full metrics URL (.../v1/metrics); headers may
	// hold tokens, so they print hidden.
	Headers     map[string]config.Secret `yaml:"headers,omitempty"`
	Temporality string                   `yaml:"temporality,omitempty"`
	Compression string                   `yaml:"compression,omitempty"`

	// All types.
	Timeout model.Duration `yaml:"timeout,omitempty"`
	// RetryFor is how long a failed delivery is retried before it goes to
	// the spool; 0 spools at once.
	RetryFor model.Duration `yaml:"retry_for,omitempty"`
}

// DefaultSinkConfig is applied to each sink before decoding; the per-type
// defaults (token_env, batch_size) are applied once the type is known.
var DefaultSinkConfig = SinkConfig{
	Timeout:  model.Duration(10 * time.Second),
	RetryFor: model.Duration(30 * time.Second),
}

// Per-type defaults.
const (
	DefaultDynatraceTokenEnv = "DT_API_TOKEN"
	DefaultRemoteWriteBatch  = 5000
)

// sinkKeys are the keys each type accepts besides type, timeout, retry_for.
var sinkKeys = map[string][]string{
	SinkPushgateway: {"url", "job", "grouping", "method", "basic_auth", "tls_config"},
	SinkDynatrace:   {"url", "token_env", "token_file", "prefix", "default_dimensions", "metadata", "tls_config"},
	SinkS3: {"endpoint", "bucket", "prefix", "region", "access_key_id", "secret_access_key",
		"secret_access_key_file", "insecure"},
	SinkRemoteWrite: {"url", "basic_auth", "bearer_token", "bearer_token_file", "tls_config", "batch_size", "job", "honor_labels"},
	SinkOTLP:        {"url", "headers", "temporality", "compression", "tls_config"},
}

// UnmarshalYAML decodes and validates one sink on its own.
func (s *SinkConfig) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	s.decodeNode(d, n, "")
	return d.err()
}

func (s *SinkConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	*s = DefaultSinkConfig
	d.decodeFields(n, path, reflect.ValueOf(s).Elem())
	allowed, ok := sinkKeys[s.Type]
	switch {
	case s.Type == "":
		d.errorf(path, "type is required (pushgateway, dynatrace, s3, remote_write or otlp)")
		return
	case !ok:
		d.errorf(join(path, "type"), "unknown sink type %q (want pushgateway, dynatrace, s3, remote_write or otlp)", s.Type)
		return
	}
	for _, key := range d.keys[path] {
		switch key {
		case "type", "timeout", "retry_for":
		default:
			if !slices.Contains(allowed, key) {
				d.errorf(join(path, key), "not valid for a sink of type %s", s.Type)
			}
		}
	}
	if s.Timeout <= 0 {
		d.errorf(join(path, "timeout"), "must be greater than zero")
	}
	switch s.Type {
	case SinkPushgateway:
		requireURL(d, path, "url", s.URL)
		s.Method = strings.ToLower(s.Method)
		if s.Method != "" && s.Method != "put" && s.Method != "post" {
			d.errorf(join(path, "method"), "invalid method %q (want put or post)", s.Method)
		}
		checkLabelNames(d, join(path, "grouping"), s.Grouping)
		if d.has(join(path, "job")) && s.Job == "" {
			d.errorf(join(path, "job"), "must not be empty")
		}
	case SinkDynatrace:
		if s.URL != "" {
			checkURL(d, join(path, "url"), s.URL)
		}
		if s.TokenEnv == "" {
			s.TokenEnv = DefaultDynatraceTokenEnv
		} else if !envNameRE.MatchString(s.TokenEnv) {
			d.errorf(join(path, "token_env"), "invalid environment variable name %q", s.TokenEnv)
		}
	case SinkS3:
		if s.Endpoint != "" {
			checkURL(d, join(path, "endpoint"), s.Endpoint)
		}
		exclusive(d, path, "secret_access_key", "secret_access_key_file")
	case SinkRemoteWrite:
		requireURL(d, path, "url", s.URL)
		if s.BatchSize == 0 && !d.has(join(path, "batch_size")) {
			s.BatchSize = DefaultRemoteWriteBatch
		}
		if s.BatchSize <= 0 {
			d.errorf(join(path, "batch_size"), "must be greater than zero")
		}
		exclusive(d, path, "bearer_token", "bearer_token_file")
		for _, a := range []string{"bearer_token", "bearer_token_file"} {
			if d.has(join(path, a)) && d.has(join(path, "basic_auth")) {
				d.errorf(join(path, a), "basic_auth and %s exclude each other", a)
			}
		}
	case SinkOTLP:
		requireURL(d, path, "url", s.URL)
		if s.Temporality == "" {
			s.Temporality = "cumulative"
		} else if s.Temporality != "cumulative" && s.Temporality != "delta" {
			d.errorf(join(path, "temporality"), "invalid temporality %q (want cumulative, or delta for receivers such as Dynatrace)", s.Temporality)
		}
		if s.Compression == "" {
			s.Compression = "gzip"
		} else if s.Compression != "gzip" && s.Compression != "none" {
			d.errorf(join(path, "compression"), "invalid compression %q (want gzip or none)", s.Compression)
		}
	}
	if a := s.BasicAuth; a != nil {
		bp := join(path, "basic_auth")
		exclusive(d, bp, "username", "username_file")
		exclusive(d, bp, "password", "password_file")
		for _, ref := range []string{"username_ref", "password_ref"} {
			if d.has(join(bp, ref)) {
				d.errorf(join(bp, ref), "not supported (no secret manager)")
			}
		}
	}
}

func requireURL(d *decoder, path, key, u string) {
	if u == "" {
		d.errorf(path, "%s is required", key)
		return
	}
	checkURL(d, join(path, key), u)
}

// exclusive refuses two keys that say the same thing two ways.
func exclusive(d *decoder, path, a, b string) {
	if d.has(join(path, a)) && d.has(join(path, b)) {
		d.errorf(join(path, b), "%s and %s exclude each other", a, b)
	}
}
