// Package httpexporter is the `http` built-in: a health check of the URL in
// parameter `target`, reported the way the Prometheus exporter guides
// describe a health endpoint:
//
//	http_health_status{http_health_status="healthy"} 1
//	http_health_status{http_health_status="unhealthy"} 0
//	http_health_request_duration_seconds_bucket{le="0.005"} 1
//	...
//	http_health_status_code 200
//
// A failed check (no connection, TLS error, unexpected status, body that
// does not match, too many redirects, out of time) is a successful run that
// says "unhealthy", like blackbox_exporter's probe_success 0, so Prometheus
// keeps a series to alert on. Only a broken configuration or a run cancelled
// by its caller is an error. The status code is 0 when no response arrived.
//
// Options (all optional), under the exporter's `options:` key:
//
//	exporters:
//	  health:
//	    builtin: http
//	    params: {target: {pattern: 'https://[a-z0-9.-]+\.example\.com/healthz', required: true}}
//	    options:
//	      method: GET                 # default GET
//	      headers: {Accept: application/json, Host: api.example.com}
//	      body: ''                    # request body, e.g. for POST
//	      expected_status: [200, 204] # default: any 2xx
//	      body_regexp: '"status":\s*"ok"' # matched against the first MiB of the body
//	      timeout: 5s                 # default: the run's own deadline, less a reserve
//	      follow_redirects: true      # default true; false reports the 3xx itself
//	      max_redirects: 10           # default 10; more is unhealthy
//	      tls: {ca_file: /etc/ssl/private-ca.pem, insecure_skip_verify: false}
//	      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
//
// `tls` takes the keys of Prometheus's tls_config (ca_file, cert_file,
// key_file, server_name, insecure_skip_verify, min_version, ...). Unknown
// keys fail at load time. The request goes out without a proxy and without
// keep-alive, so each check measures a fresh connection. Headers go to
// whatever URL the caller names: when they carry credentials, narrow the
// `target` pattern to the hosts that may receive them.
package httpexporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

func init() {
	exporter.Register("http", New)
}

const (
	// maxBodyBytes caps what a check reads of the response: enough for
	// any health document, and a huge download cannot stall a run.
	maxBodyBytes = 1 << 20
	// defaultMaxRedirects is net/http's own limit.
	defaultMaxRedirects = 10
	// maxReserve is the most a check leaves of the run's deadline to
	// report its outcome.
	maxReserve = 250 * time.Millisecond
)

// TargetPattern is the default pattern of parameter `target`; a config may
// narrow it under `params:`.
var TargetPattern = exporter.URLPattern

// Options is the `options:` block of an `http` exporter; see the package
// documentation for the meaning of each key.
type Options struct {
	Method          string            `yaml:"method"`
	Headers         map[string]string `yaml:"headers"`
	Body            string            `yaml:"body"`
	ExpectedStatus  []int             `yaml:"expected_status"`
	BodyRegexp      string            `yaml:"body_regexp"`
	Timeout         time.Duration     `yaml:"timeout"`
	FollowRedirects *bool             `yaml:"follow_redirects"`
	MaxRedirects    *int              `yaml:"max_redirects"`
	TLS             config.TLSConfig  `yaml:"tls"`
	Buckets         []float64         `yaml:"buckets"`
}

type checker struct {
	method   string
	headers  http.Header
	host     string
	body     string
	expected []int
	bodyRE   *regexp.Regexp
	timeout  time.Duration
	buckets  []float64
	client   *http.Client
}

// New makes an `http` exporter from its options, checking all of them so
// a mistake fails when the config loads rather than on the first scrape.
func New(node *yaml.Node) (exporter.Builtin, error) {
	var o Options
	if err := exporter.DecodeOptions(node, &o); err != nil {
		return nil, err
	}
	c := &checker{method: http.MethodGet, headers: http.Header{}, body: o.Body, timeout: o.Timeout, buckets: prometheus.DefBuckets}
	if o.Method != "" {
		if !exporter.IsHTTPToken(o.Method) {
			return nil, fmt.Errorf("options.method: %q is not an HTTP method", o.Method)
		}
		c.method = o.Method
	}
	if err := exporter.CheckHeaders(o.Headers); err != nil {
		return nil, err
	}
	for name, value := range o.Headers {
		if strings.EqualFold(name, "Host") {
			c.host = value
			continue
		}
		c.headers.Set(name, value)
	}
	if c.headers.Get("User-Agent") == "" {
		c.headers.Set("User-Agent", "metricwrap")
	}
	for _, code := range o.ExpectedStatus {
		if code < 100 || code > 599 {
			return nil, fmt.Errorf("options.expected_status: %d is not an HTTP status code", code)
		}
	}
	c.expected = slices.Clone(o.ExpectedStatus)
	if o.BodyRegexp != "" {
		re, err := regexp.Compile(o.BodyRegexp)
		if err != nil {
			return nil, fmt.Errorf("options.body_regexp: %w", err)
		}
		c.bodyRE = re
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("options.timeout: %s is negative", o.Timeout)
	}
	if len(o.Buckets) > 0 {
		for i := 1; i < len(o.Buckets); i++ {
			if o.Buckets[i] <= o.Buckets[i-1] {
				return nil, errors.New("options.buckets: must be strictly increasing")
			}
		}
		c.buckets = slices.Clone(o.Buckets)
	}
	follow, limit := true, defaultMaxRedirects
	if o.FollowRedirects != nil {
		follow = *o.FollowRedirects
	}
	if o.MaxRedirects != nil {
		if !follow {
			return nil, errors.New("options.max_redirects: set, but follow_redirects is false")
		}
		if *o.MaxRedirects < 0 {
			return nil, fmt.Errorf("options.max_redirects: %d is negative", *o.MaxRedirects)
		}
		limit = *o.MaxRedirects
	}
	tlsConfig, err := config.NewTLSConfig(&o.TLS)
	if err != nil {
		return nil, fmt.Errorf("options.tls: %w", err)
	}
	c.client = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   tlsConfig,
			DisableKeepAlives: true,
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if !follow {
				return http.ErrUseLastResponse
			}
			if len(via) > limit {
				return fmt.Errorf("stopped after %d redirects", limit)
			}
			return nil
		},
	}
	return c, nil
}

func (c *checker) Params() exporter.Params {
	return exporter.Params{"target": {Name: "target", Pattern: TargetPattern, Required: true}}
}

// Collect checks the target once. A failed check fills the registry with
// an unhealthy state and returns nil; only a missing or unusable target,
// or a cancelled ctx, is an error.
func (c *checker) Collect(ctx context.Context, params map[string]string, reg prometheus.Registerer) error {
	target := params["target"]
	if target == "" {
		return errors.New("parameter target is required")
	}
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("parameter target: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("parameter target: %q is not an http or https URL", target)
	}

	status := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "http_health_status",
		Help: "Health of the target: 1 for the current state, 0 for the other.",
	}, []string{"http_health_status"})
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "http_health_request_duration_seconds",
		Help:    "Duration of the health check request, reading the response body included.",
		Buckets: c.buckets,
	})
	code := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "http_health_status_code",
		Help: "HTTP status code of the health check response, 0 when none arrived.",
	})
	for _, col := range []prometheus.Collector{status, duration, code} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}

	res := c.check(ctx, u)
	duration.Observe(res.duration.Seconds())
	code.Set(float64(res.code))
	healthy := 0.0
	if res.err == nil {
		healthy = 1
	}
	status.WithLabelValues("healthy").Set(healthy)
	status.WithLabelValues("unhealthy").Set(1 - healthy)
	return ctx.Err()
}

type result struct {
	code     int
	duration time.Duration
	err      error
}

// check makes the request. Its deadline is the smaller of the configured
// timeout and the run's deadline less a reserve, so a slow target is
// reported unhealthy instead of the whole run timing out.
func (c *checker) check(ctx context.Context, u *url.URL) result {
	ctx, cancel := checkContext(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
	if err != nil {
		return result{err: err}
	}
	req.Header = c.headers.Clone()
	if c.host != "" {
		req.Host = c.host
	}
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		// A response comes with an error only when a redirect was
		// refused; its body is already closed.
		res := result{duration: time.Since(start), err: err}
		if resp != nil {
			res.code = resp.StatusCode
		}
		return res
	}
	defer resp.Body.Close()
	res := result{code: resp.StatusCode}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	res.duration = time.Since(start)
	switch {
	case err != nil:
		res.err = fmt.Errorf("reading body: %w", err)
	case !c.expectedStatus(resp.StatusCode):
		res.err = fmt.Errorf("unexpected status %d", resp.StatusCode)
	case c.bodyRE != nil && !c.bodyRE.Match(data):
		res.err = fmt.Errorf("body does not match %s", c.bodyRE)
	}
	return res
}

func (c *checker) expectedStatus(code int) bool {
	if len(c.expected) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(c.expected, code)
}

// checkContext bounds ctx by timeout and by its own deadline less a tenth
// of the time left (at most maxReserve).
func checkContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		left -= min(left/10, maxReserve)
		if timeout <= 0 || left < timeout {
			timeout = max(left, time.Nanosecond)
		}
	}
	if timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}
