package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/exposition"
)

// Builtin is an exporter compiled into metricwrap. Collect fills reg, a
// fresh registry for each run (so nothing leaks from one run into the
// next), and honours ctx. It must be safe for concurrent use.
type Builtin interface {
	// Params declares the query parameters Collect accepts.
	Params() Params
	Collect(ctx context.Context, params map[string]string, reg prometheus.Registerer) error
}

// Factory makes a Builtin from the exporter's `options:` block, which is
// nil when the config has none. It should decode strictly and fail on
// unknown keys.
type Factory func(options *yaml.Node) (Builtin, error)

var (
	builtinsMu sync.RWMutex
	builtins   = map[string]Factory{}
)

// Register makes a built-in available under name; built-ins call it from
// init. It panics on a duplicate name, which is a programming error.
func Register(name string, f Factory) {
	builtinsMu.Lock()
	defer builtinsMu.Unlock()
	if _, dup := builtins[name]; dup {
		panic(fmt.Sprintf("exporter: built-in %q registered twice", name))
	}
	builtins[name] = f
}

// Builtins lists the registered built-in names, sorted.
func Builtins() []string {
	builtinsMu.RLock()
	defer builtinsMu.RUnlock()
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookupBuiltin(name string) (Factory, bool) {
	builtinsMu.RLock()
	defer builtinsMu.RUnlock()
	f, ok := builtins[name]
	return f, ok
}

// NewBuiltin wraps b as an exporter called name, with the built-in's own
// parameters (tests and benchmarks; configs go through Build). Like every
// exporter it is bounded only by its context's deadline.
func NewBuiltin(name string, b Builtin) Exporter {
	return &builtinExporter{name: name, job: name, b: b, params: b.Params()}
}

type builtinExporter struct {
	name, job string
	b         Builtin
	params    Params
}

func (e *builtinExporter) Name() string   { return e.name }
func (e *builtinExporter) Kind() string   { return KindBuiltin }
func (e *builtinExporter) Job() string    { return e.job }
func (e *builtinExporter) Params() Params { return e.params }

func (e *builtinExporter) Run(ctx context.Context, req *Request) (*Result, error) {
	res := &Result{Start: time.Now()}
	reg := prometheus.NewRegistry()
	err := e.b.Collect(ctx, req.Params, reg)
	res.Duration = time.Since(res.Start)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, fmt.Errorf("%w after %s", ErrTimeout, res.Duration.Round(time.Millisecond))
	case ctx.Err() != nil: // the caller went away
		return res, ctx.Err()
	}
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	fams, err := reg.Gather()
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidOutput, err)
	}
	res.Families = fams
	if err := requireMetrics(fams, exposition.FormatText, "the built-in collected no metric"); err != nil {
		return res, err
	}
	if !req.ShowRaw {
		return res, nil
	}
	// Only the debug view shows the raw exposition; a built-in has none of
	// its own, so it is the text encoding of what it collected.
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return res, fmt.Errorf("%w: %w", ErrInvalidOutput, err)
		}
	}
	res.Raw = buf.Bytes()
	return res, nil
}
