//go:build pprofdebug

// A profiling build, never the released one: `go build -tags pprofdebug`
// and METRICWRAP_PPROF_ADDRESS=127.0.0.1:6060 serve net/http/pprof there,
// so `go tool pprof` can profile a serve under load (docs/PERFORMANCE.md).

package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

func init() {
	addr := os.Getenv("METRICWRAP_PPROF_ADDRESS")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintf(os.Stderr, "pprof listener on %s: %v\n", addr, err)
		}
	}()
}
