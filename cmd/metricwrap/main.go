// Command metricwrap runs metric exporters and delivers what they measure:
// by pull (an HTTP server Prometheus scrapes) and by push (Pushgateway,
// Dynatrace, S3, remote write), and wraps batch jobs into metrics.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/metricwrap/metricwrap/internal/redact"
	"github.com/metricwrap/metricwrap/internal/runner"
)

const appName = "metricwrap"

func main() {
	// Before any run: every process a run starts is reaped and, when its
	// run has ended, killed, even one that left the run's group (setsid),
	// also when metricwrap is a container's PID 1.
	stop := runner.Supervise(promslog.New(&promslog.Config{Writer: os.Stderr}))
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func init() {
	// `make build` stamps the version; `go run` and `go test` builds say
	// what they are rather than print an empty version.
	if version.Version == "" {
		version.Version = "dev"
	}
}

// globals are the flags every command shares.
type globals struct {
	configFile   string
	exportersDir string
	logConfig    promslog.Config
	logger       *slog.Logger
	stdout       io.Writer
	stderr       io.Writer
}

// command is one sub-command: it registers its flags on the app and runs
// when selected, returning the process exit code.
type command interface {
	register(app *kingpin.Application, g *globals)
	selected(name string) bool
	execute(g *globals) int
}

func newApp(g *globals) (*kingpin.Application, []command) {
	app := kingpin.New(appName, "Runs metric exporters and delivers what they measure, by pull and by push.")
	app.Version(version.Print(appName))
	app.HelpFlag.Short('h')
	app.UsageWriter(g.stdout)
	app.ErrorWriter(g.stderr)
	app.Terminate(nil)
	app.Flag("config.file", "Configuration file (metricwrap.yml). Without one, the embedded default is used.").
		StringVar(&g.configFile)
	app.Flag("exporters.dir", "Directory of exporters to discover (default ./exporters when it exists).").
		StringVar(&g.exportersDir)
	promslogflag.AddFlags(app, &g.logConfig)

	cmds := []command{&serveCmd{}, &runCmd{}, &checkConfigCmd{}, &flushCmd{}, &execCmd{}}
	for _, c := range cmds {
		c.register(app, g)
	}
	return app, cmds
}

// run is main without os.Exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	if isCompat(args) {
		return runCompat(args, stdout, stderr)
	}
	g := &globals{stdout: stdout, stderr: stderr}
	g.logConfig.Writer = stderr
	app, cmds := newApp(g)
	if len(args) == 0 {
		app.Usage(nil)
		return 0
	}
	selected, exit, err := parse(app, args)
	if exit >= 0 { // --help or --version
		return exit
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (try --help)\n", appName, err)
		return 2
	}
	g.logger = slog.New(redact.Handler(promslog.New(&g.logConfig).Handler()))
	for _, c := range cmds {
		if c.selected(selected) {
			return c.execute(g)
		}
	}
	app.Usage(nil)
	return 2
}

// terminated carries the exit code kingpin asks for after --help or
// --version, so parsing stops there instead of going on.
type terminated int

func parse(app *kingpin.Application, args []string) (selected string, exit int, err error) {
	app.Terminate(func(code int) { panic(terminated(code)) })
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			exit = int(t)
		}
	}()
	selected, err = app.Parse(args)
	return selected, -1, err
}
