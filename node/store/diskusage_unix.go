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
