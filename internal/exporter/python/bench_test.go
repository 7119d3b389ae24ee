package python

import (
	"context"
	"testing"

	"github.com/metricwrap/metricwrap/internal/runner"
)

// BenchmarkRun compares one run of a small exporter cold and warm.
func BenchmarkRun(b *testing.B) {
	f := newFixture(b, testExporters)
	pool := warmPool(b, f, "ok")
	spec := f.spec("ok")
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := runner.Run(context.Background(), spec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			if _, err := pool.Run(context.Background(), f.dir, spec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
