package runner

import (
	"math"
	"sync"
	"syscall"
	"unsafe"
)

// direntBufs are getdents buffers reused across runs: the end of every run
// measures its private directory, which usually holds one file.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

// dirUsage is the disk space the files under dir take (allocated blocks,
// so a sparse file counts what it really holds); math.MaxInt64 past
// maxDirEntries entries (dir itself included). It reads the directories
// with getdents and lstat directly, without filepath.WalkDir's sorting and
// per-entry allocations: it runs at the end of every run.
func dirUsage(dir string) int64 {
	var st syscall.Stat_t
	if syscall.Lstat(dir, &st) != nil {
		return 0
	}
	u := usageWalk{total: st.Blocks * 512, entries: 1}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		buf := direntBufs.Get().(*[]byte)
		defer direntBufs.Put(buf)
		u.buf = *buf
		u.walk(dir)
	}
	return u.total
}

type usageWalk struct {
	total   int64
	entries int
	buf     []byte
}

// walk adds what the entries of dir take; false once past maxDirEntries.
func (u *usageWalk) walk(dir string) bool {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	// Names are collected before recursing: the buffer is shared.
	var subdirs []string
	defer func() { _ = syscall.Close(fd) }()
	for {
		n, err := syscall.Getdents(fd, u.buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		for off := 0; off < n; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			reclen := int(*(*uint16)(unsafe.Pointer(&u.buf[off+16])))
			name := u.buf[off+19 : off+reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			off += reclen
			if string(name) == "." || string(name) == ".." {
				continue
			}
			if u.entries++; u.entries > maxDirEntries {
				u.total = math.MaxInt64
				return false
			}
			p := dir + "/" + string(name)
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) != nil {
				continue
			}
			u.total += st.Blocks * 512
			if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				subdirs = append(subdirs, p)
			}
		}
	}
	for _, d := range subdirs {
		if !u.walk(d) {
			return false
		}
	}
	return true
}
