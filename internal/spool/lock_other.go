//go:build !unix

package spool

import (
	"os"
	"path/filepath"
)

// lockDir only creates the lock file where flock is not available: two
// processes sharing one spool dir are not detected there.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
}
