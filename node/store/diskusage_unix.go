//go:build unix

package store

import (
	"io/fs"
	"syscall"
)

// allocatedSize returns the bytes a file occupies on disk. Badger's value log
// and memtable files are sparse and memory-mapped at their maximum size, so
// their apparent size overstates usage.
func allocatedSize(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks >= 0 {
		return uint64(st.Blocks) * 512
	}
	return uint64(max(fi.Size(), 0))
}

// FreeSpace returns the bytes available to an unprivileged writer and the
// total size of the filesystem holding dir.
func FreeSpace(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
