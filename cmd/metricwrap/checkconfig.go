package main

import (
	"errors"
	"fmt"

	"github.com/alecthomas/kingpin/v2"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/delivery"
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

func (c *checkConfigCmd) execute(g *globals) int {
	cfg, name, err := loadConfig(g)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(g.stderr, e)
			}
			fmt.Fprintf(g.stderr, "%s: %d problem(s)\n", name, len(errs))
			return 1
		}
		return fail(g, 1, "%v", err)
	}
	problems := 0
	set, err := buildExporters(g, cfg, name, nil)
	if err != nil {
		problems += report(g, err)
	} else if err := schedule.Check(set); err != nil {
		problems += report(g, fmt.Errorf("%s: %w", name, err))
	}
	// Sinks are built without opening the spool: a running server may hold it.
	for sinkName := range cfg.Sinks {
		if _, err := delivery.Prepare([]string{sinkName}, delivery.Options{Config: cfg, Logger: g.logger}); err != nil {
			problems += report(g, fmt.Errorf("%s: %w", name, err))
		}
	}
	if problems > 0 {
		fmt.Fprintf(g.stderr, "%s: %d problem(s)\n", name, problems)
		return 1
	}
	fmt.Fprintf(g.stdout, "%s: OK (%d exporters, %d sinks)\n", name, len(cfg.Exporters), len(cfg.Sinks))
	return 0
}

// report prints each error joined in err on a line of its own.
func report(g *globals, err error) int {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		n := 0
		for _, e := range joined.Unwrap() {
			n += report(g, e)
		}
		return n
	}
	fmt.Fprintln(g.stderr, err)
	return 1
}
