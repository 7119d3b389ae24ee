package otlp

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is the OpenTelemetry SDKs' default for OTLP/HTTP metrics:
// a Collector on the same host.
const DefaultEndpoint = "http://localhost:4318/v1/metrics"

// EnvTLS names the TLS files the environment gives (OTEL_EXPORTER_OTLP_
// CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY); the caller turns them into
// a tls.Config with the TLS plumbing every sink shares.
type EnvTLS struct {
	CAFile, CertFile, KeyFile string
}

// OptionsFromEnv reads the sink's settings as the OpenTelemetry SDKs do
// (the metrics-specific variable wins over the generic one):
//   - OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, used as it is, or
//     OTEL_EXPORTER_OTLP_ENDPOINT with /v1/metrics appended to its path;
//     DefaultEndpoint without either;
//   - OTEL_EXPORTER_OTLP_[METRICS_]HEADERS: k=v pairs separated by commas,
//     percent-decoded (the W3C Baggage form);
//   - OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL: only http/protobuf;
//   - OTEL_EXPORTER_OTLP_[METRICS_]COMPRESSION: gzip or none;
//   - OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT: milliseconds;
//   - OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: cumulative,
//     delta or lowmemory (counters and histograms as deltas, as delta);
//   - OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE, CLIENT_CERTIFICATE and
//     CLIENT_KEY: TLS files;
//   - OTEL_RESOURCE_ATTRIBUTES: resource attributes in the headers' form
//     (the batch's constant labels and service.name win).
//
// Name, Logger and StateFile are left to the caller.
func OptionsFromEnv(getenv func(string) string) (Options, EnvTLS, error) {
	var o Options
	var t EnvTLS
	get := func(suffix string) (string, string) {
		if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_METRICS_" + suffix)); v != "" {
			return v, "OTEL_EXPORTER_OTLP_METRICS_" + suffix
		}
		return strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_" + suffix)), "OTEL_EXPORTER_OTLP_" + suffix
	}
	switch {
	case strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")) != "":
		o.URL = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
	case strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) != "":
		u, err := SignalURL(strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")))
		if err != nil {
			return o, t, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
		}
		o.URL = u
	default:
		o.URL = DefaultEndpoint
	}
	headers := map[string]string{}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"} {
		h, err := ParseHeaders(getenv(name))
		if err != nil {
			return o, t, fmt.Errorf("%s: %w", name, err)
		}
		for k, v := range h {
			headers[k] = v
		}
	}
	if len(headers) > 0 {
		o.Headers = headers
	}
	if res, err := ParseHeaders(getenv("OTEL_RESOURCE_ATTRIBUTES")); err != nil {
		return o, t, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	} else if len(res) > 0 {
		o.Resource = res
	}
	if v, name := get("PROTOCOL"); v != "" && v != "http/protobuf" {
		return o, t, fmt.Errorf("%s=%s: this sink speaks http/protobuf only (unset it, or point a Collector's OTLP/HTTP receiver at it)", name, v)
	}
	if v, name := get("COMPRESSION"); v != "" {
		if v != CompressionGzip && v != CompressionNone {
			return o, t, fmt.Errorf("%s=%s: want gzip or none", name, v)
		}
		o.Compression = v
	}
	if v, name := get("TIMEOUT"); v != "" {
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil || ms == 0 {
			return o, t, fmt.Errorf("%s=%s: want a positive number of milliseconds", name, v)
		}
		o.Timeout = time.Duration(ms) * time.Millisecond
	}
	var err error
	if o.Temporality, err = temporalityFromEnv(getenv); err != nil {
		return o, t, err
	}
	t.CAFile, _ = get("CERTIFICATE")
	t.CertFile, _ = get("CLIENT_CERTIFICATE")
	t.KeyFile, _ = get("CLIENT_KEY")
	if (t.CertFile == "") != (t.KeyFile == "") {
		return o, t, errors.New("set both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY, or neither")
	}
	return o, t, nil
}

// temporalityFromEnv reads OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE.
func temporalityFromEnv(getenv func(string) string) (Temporality, error) {
	switch v := strings.ToLower(strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"))); v {
	case "", "cumulative":
		return Cumulative, nil
	case "delta", "lowmemory":
		return Delta, nil
	default:
		return "", fmt.Errorf("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=%s: want cumulative, delta or lowmemory", v)
	}
}

// SignalURL appends v1/metrics to a base endpoint's path, as the SDKs do
// with OTEL_EXPORTER_OTLP_ENDPOINT: http://host:4318 and http://host:4318/
// become http://host:4318/v1/metrics, http://host/otlp becomes
// http://host/otlp/v1/metrics.
func SignalURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", errors.New("not an http(s)://host:port URL")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/metrics"
	u.RawPath = ""
	return u.String(), nil
}

// ParseHeaders reads the OTEL_EXPORTER_OTLP_HEADERS form: key=value pairs
// separated by commas, each key and value percent-decoded and trimmed. An
// empty string is no headers.
func ParseHeaders(s string) (map[string]string, error) {
	out := map[string]string{}
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d has no '=': want key=value pairs separated by commas", len(out)+1)
		}
		key, err1 := url.PathUnescape(strings.TrimSpace(k))
		val, err2 := url.PathUnescape(strings.TrimSpace(v))
		// The message never quotes the value: it may be a token.
		if err1 != nil || err2 != nil || key == "" {
			return nil, fmt.Errorf("entry %d is not a valid key=value pair (percent-encode ',', '=' and '%%' in it)", len(out)+1)
		}
		out[key] = val
	}
	return out, nil
}
