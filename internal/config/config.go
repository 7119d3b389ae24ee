package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/redact"
)

// Config is the whole metricwrap.yml.
type Config struct {
	Global GlobalConfig `yaml:"global"`
	// ExportersDir is where exporters are discovered; empty means the caller's
	// default (./exporters when it exists).
	ExportersDir string `yaml:"exporters_dir,omitempty"`
	// Discovery says what an exporter discovered in ExportersDir may do.
	Discovery DiscoveryConfig            `yaml:"discovery"`
	Exporters map[string]*ExporterConfig `yaml:"exporters,omitempty"`
	Sinks     map[string]*SinkConfig     `yaml:"sinks,omitempty"`
	Spool     SpoolConfig                `yaml:"spool"`
	Jobs      map[string]*JobConfig      `yaml:"jobs,omitempty"`

	// file and lines locate keys for problems found after loading, see
	// Line and Problem.
	file  string
	lines map[string]int
	// envRefs lists, per value path, the variables ${VAR} expanded there.
	envRefs map[string][]string
}

// GlobalConfig holds the settings every exporter inherits.
type GlobalConfig struct {
	// Timeout bounds a run when the exporter sets none.
	Timeout model.Duration `yaml:"timeout"`
	// MaxConcurrency is the number of runs at once; 0 means unset, and the
	// caller applies WORKERS or 2 x CPUs.
	MaxConcurrency int `yaml:"max_concurrency,omitempty"`
	// Labels are constant labels added to everything delivered to sinks.
	Labels map[string]string `yaml:"labels,omitempty"`
	// LabelsFromEnv maps a label name to the environment variable its value
	// is read from at startup.
	LabelsFromEnv map[string]string `yaml:"labels_from_env,omitempty"`
	// Python is the interpreter for Python exporters; empty means
	// METRICWRAP_PYTHON, then discovery on PATH.
	Python         string         `yaml:"python,omitempty"`
	KillGrace      model.Duration `yaml:"kill_grace"`
	MaxOutputBytes Bytes          `yaml:"max_output_bytes"`
	// MaxDirBytes caps what a run may store in its private directory,
	// METRICS_FILE and every other file together.
	MaxDirBytes  Bytes `yaml:"max_dir_bytes"`
	CaptureBytes Bytes `yaml:"capture_bytes"`
	// EnvPassthrough names server environment variables every child gets.
	EnvPassthrough []string `yaml:"env_passthrough,omitempty"`
	// CacheMaxBytes bounds the result cache of cache_ttl and
	// stale_on_error exporters (encoded answers, keys included).
	CacheMaxBytes Bytes `yaml:"cache_max_bytes"`
	// ClusterShards splits serve's schedules across this many replicas
	// (internal/shard); it overrides --cluster.shards, so a reload can
	// change it. 0 means unset.
	ClusterShards int `yaml:"cluster_shards,omitempty"`
}

// DiscoveryConfig holds the settings of the exporters directory: what a
// file found there is allowed, since nobody declared its parameters.
type DiscoveryConfig struct {
	// OpenParams lets a discovered exporter take any query parameter whose
	// name is a plain word, passed as --NAME=VALUE (the original tool's
	// URLs). Nil means: only for Python files of the original layout
	// (NAME.py, NAME/NAME.py), whose URLs must keep working; true means
	// every discovered exporter, false none.
	OpenParams *bool `yaml:"open_params,omitempty"`
	// FollowSymlinks lets discovery run a symlink whose target lies outside
	// the exporters directory; by default such an entry is skipped.
	FollowSymlinks bool `yaml:"follow_symlinks,omitempty"`
}

// OpenParamsFor says whether a discovered exporter gets open parameters;
// python is true for a Python file of the original layout.
func (d DiscoveryConfig) OpenParamsFor(python bool) bool {
	if d.OpenParams != nil {
		return *d.OpenParams
	}
	return python
}

// SpoolConfig bounds the durable queue of undelivered pushes.
type SpoolConfig struct {
	// Dir defaults to DefaultSpoolDir().
	Dir      string         `yaml:"dir"`
	MaxBytes Bytes          `yaml:"max_bytes"`
	MaxAge   model.Duration `yaml:"max_age"`
}

// Defaults, applied to each section before it is decoded, so a key left out
// keeps them.
var (
	DefaultGlobalConfig = GlobalConfig{
		Timeout:        model.Duration(30 * time.Second),
		KillGrace:      model.Duration(2 * time.Second),
		MaxOutputBytes: 16 << 20,
		MaxDirBytes:    64 << 20,
		CaptureBytes:   64 << 10,
		CacheMaxBytes:  64 << 20,
	}
	// DefaultSpoolConfig leaves Dir empty: DefaultSpoolDir() fills it in
	// when the config is loaded, from the environment of that moment.
	DefaultSpoolConfig = SpoolConfig{
		MaxBytes: 1 << 30,
		MaxAge:   model.Duration(72 * time.Hour),
	}
)

// DefaultSpoolDir is where undelivered pushes wait when spool.dir is not
// set: $XDG_STATE_HOME/metricwrap/spool, else ~/.local/state/metricwrap/spool
// (the XDG default), else metricwrap-spool under the temporary directory
// when there is no home. Packaged services set spool.dir, typically
// /var/lib/metricwrap/spool.
func DefaultSpoolDir() string {
	if s := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(s) {
		return filepath.Join(s, "metricwrap", "spool")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "metricwrap", "spool")
	}
	return filepath.Join(os.TempDir(), "metricwrap-spool")
}

// Default is the configuration of an empty file: defaults everywhere, no
// exporters, sinks or jobs (the maps are empty, not nil, so discovered
// exporters can be added).
func Default() *Config {
	c := &Config{
		Global:    DefaultGlobalConfig,
		Exporters: map[string]*ExporterConfig{},
		Sinks:     map[string]*SinkConfig{},
		Spool:     DefaultSpoolConfig,
		Jobs:      map[string]*JobConfig{},
	}
	c.Spool.Dir = DefaultSpoolDir()
	return c
}

// Load reads and validates a config file. On failure the error is an Errors
// listing every problem found, each with file, line and key.
func Load(filename string) (*Config, error) {
	data, err := readFile(filename)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return LoadBytes(filename, data)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// LoadBytes is Load for a file already read; filename is only used in
// messages. ${VAR} references in values are expanded from the environment
// first.
func LoadBytes(filename string, data []byte) (*Config, error) {
	c, err := loadBytes(filename, data)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func loadBytes(filename string, data []byte) (*Config, error) {
	d := newDecoder(filename)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Default(), nil
		}
		return nil, Errors{syntaxError(filename, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, Errors{{File: filename, Line: extra.Line, Msg: "more than one YAML document"}}
	case !errors.Is(err, io.EOF):
		return nil, Errors{syntaxError(filename, err)}
	}
	d.expandTree(&doc, "", os.LookupEnv, 0)
	c := Default()
	if len(doc.Content) > 0 {
		c.decodeNode(d, doc.Content[0], "")
	}
	c.file, c.lines, c.envRefs = filename, d.lines, d.envRefs
	if err := d.err(); err != nil {
		return partial(c, err)
	}
	return c, nil
}

func syntaxError(filename string, err error) *Error {
	e := &Error{File: filename, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	return e
}

// UnmarshalYAML decodes and validates a whole config strictly, without
// environment expansion (that is Load's job). The error is an Errors.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	c.decodeNode(d, n, "")
	return d.err()
}

func (c *Config) decodeNode(d *decoder, n *yaml.Node, path string) {
	*c = *Default()
	d.decodeFields(n, path, reflect.ValueOf(c).Elem())
	if c.Exporters == nil {
		c.Exporters = map[string]*ExporterConfig{}
	}
	if c.Sinks == nil {
		c.Sinks = map[string]*SinkConfig{}
	}
	if c.Jobs == nil {
		c.Jobs = map[string]*JobConfig{}
	}
	c.validate(d)
}

// validate checks what crosses sections: names, and references to sinks.
func (c *Config) validate(d *decoder) {
	for _, name := range sortedKeys(c.Exporters) {
		e := c.Exporters[name]
		p := join("exporters", name)
		if !nameRE.MatchString(name) {
			d.errorf(p, "invalid exporter name %q (want %s)", name, nameRE)
		}
		// A Python class names its job itself, at run time (its
		// instance's job_name); the python kind decides that.
		if e.Job == "" && e.Kind() != KindPython {
			e.Job = name
		}
		c.checkSinkRefs(d, join(p, "sinks"), e.Sinks)
	}
	for _, name := range sortedKeys(c.Sinks) {
		if !nameRE.MatchString(name) {
			d.errorf(join("sinks", name), "invalid sink name %q (want %s)", name, nameRE)
		}
	}
	for _, name := range sortedKeys(c.Jobs) {
		p := join("jobs", name)
		if !nameRE.MatchString(name) {
			d.errorf(p, "invalid job name %q (want %s)", name, nameRE)
		}
		c.checkSinkRefs(d, join(p, "sinks"), c.Jobs[name].Sinks)
	}
	checkJobMetricConflicts(d, c.Jobs)
	c.registerSecrets()
}

// secretEnv are the environment variables sinks read credentials from
// without a ${VAR} in the file (SPEC 1 and 4.3).
var secretEnv = []string{"DT_API_TOKEN", "AWS_SECRET_ACCESS_KEY", "CEPH_SECRET_KEY", "REMOTE_WRITE_PASSWORD", "REMOTE_WRITE_BEARER_TOKEN"}

// headerEnv hold OTLP headers as the OpenTelemetry SDKs read them,
// "key=value,key2=value2" with URL-encoded values: each value is a secret
// on its own (a message quotes a header's value, never the whole list).
var headerEnv = []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"}

// registerSecrets tells package redact the credentials this config holds
// or names: passwords, keys and tokens written in it, and the environment
// variables sinks read tokens from.
func (c *Config) registerSecrets() {
	vals := []string{}
	for _, name := range secretEnv {
		vals = append(vals, os.Getenv(name))
	}
	for _, name := range headerEnv {
		for _, kv := range strings.Split(os.Getenv(name), ",") {
			_, v, _ := strings.Cut(kv, "=")
			if u, err := url.QueryUnescape(strings.TrimSpace(v)); err == nil {
				v = u
			}
			vals = append(vals, headerSecrets(v)...)
		}
	}
	for _, s := range c.Sinks {
		vals = append(vals, string(s.SecretAccessKey), string(s.BearerToken))
		for _, v := range s.Headers {
			vals = append(vals, headerSecrets(string(v))...)
		}
		if s.BasicAuth != nil {
			vals = append(vals, string(s.BasicAuth.Password))
		}
		if s.TokenEnv != "" {
			vals = append(vals, os.Getenv(s.TokenEnv))
		}
	}
	for _, e := range c.Exporters {
		for _, v := range e.Env {
			vals = append(vals, v)
		}
	}
	redact.Register(vals...)
}

// headerSecrets are what to hide of a header value: all of it and, for
// "SCHEME CREDENTIAL" (Api-Token, Bearer, Basic), the credential alone.
func headerSecrets(v string) []string {
	v = strings.TrimSpace(v)
	if scheme, cred, ok := strings.Cut(v, " "); ok && scheme != "" {
		return []string{v, strings.TrimSpace(cred)}
	}
	return []string{v}
}

func (c *Config) checkSinkRefs(d *decoder, path string, refs []string) {
	seen := map[string]bool{}
	for i, s := range refs {
		p := index(path, i)
		switch {
		case seen[s]:
			d.errorf(p, "sink %q listed twice", s)
		case c.Sinks[s] == nil:
			d.errorf(p, "undefined sink %q (define it under sinks)", s)
		}
		seen[s] = true
	}
}

// nameRE is what exporter, sink and job names look like: nothing that could
// name a path.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// UnmarshalYAML decodes the global section on its own.
func (g *GlobalConfig) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	g.decodeNode(d, n, "")
	return d.err()
}

func (g *GlobalConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	*g = DefaultGlobalConfig
	d.decodeFields(n, path, reflect.ValueOf(g).Elem())
	if g.Timeout <= 0 {
		d.errorf(join(path, "timeout"), "must be greater than zero")
	}
	if g.KillGrace <= 0 {
		d.errorf(join(path, "kill_grace"), "must be greater than zero")
	}
	if g.MaxConcurrency < 0 {
		d.errorf(join(path, "max_concurrency"), "must not be negative (0 means WORKERS or 2 x CPUs)")
	}
	if g.ClusterShards < 0 {
		d.errorf(join(path, "cluster_shards"), "must not be negative (0 or left out means --cluster.shards)")
	}
	if g.MaxOutputBytes <= 0 {
		d.errorf(join(path, "max_output_bytes"), "must be greater than zero")
	}
	if g.MaxDirBytes <= 0 {
		d.errorf(join(path, "max_dir_bytes"), "must be greater than zero")
	}
	if g.CacheMaxBytes <= 0 {
		d.errorf(join(path, "cache_max_bytes"), "must be greater than zero")
	}
	if g.CaptureBytes <= 0 {
		d.errorf(join(path, "capture_bytes"), "must be greater than zero")
	}
	checkLabelNames(d, join(path, "labels"), g.Labels)
	checkLabelNames(d, join(path, "labels_from_env"), g.LabelsFromEnv)
	for _, l := range sortedKeys(g.LabelsFromEnv) {
		if v := g.LabelsFromEnv[l]; !envNameRE.MatchString(v) {
			d.errorf(join(join(path, "labels_from_env"), l), "invalid environment variable name %q", v)
		}
	}
	checkPassthrough(d, join(path, "env_passthrough"), g.EnvPassthrough)
}

// UnmarshalYAML decodes the spool section on its own.
func (s *SpoolConfig) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("")
	s.decodeNode(d, n, "")
	return d.err()
}

func (s *SpoolConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	*s = DefaultSpoolConfig
	s.Dir = DefaultSpoolDir()
	d.decodeFields(n, path, reflect.ValueOf(s).Elem())
	if s.Dir == "" {
		d.errorf(join(path, "dir"), "must not be empty")
	}
	if s.MaxBytes <= 0 {
		d.errorf(join(path, "max_bytes"), "must be greater than zero")
	}
	if s.MaxAge <= 0 {
		d.errorf(join(path, "max_age"), "must be greater than zero")
	}
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func checkLabelNames[V any](d *decoder, path string, m map[string]V) {
	for _, l := range sortedKeys(m) {
		switch {
		case !labelNameRE.MatchString(l):
			d.errorf(join(path, l), "invalid label name %q", l)
		case strings.HasPrefix(l, "__"):
			d.errorf(join(path, l), "label name %q is reserved (starts with __)", l)
		}
	}
}

// String is the config as YAML with secrets hidden: Secret values print as
// <secret>, exporter env values (often tokens from ${VAR}) as <hidden>, and
// passwords in URLs as xxxxx.
func (c *Config) String() string {
	cp := *c
	cp.Exporters = make(map[string]*ExporterConfig, len(c.Exporters))
	for name, e := range c.Exporters {
		ec := *e
		if e.Env != nil {
			ec.Env = make(map[string]string, len(e.Env))
			for k := range e.Env {
				ec.Env[k] = "<hidden>"
			}
		}
		ec.Scrape = redactURL(e.Scrape)
		cp.Exporters[name] = &ec
	}
	cp.Sinks = make(map[string]*SinkConfig, len(c.Sinks))
	for name, s := range c.Sinks {
		sc := *s
		sc.URL = redactURL(s.URL)
		sc.Endpoint = redactURL(s.Endpoint)
		cp.Sinks[name] = &sc
	}
	type plain Config // without MarshalYAML, which calls String
	out, err := yaml.Marshal((*plain)(&cp))
	if err != nil {
		return fmt.Sprintf("<config: %v>", err)
	}
	return string(out)
}

// MarshalYAML hides the same secrets as String.
func (c *Config) MarshalYAML() (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(c.String()), &n); err != nil {
		return nil, err
	}
	if len(n.Content) == 0 {
		return map[string]any{}, nil
	}
	return n.Content[0], nil
}

func redactURL(s string) string { return redact.URL(s) }
