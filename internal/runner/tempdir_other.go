//go:build !linux

package runner

import "os"

// defaultTempDir is the parent of private run directories when
// Spec.TempDir is empty.
func defaultTempDir() string { return os.TempDir() }
