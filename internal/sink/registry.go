package sink

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	promconfig "github.com/prometheus/common/config"

	"github.com/metricwrap/metricwrap/internal/config"
)

// Env is what building a sink may read besides its config entry.
type Env struct {
	// Getenv reads the environment (the env-only sinks, and fallbacks such
	// as DT_TENANT or S3_ENDPOINT_URL).
	Getenv func(string) string
	// StateDir is where sinks keep state beside the spool (counter deltas).
	StateDir string
	// PushgatewayAddr is --pushgateway-address; it wins over PUSHGATEWAY_URL.
	PushgatewayAddr string
	Logger          *slog.Logger
}

// StateFile is the state file of the sink called name, of the given kind.
func (e Env) StateFile(kind, name string) string {
	return filepath.Join(e.StateDir, kind+"-"+safeFile(name)+".json")
}

// Kind is one type of sink. Each sink package registers its Kind in an
// init function (package internal/sink/all links them all), so that the
// code reading a sink's config and environment lives with the sink.
type Kind struct {
	// Type is the config's type key, such as config.SinkPushgateway.
	Type string
	// EnvName is the name of the env-only sink, such as "pushgateway";
	// empty when the type has none.
	EnvName string
	// FromConfig builds the sink called name from its config entry.
	FromConfig func(name string, sc *config.SinkConfig, env Env) (Sink, error)
	// FromEnv builds the env-only sink from the environment alone, with
	// the defaults of config.DefaultSinkConfig.
	FromEnv func(env Env) (Sink, error)
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
	byEnv   = map[string]Kind{}
)

// Register makes a kind of sink buildable; a second registration of a type
// or an env name is a programming error.
func Register(k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[k.Type]; dup {
		panic("sink: type " + k.Type + " registered twice")
	}
	kinds[k.Type] = k
	if k.EnvName != "" {
		if _, dup := byEnv[k.EnvName]; dup {
			panic("sink: env-only sink " + k.EnvName + " registered twice")
		}
		byEnv[k.EnvName] = k
	}
}

// FromConfig builds the sink called name from its config entry.
func FromConfig(name string, sc *config.SinkConfig, env Env) (Sink, error) {
	kindsMu.RLock()
	k, ok := kinds[sc.Type]
	kindsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown sink type %q", sc.Type)
	}
	return k.FromConfig(name, sc, env)
}

// FromEnv builds the env-only sink called name.
func FromEnv(name string, env Env) (Sink, error) {
	kindsMu.RLock()
	k, ok := byEnv[name]
	kindsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("not defined in the config, and not one of the env-only sinks %s", strings.Join(EnvNames(), ", "))
	}
	return k.FromEnv(env)
}

// EnvNames lists the env-only sinks, sorted.
func EnvNames() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	names := make([]string, 0, len(byEnv))
	for n := range byEnv {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ReadSecretFile reads a token or key from a file, trimming the newline
// editors leave.
func ReadSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// BasicAuth resolves a basic_auth block: username or username_file,
// password or password_file.
func BasicAuth(ba *promconfig.BasicAuth) (user, password string, err error) {
	if ba == nil {
		return "", "", nil
	}
	user = ba.Username
	if ba.UsernameFile != "" {
		if user, err = ReadSecretFile(ba.UsernameFile); err != nil {
			return "", "", fmt.Errorf("basic_auth.username_file: %w", err)
		}
	}
	if password, err = Secret(ba.Password, ba.PasswordFile); err != nil {
		return "", "", fmt.Errorf("basic_auth: %w", err)
	}
	return user, password, nil
}

// Secret is s, or the content of file when file is set.
func Secret(s promconfig.Secret, file string) (string, error) {
	if file != "" {
		v, err := ReadSecretFile(file)
		if err != nil {
			return "", fmt.Errorf("reading secret file: %w", err)
		}
		return v, nil
	}
	return string(s), nil
}

// TLS builds a tls_config block; nil for an empty one.
func TLS(tc promconfig.TLSConfig) (*tls.Config, error) {
	if tc == (promconfig.TLSConfig{}) {
		return nil, nil
	}
	c, err := promconfig.NewTLSConfig(&tc)
	if err != nil {
		return nil, fmt.Errorf("tls_config: %w", err)
	}
	return c, nil
}

// HTTPClient is an HTTP client using tlsConfig, or nil (the sink's own
// default) without one.
func HTTPClient(tlsConfig *tls.Config) *http.Client {
	if tlsConfig == nil {
		return nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	return &http.Client{Transport: tr}
}

// safeFile keeps a sink name usable as part of a file name.
func safeFile(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
}
