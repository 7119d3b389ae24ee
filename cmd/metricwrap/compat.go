package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// The compatibility form of the original Python tool:
//
//	metricwrap --exporter NAME [--pushgateway-address HOST:PORT] [--no-print]
//	           [--debug] [--output-filename FILE] [ARGS...]
//
// It behaves as the original's `metrics` script: arguments it does not know
// go to the exporter (-h too); --help with --exporter asks the exporter's
// own argparse (-h is appended); its flags may be abbreviated to any
// unambiguous prefix (argparse's rule: --exp NAME); the exporter's stdout
// and stderr reach the terminal; there is no time limit unless --timeout
// gives one; the exporter's exit code is passed on; the metrics are printed
// only when stdin is a terminal.

const compatUsage = `usage: metricwrap --exporter NAME [--pushgateway-address HOST:PORT] [--no-print] [--debug] [--output-filename FILE] [ARGS...]

The original metrics tool's command line: runs exporter NAME once, prints its
metrics when stdin is a terminal and, with --pushgateway-address, pushes them
(PUT, job = the exporter's job_name). Arguments not listed here are passed to
the exporter; these flags may be abbreviated (--exp NAME).

  --exporter NAME                  Run metrics by exporter name
  --pushgateway-address HOST:PORT  Pushgateway address in host:port format
  --no-print                       Do not print metrics to stdout
  --debug                          Turn on debug mode, passed to the exporter
  --output-filename FILE           Also write the metrics to FILE
  --help                           Show this help; with --exporter, the exporter's

metricwrap's own, never abbreviated:
  --timeout DURATION               Bound the run (default: none); give it before
                                   --exporter, after which it is the exporter's
  --config.file FILE               A metricwrap configuration
  --exporters.dir DIR              Where exporters are found (default ./exporters)

The other commands (serve, run, exec, check-config, flush): metricwrap --help
`

type compatArgs struct {
	exporter, pushgateway, outputFile, configFile, exportersDir string
	noPrint, debug, help                                        bool
	timeout                                                     time.Duration
	rest                                                        []string
}

// originalFlags are the original tool's flags. Its argparse accepted each
// abbreviated to any prefix that names only one of them.
var originalFlags = []string{"--exporter", "--pushgateway-address", "--output-filename", "--no-print", "--debug", "--help"}

// ownFlags are metricwrap's additions, matched by their whole name only.
var ownFlags = []string{"--config.file", "--exporters.dir", "--timeout"}

// valueFlags take a value, as the next argument or after "=".
var valueFlags = map[string]bool{
	"--exporter": true, "--pushgateway-address": true, "--output-filename": true,
	"--config.file": true, "--exporters.dir": true, "--timeout": true,
}

// resolveFlag returns the flag name stands for: itself when it is one of
// ours or the original's, the original flag it abbreviates, or "" when it
// is the exporter's.
func resolveFlag(name string) string {
	for _, f := range append(originalFlags[:len(originalFlags):len(originalFlags)], ownFlags...) {
		if name == f {
			return f
		}
	}
	if len(name) < 3 || !strings.HasPrefix(name, "--") {
		return ""
	}
	match := ""
	for _, f := range originalFlags {
		if strings.HasPrefix(f, name) {
			if match != "" {
				return "" // cannot happen with the original's six flags
			}
			match = f
		}
	}
	return match
}

// commandWords are metricwrap's own commands; args that name one (before a
// "--") are never the compatibility form, whatever flags they carry.
var commandWords = map[string]bool{
	"serve": true, "run": true, "exec": true, "check-config": true, "flush": true, "help": true,
}

// isCompat reports whether args use the original tool's form: --exporter
// (or an abbreviation of it, whatever the exporter's arguments are), or,
// with no command word, one of the original tool's other flags (which then
// prints its help).
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
		switch flag := resolveFlag(name); {
		case flag == "--exporter":
			return true
		case commandWords[a]:
			command = true
		case flag == "--pushgateway-address", flag == "--no-print", flag == "--debug", flag == "--output-filename":
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
		flag := resolveFlag(name)
		if flag == "--timeout" && c.exporter != "" {
			flag = "" // after --exporter, the exporter's own --timeout
		}
		if flag == "" {
			c.rest = append(c.rest, a)
			continue
		}
		if !valueFlags[flag] {
			if hasValue {
				return c, fmt.Errorf("flag %s takes no value", flag)
			}
			switch flag {
			case "--no-print":
				c.noPrint = true
			case "--debug":
				c.debug = true
			case "--help":
				c.help = true
			}
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return c, fmt.Errorf("flag %s needs a value", flag)
			}
			i++
			value = args[i]
		}
		switch flag {
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
		case "--timeout":
			d, err := parseTimeout(value)
			if err != nil {
				return c, err
			}
			c.timeout = d
		}
	}
	return c, nil
}

// parseTimeout reads a duration (90s, 5m) or plain seconds (90).
func parseTimeout(v string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--timeout %q: want a positive duration such as 90s or 5m", v)
	}
	return d, nil
}

// stdinIsTerminal is the original tool's condition for printing the
// metrics; a variable so tests can stand in a terminal.
var stdinIsTerminal = func() bool { return isTerminal(os.Stdin) }

func runCompat(args []string, stdout, stderr io.Writer) int {
	c, err := parseCompat(args)
	if err != nil {
		fmt.Fprintf(stderr, "metricwrap: %v\n", err)
		return exitUsage
	}
	switch {
	case c.help && c.exporter != "":
		// As the original: the exporter's argparse prints its help.
		c.rest = append(c.rest, "-h")
	case c.help || c.exporter == "":
		fmt.Fprint(stdout, compatUsage)
		return exitOK
	}
	g := &globals{stdout: stdout, stderr: stderr, configFile: c.configFile, exportersDir: c.exportersDir}
	g.logConfig.Writer = stderr
	g.logger = newLogger(stderr, c.debug)
	r := &runCmd{
		name:       c.exporter,
		args:       c.rest,
		noPrint:    c.noPrint || !stdinIsTerminal(),
		debug:      c.debug,
		outputFile: c.outputFile,
		timeout:    c.timeout,
		compat:     true,
	}
	if c.pushgateway != "" {
		r.pushgatewayAddr = c.pushgateway
		r.push = []string{"pushgateway"}
	}
	return r.execute(g)
}
