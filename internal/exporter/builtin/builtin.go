// Package builtin links every built-in exporter into the binary: importing
// it for its side effects runs each built-in's init, which registers it.
package builtin

import (
	_ "github.com/metricwrap/metricwrap/internal/exporter/builtin/dummy" // dummy
	_ "github.com/metricwrap/metricwrap/internal/exporter/builtin/http"  // http
	_ "github.com/metricwrap/metricwrap/internal/exporter/builtin/json"  // json
)
