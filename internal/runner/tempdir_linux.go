package runner

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// tmpfsMagic is TMPFS_MAGIC of statfs(2).
const tmpfsMagic = 0x01021994

// minShmBytes is the least size of /dev/shm worth putting runs in: a
// container's default 64 MiB could be filled by a few large outputs.
const minShmBytes = 256 << 20

// defaultTempDir is, once, the parent of private run directories when
// Spec.TempDir is empty: $TMPDIR when the operator set it; else the
// temporary directory when it is a tmpfs; else /dev/shm when it is a
// writable tmpfs of a useful size; else the temporary directory. A run
// creates and removes a directory and a file: on a disk file system that
// is journal and inode work, on some (ext4 without a journal) a scan of
// recently freed inodes that grows with the run rate, and it was the
// largest part of a trivial run's cost.
var defaultTempDir = sync.OnceValue(pickTempDir)

func pickTempDir() string {
	tmp := os.TempDir()
	if os.Getenv("TMPDIR") != "" || isTmpfs(tmp, 0) {
		return tmp
	}
	if isTmpfs("/dev/shm", minShmBytes) && syscall.Access("/dev/shm", 0o2 /* W_OK */) == nil {
		return "/dev/shm"
	}
	return tmp
}

// isTmpfs reports whether dir is on a tmpfs of at least minBytes.
func isTmpfs(dir string, minBytes uint64) bool {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil || st.Type != tmpfsMagic {
		return false
	}
	return st.Blocks*uint64(st.Bsize) >= minBytes
}

// umaskKeepsOwner reports, once, whether the umask leaves the owner's bits
// alone, so a directory made with mode 0700 has it and needs no chmod. It
// reads the umask from /proc/self/status: umask(2) can only read it by
// changing it, for every thread at once.
var umaskKeepsOwner = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return err == nil && m&0o700 == 0
		}
	}
	return false
})
