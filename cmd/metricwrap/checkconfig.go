package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/delivery"
	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exporter/python"
	"github.com/metricwrap/metricwrap/internal/redact"
	"github.com/metricwrap/metricwrap/internal/schedule"
)

// checkConfigCmd is `metricwrap check-config`: load the config as serve
// would, build every exporter and sink, and list every problem.
type checkConfigCmd struct {
	cmd *kingpin.CmdClause
}

func (c *checkConfigCmd) register(app *kingpin.Application, _ *globals) {
	c.cmd = app.Command("check-config", "Validate the config file; list every problem with file, line and key.")
}

func (c *checkConfigCmd) selected(name string) bool {
	return c.cmd != nil && name == c.cmd.FullCommand()
}

// execute reports every problem in one pass: what loading finds, and then,
// for the exporters and sinks loading had nothing against, what building
// them finds (built-in options, scheduled parameters, sink credentials),
// each with its file, line and key.
func (c *checkConfigCmd) execute(g *globals) int {
	cfg, name, err := loadPartialConfig(g)
	var problems []string
	var errs config.Errors
	switch {
	case errors.As(err, &errs):
		for _, e := range errs {
			problems = append(problems, e.Error())
		}
	case err != nil:
		return fail(g, 1, "%v", err)
	}
	if cfg != nil {
		problems = append(problems, buildProblems(g, cfg, name)...)
		for _, w := range cfg.Warnings() {
			fmt.Fprintln(g.stderr, "warning: "+redact.Text(w.Error()))
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(g.stderr, redact.Text(p))
		}
		fmt.Fprintf(g.stderr, "%s: %d problem(s)\n", name, len(problems))
		return 1
	}
	fmt.Fprintf(g.stdout, "%s: OK (%d exporters, %d sinks)\n", name, len(cfg.Exporters), len(cfg.Sinks))
	return 0
}

// loadPartialConfig is loadConfig keeping what loaded when there are
// problems (see config.LoadPartial).
func loadPartialConfig(g *globals) (*config.Config, string, error) {
	if g.configFile == "" {
		cfg, err := config.LoadPartialBytes(defaultConfigName, defaultConfig)
		return cfg, defaultConfigName, err
	}
	cfg, err := config.LoadPartial(g.configFile)
	if err != nil && cfg == nil && !errors.As(err, new(config.Errors)) {
		return nil, g.configFile, fmt.Errorf("read config: %w", err)
	}
	return cfg, g.configFile, err
}

// buildProblems builds the exporters and sinks of cfg as serve would and
// lists what fails.
func buildProblems(g *globals, cfg *config.Config, name string) []string {
	var problems []string
	set, err := buildExporters(g, cfg, name, nil)
	if err != nil {
		problems = append(problems, split(err)...)
		// Build makes no set when one exporter fails: build the others
		// one by one so their scheduled parameters are checked too.
		set = buildEach(g, cfg, name)
	}
	// One entry at a time, so that every refused schedule_params is listed.
	for _, e := range set.Entries() {
		one, err := exporter.NewSet(e)
		if err != nil {
			continue
		}
		if err := schedule.Check(one); err != nil {
			key := config.Key("exporters", e.Name()) + ".schedule_params"
			msg := strings.TrimPrefix(err.Error(), "exporter "+e.Name()+": schedule_params: ")
			problems = append(problems, cfg.Problem(key, errors.New(msg)).Error())
		}
	}
	// Sinks are built without opening the spool: a running server may hold it.
	names := make([]string, 0, len(cfg.Sinks))
	for n := range cfg.Sinks {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, sinkName := range names {
		if _, err := delivery.Prepare([]string{sinkName}, delivery.Options{Config: cfg, Logger: g.logger}); err != nil {
			for _, msg := range split(err) {
				// delivery says "sink NAME: ..."; the key says it here.
				msg = strings.TrimPrefix(msg, "sink "+sinkName+": ")
				problems = append(problems, cfg.Problem(config.Key("sinks", sinkName), errors.New(msg)).Error())
			}
		}
	}
	return problems
}

// buildEach is the set of the configured exporters that build on their
// own (their problems are already reported).
func buildEach(g *globals, cfg *config.Config, name string) *exporter.Set {
	empty, err := os.MkdirTemp("", "metricwrap-check-")
	if err != nil {
		return nil
	}
	defer os.Remove(empty)
	var entries []*exporter.Entry
	for n, ec := range cfg.Exporters {
		one := *cfg
		one.Exporters = map[string]*config.ExporterConfig{n: ec}
		set, err := exporter.Build(&one, exporter.BuildOptions{ConfigFile: name, ExportersDir: empty,
			Python: python.New(cfg.Global.Python, nil), Logger: g.logger})
		if err == nil {
			entries = append(entries, set.Entries()...)
		}
	}
	set, err := exporter.NewSet(entries...)
	if err != nil {
		return nil
	}
	return set
}

// split lists each error joined in err.
func split(err error) []string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, split(e)...)
		}
		return out
	}
	return []string{err.Error()}
}
