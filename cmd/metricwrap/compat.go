package main

import (
	"fmt"
	"io"
	"strings"
)

// The compatibility form of the original Python tool:
//
//	metricwrap --exporter NAME [--pushgateway-address HOST:PORT] [--no-print]
//	           [--debug] [--output-filename FILE] [ARGS...]
//
// Arguments it does not know go to the exporter (-h too, as in the original,
// once --exporter is given).

const compatUsage = `usage: metricwrap --exporter NAME [--pushgateway-address HOST:PORT] [--no-print] [--debug] [--output-filename FILE] [ARGS...]

The original metrics tool's command line: runs exporter NAME once, prints its
metrics and, with --pushgateway-address, pushes them (PUT, job = the exporter's
job name). Arguments not listed here are passed to the exporter.

  --exporter NAME                  Run metrics by exporter name
  --pushgateway-address HOST:PORT  Pushgateway address in host:port format
  --no-print                       Do not print metrics to stdout
  --debug                          Turn on debug mode, passed to the exporter
  --output-filename FILE           Also write the metrics to FILE
  --help                           Show this help

The other commands (serve, run, exec, check-config, flush): metricwrap --help
`

type compatArgs struct {
	exporter, pushgateway, outputFile, configFile, exportersDir string
	noPrint, debug, help                                        bool
	rest                                                        []string
}

// compatFlags are the original tool's flags that take a value.
var compatValueFlags = map[string]bool{
	"--exporter": true, "--pushgateway-address": true, "--output-filename": true,
	"--config.file": true, "--exporters.dir": true,
}

// commandWords are metricwrap's own commands; args that name one (before a
// "--") are never the compatibility form, whatever flags they carry.
var commandWords = map[string]bool{
	"serve": true, "run": true, "exec": true, "check-config": true, "flush": true, "help": true,
}

// isCompat reports whether args use the original tool's form: --exporter
// (whatever the exporter's arguments are), or, with no command word, one of
// the original tool's other flags (which then prints its help).
func isCompat(args []string) bool {
	if len(args) == 0 || !strings.HasPrefix(args[0], "--") {
		return false
	}
	other, command := false, false
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(a, "=")
		switch {
		case name == "--exporter":
			return true
		case commandWords[a]:
			command = true
		case name == "--pushgateway-address", name == "--no-print", name == "--debug", name == "--output-filename":
			other = true
		}
	}
	return other && !command
}

func parseCompat(args []string) (compatArgs, error) {
	var c compatArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if compatValueFlags[name] {
			if !hasValue {
				if i+1 >= len(args) {
					return c, fmt.Errorf("flag %s needs a value", name)
				}
				i++
				value = args[i]
			}
			switch name {
			case "--exporter":
				c.exporter = value
			case "--pushgateway-address":
				c.pushgateway = value
			case "--output-filename":
				c.outputFile = value
			case "--config.file":
				c.configFile = value
			case "--exporters.dir":
				c.exportersDir = value
			}
			continue
		}
		switch a {
		case "--no-print":
			c.noPrint = true
		case "--debug":
			c.debug = true
		case "--help":
			c.help = true
		default:
			c.rest = append(c.rest, a)
		}
	}
	return c, nil
}

func runCompat(args []string, stdout, stderr io.Writer) int {
	c, err := parseCompat(args)
	if err != nil {
		fmt.Fprintf(stderr, "metricwrap: %v\n", err)
		return 2
	}
	if c.help || c.exporter == "" {
		fmt.Fprint(stdout, compatUsage)
		return 0
	}
	g := &globals{stdout: stdout, stderr: stderr, configFile: c.configFile, exportersDir: c.exportersDir}
	g.logConfig.Writer = stderr
	g.logger = newLogger(stderr, c.debug)
	r := &runCmd{
		name:       c.exporter,
		args:       c.rest,
		noPrint:    c.noPrint,
		debug:      c.debug,
		outputFile: c.outputFile,
		compat:     true,
	}
	if c.pushgateway != "" {
		r.pushgatewayAddr = c.pushgateway
		r.push = []string{"pushgateway"}
	}
	return r.execute(g)
}
