package runner

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkRunTrue compares Run of a trivial exporter with a bare
// exec.Command of the same program, in the same loop so both see the same
// machine load. ns/op is the sum of both; run-ns/op, exec-ns/op and
// run/exec report each side and the ratio.
func BenchmarkRunTrue(b *testing.B) {
	const prog = "/bin/true"
	s := Spec{Name: "true", Path: prog, TempDir: b.TempDir()}
	ctx := context.Background()
	var runTime, execTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := exec.Command(prog).Run(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := Run(ctx, s); err != nil {
			b.Fatal(err)
		}
		execTime += t1.Sub(t0)
		runTime += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(runTime.Nanoseconds())/n, "run-ns/op")
	b.ReportMetric(float64(execTime.Nanoseconds())/n, "exec-ns/op")
	b.ReportMetric(float64(runTime)/float64(execTime), "run/exec")
}
