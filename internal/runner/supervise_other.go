//go:build !linux

package runner

import "log/slog"

// Supervise does nothing outside Linux: there is no child subreaper, so a
// process that leaves its run's group is beyond reach.
func Supervise(*slog.Logger) (stop func()) { return func() {} }

// SupervisorCounts is zero outside Linux.
func SupervisorCounts() (reaped, killed uint64) { return 0, 0 }

func beginRun(string) uint64 { return 0 }

func endRun(uint64) {}
