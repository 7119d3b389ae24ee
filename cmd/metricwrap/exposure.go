package main

import (
	"log/slog"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// warnOpenParams logs, once at start, which exporters take open parameters
// when the web config asks for no authentication: any client that reaches
// the port can then pass them arguments of its choosing.
func warnOpenParams(log *slog.Logger, set *exporter.Set, webConfigFile string) {
	var open []string
	for _, e := range set.Entries() {
		if e.Params().Open() {
			open = append(open, e.Name())
		}
	}
	if len(open) == 0 || webConfigRequiresAuth(webConfigFile) {
		return
	}
	log.Warn("exporters with open parameters are reachable without authentication: any client can pass them --NAME=VALUE arguments; set discovery.open_params: false, declare params in the config, or require basic auth or client certificates in --web.config.file",
		"exporters", strings.Join(open, ","))
}

// webConfigRequiresAuth reports whether the exporter-toolkit web config
// demands basic auth or a verified client certificate. A file that cannot
// be read counts as no auth; serving fails on it anyway.
func webConfigRequiresAuth(file string) bool {
	if file == "" {
		return false
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var c struct {
		BasicAuthUsers map[string]string `yaml:"basic_auth_users"`
		TLS            struct {
			ClientAuthType string `yaml:"client_auth_type"`
		} `yaml:"tls_server_config"`
	}
	if yaml.Unmarshal(data, &c) != nil {
		return false
	}
	return len(c.BasicAuthUsers) > 0 || c.TLS.ClientAuthType == "RequireAndVerifyClientCert"
}
