//go:build !linux

package runner

import "os"

// defaultTempDir is the parent of private run directories when
// Spec.TempDir is empty.
func defaultTempDir() string { return os.TempDir() }

// umaskKeepsOwner is false where the umask cannot be read without changing
// it: the run directory is then always given mode 0700 explicitly.
func umaskKeepsOwner() bool { return false }
