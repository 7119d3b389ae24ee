//go:build !linux

package runner

import (
	"io/fs"
	"math"
	"path/filepath"
	"syscall"
)

// dirUsage is the disk space the files under dir take (allocated blocks,
// so a sparse file counts what it really holds); math.MaxInt64 past
// maxDirEntries entries.
func dirUsage(dir string) int64 {
	var total int64
	entries := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if entries++; entries > maxDirEntries {
			total = math.MaxInt64
			return filepath.SkipAll
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			} else {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
