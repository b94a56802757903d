//go:build !unix

package store

import "io/fs"

// allocatedSize returns the apparent size of a file; this platform does not
// expose allocated blocks portably.
func allocatedSize(fi fs.FileInfo) uint64 {
	return uint64(max(fi.Size(), 0))
}
