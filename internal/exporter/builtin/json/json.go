// Package jsonexporter is the `json` built-in: it GETs a JSON API and turns
// values selected by RFC 9535 JSONPath queries (see Path) into gauges and
// counters, with labels taken from the same document. The example users
// copy first counts Jenkins jobs and reports each job's last build:
//
//	exporters:
//	  jenkins:
//	    builtin: json
//	    options:
//	      url: https://jenkins.example.com/api/json?tree=jobs[name,color,lastBuild[number,result,duration]]
//	      basic_auth: {username: metrics, password_file: /run/secrets/jenkins-token}
//	      metrics:
//	        - name: jenkins_jobs
//	          help: Number of Jenkins jobs.
//	          path: $.jobs
//	          count: true
//	        - name: jenkins_job_last_build_result
//	          help: Result of each job's last build (1 success, 0 failed or unstable, -1 aborted).
//	          path: $.jobs[*]
//	          labels: {job: $.name}
//	          value: $.lastBuild.result
//	          value_map: {SUCCESS: 1, FAILURE: 0, UNSTABLE: 0, ABORTED: -1}
//	        - name: jenkins_job_builds_total
//	          help: Builds of each job so far (its last build's number).
//	          type: counter
//	          path: $.jobs[*]
//	          labels: {job: $.name}
//	          value: $.lastBuild.number
//	          missing: zero
//	        - name: jenkins_job_last_build_duration_seconds
//	          help: Duration of each job's last build.
//	          path: $.jobs[*]
//	          labels: {job: $.name}
//	          value: $.lastBuild.duration
//	          scale: 0.001
//
// Options:
//
//   - url: the API to GET. Without it the exporter takes parameter `target`
//     (an http or https URL); narrow its pattern under `params:` when the
//     request carries credentials, so they only go where they belong.
//   - headers: extra request headers.
//   - basic_auth: {username, and one of password, password_file,
//     password_env}; or one of bearer_token, bearer_token_file,
//     bearer_token_env. Files and variables are read on every run, so a
//     rotated secret is picked up; secrets never appear in messages.
//   - tls: Prometheus's tls_config keys (ca_file, insecure_skip_verify, ...).
//   - max_body_bytes: the largest answer read (default 16MiB); larger fails.
//   - metrics: the metric families to report, at least one.
//
// Each entry of metrics:
//
//   - name (required), help, type (gauge, the default, or counter).
//   - path (required): selects the elements, one sample each; any RFC 9535
//     query, filters included: $.jobs[?@.color == 'red'].
//   - value: a singular path (keys and indexes only) relative to each
//     element ($ is the element), default
//     the element itself; or count: true, the number of items of the
//     selected array (or members of an object).
//   - labels: label name to a singular path relative to each element; a missing or
//     null label value is empty.
//   - value_map: string to number, tried before parsing a numeric string.
//     Numbers are taken as they are, booleans are 1 and 0.
//   - scale: multiplies numbers and numeric strings from the document (not
//     value_map results), e.g. 0.001 to turn milliseconds into seconds.
//   - missing: what a value that is missing, null, or neither a number nor a
//     mapped or numeric string does: skip (the default) leaves the sample
//     out, zero reports 0 (for a singular path, also when the path itself is
//     missing; an element a wildcard cannot reach is skipped), error fails
//     the run.
//
// In YAML's flow style ({...} and [...]) quote a path that holds [ or *:
// {path: '$.jobs[*]'}.
//
// Every run also reports metricwrap_json_skipped_values{metric}, the values
// skipped under `missing: skip` (and unreachable elements under `zero`), so
// a document whose shape changed shows up before a dashboard goes blank.
// An answer that is not 2xx or not JSON fails the run. Unknown keys fail at
// load time.
package jsonexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	mwconfig "github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
)

func init() {
	exporter.Register("json", New)
}

// DefaultMaxBodyBytes bounds the answer read when max_body_bytes is unset;
// the same as an exporter's default max_output_bytes.
const DefaultMaxBodyBytes = 16 << 20

// TargetPattern is the default pattern of parameter `target`, declared when
// the options give no url.
var TargetPattern = exporter.URLPattern

// Options is the `options:` block of a `json` exporter; the package
// documentation describes each key.
type Options struct {
	URL             string            `yaml:"url"`
	Headers         map[string]string `yaml:"headers"`
	BasicAuth       *BasicAuth        `yaml:"basic_auth"`
	BearerToken     config.Secret     `yaml:"bearer_token"`
	BearerTokenFile string            `yaml:"bearer_token_file"`
	BearerTokenEnv  string            `yaml:"bearer_token_env"`
	TLS             config.TLSConfig  `yaml:"tls"`
	MaxBodyBytes    mwconfig.Bytes    `yaml:"max_body_bytes"`
	Metrics         []MetricOptions   `yaml:"metrics"`
}

// BasicAuth is a username and a password from exactly one source.
type BasicAuth struct {
	Username     string        `yaml:"username"`
	Password     config.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	PasswordEnv  string        `yaml:"password_env"`
}

type exp struct {
	url      string
	headers  http.Header
	username string
	// password is the basic auth password, or the bearer token when
	// username is empty.
	password *secret
	maxBytes int64
	metrics  []*metric
	client   *http.Client
}

// New makes a `json` exporter from its options, checking every path and
// name so that a mistake fails when the config loads.
func New(node *yaml.Node) (exporter.Builtin, error) {
	var o Options
	if err := exporter.DecodeOptions(node, &o); err != nil {
		return nil, err
	}
	e := &exp{headers: http.Header{}, maxBytes: DefaultMaxBodyBytes}
	if o.URL != "" {
		if _, err := parseTarget(o.URL); err != nil {
			return nil, fmt.Errorf("options.url: %w", err)
		}
		e.url = o.URL
	}
	if err := exporter.CheckHeaders(o.Headers); err != nil {
		return nil, err
	}
	for name, value := range o.Headers {
		e.headers.Set(name, value)
	}
	e.headers.Set("Accept", cmpOr(e.headers.Get("Accept"), "application/json"))
	e.headers.Set("User-Agent", cmpOr(e.headers.Get("User-Agent"), "metricwrap"))
	if err := e.setAuth(&o); err != nil {
		return nil, err
	}
	if o.MaxBodyBytes > 0 {
		e.maxBytes = int64(o.MaxBodyBytes)
	}
	if len(o.Metrics) == 0 {
		return nil, errors.New("options.metrics: at least one metric is needed")
	}
	names := map[string]bool{}
	for i, mo := range o.Metrics {
		m, err := newMetric(mo)
		if err != nil {
			return nil, fmt.Errorf("options.metrics[%d]: %w", i, err)
		}
		if names[m.name] {
			return nil, fmt.Errorf("options.metrics[%d]: metric %s defined twice", i, m.name)
		}
		names[m.name] = true
		e.metrics = append(e.metrics, m)
	}
	tlsConfig, err := config.NewTLSConfig(&o.TLS)
	if err != nil {
		return nil, fmt.Errorf("options.tls: %w", err)
	}
	e.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig:   tlsConfig,
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}}
	return e, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (e *exp) setAuth(o *Options) error {
	bearer := &secret{value: o.BearerToken, file: o.BearerTokenFile, env: o.BearerTokenEnv}
	if n := bearer.sources(); n > 1 {
		return errors.New("options: set only one of bearer_token, bearer_token_file and bearer_token_env")
	} else if n == 1 {
		e.password = bearer
	}
	if o.BasicAuth != nil {
		ba := o.BasicAuth
		pw := &secret{value: ba.Password, file: ba.PasswordFile, env: ba.PasswordEnv}
		switch {
		case e.password != nil:
			return errors.New("options: basic_auth and a bearer token exclude each other")
		case ba.Username == "":
			return errors.New("options.basic_auth.username: required")
		case pw.sources() != 1:
			return errors.New("options.basic_auth: set exactly one of password, password_file and password_env")
		}
		e.username, e.password = ba.Username, pw
	}
	if e.password != nil && e.headers.Get("Authorization") != "" {
		return errors.New("options.headers: Authorization is set by basic_auth or the bearer token")
	}
	return nil
}

func (e *exp) Params() exporter.Params {
	if e.url != "" {
		return nil
	}
	return exporter.Params{"target": {Name: "target", Pattern: TargetPattern, Required: true}}
}

// Collect fetches the document and fills reg. A fetch that fails, an
// answer that is not JSON, or a value under `missing: error` is an error:
// the run fails and nothing is reported.
func (e *exp) Collect(ctx context.Context, params map[string]string, reg prometheus.Registerer) error {
	target := e.url
	if target == "" {
		target = params["target"]
		if target == "" {
			return errors.New("parameter target is required")
		}
	}
	u, err := parseTarget(target)
	if err != nil {
		return fmt.Errorf("parameter target: %w", err)
	}
	doc, err := e.fetch(ctx, u)
	if err != nil {
		return err
	}
	skipped := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "metricwrap_json_skipped_values",
		Help: "Values the json built-in skipped in this run (missing, null, not a number), by metric.",
	}, []string{"metric"})
	collectors := []prometheus.Collector{skipped}
	for _, m := range e.metrics {
		samples, skips, err := m.evaluate(doc)
		if err != nil {
			return fmt.Errorf("metric %s: %w", m.name, err)
		}
		skipped.WithLabelValues(m.name).Set(float64(skips))
		collectors = append(collectors, m.collector(samples))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func parseTarget(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("not an http or https URL")
	}
	return u, nil
}

// fetch GETs the document and decodes it, numbers kept as json.Number so
// that a label shows them exactly as the API wrote them.
func (e *exp) fetch(ctx context.Context, u *url.URL) (any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header = e.headers.Clone()
	if e.password != nil {
		pw, err := e.password.read()
		if err != nil {
			return nil, err
		}
		if e.username != "" {
			req.SetBasicAuth(e.username, pw)
		} else {
			req.Header.Set("Authorization", "Bearer "+pw)
		}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL with its query, which may hold a token.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("get %s: %w", redacted(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = "; check the credentials"
		}
		return nil, fmt.Errorf("%s answered %s%s", redacted(u), resp.Status, hint)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, e.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", redacted(u), err)
	}
	if int64(len(data)) > e.maxBytes {
		return nil, fmt.Errorf("%s answered more than max_body_bytes (%d bytes)", redacted(u), e.maxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s answered %s that is not JSON: %w", redacted(u), contentType(resp), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s answered JSON followed by more data", redacted(u))
	}
	return doc, nil
}

func contentType(resp *http.Response) string {
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		return strings.TrimSpace(strings.SplitN(ct, ";", 2)[0])
	}
	return "a body"
}

// redacted is u without a password or query, which may hold credentials.
func redacted(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery, c.ForceQuery = "", false
	return c.String()
}
