package main

import (
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/common/promslog"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	_ "github.com/metricwrap/metricwrap/internal/exporter/builtin" // every built-in registers itself
	"github.com/metricwrap/metricwrap/internal/exporter/python"
	"github.com/metricwrap/metricwrap/internal/redact"
)

//go:embed default.yml
var defaultConfig []byte

// defaultConfigName names the embedded config in messages.
const defaultConfigName = "<embedded default config>"

// loadConfig reads --config.file, or the embedded default without one.
func loadConfig(g *globals) (*config.Config, string, error) {
	if g.configFile == "" {
		cfg, err := config.LoadBytes(defaultConfigName, defaultConfig)
		return cfg, defaultConfigName, err
	}
	cfg, err := config.Load(g.configFile)
	return cfg, g.configFile, err
}

// buildExporters makes the exporter set of cfg; pool, when not nil, has
// warm workers for Python class exporters, used where the engine runs warm
// (serve only). With the embedded default config, the user's own exporters
// win over its built-ins.
func buildExporters(g *globals, cfg *config.Config, name string, pool *python.Pool) (*exporter.Set, error) {
	return exporter.Build(cfg, exporter.BuildOptions{
		ConfigFile:    name,
		ExportersDir:  g.exportersDir,
		Python:        python.New(cfg.Global.Python, pool),
		DiscoveredWin: name == defaultConfigName,
		Logger:        g.logger,
	})
}

// newLogger is the logger of the compatibility form: info, or debug with
// --debug, logfmt on stderr.
func newLogger(w io.Writer, debug bool) *slog.Logger {
	c := &promslog.Config{Writer: w, Level: promslog.NewLevel()}
	if debug {
		_ = c.Level.Set("debug")
	}
	return slog.New(redact.Handler(promslog.New(c).Handler()))
}

// fail prints err for a person and returns the exit code.
func fail(g *globals, code int, format string, args ...any) int {
	fmt.Fprintln(g.stderr, "metricwrap: "+redact.Text(fmt.Sprintf(format, args...)))
	return code
}

var _ = os.Stderr
