//go:build !wasip1

package std

import _ "embed"

// The built module and its conformance vectors, embedded in host builds only
// (the guest must not embed itself).
var (
	//go:embed std.wasm
	wasm []byte
	//go:embed vectors.json
	vectors []byte
)

// Wasm returns std.wasm, the standard law built for fedpolicy/1 by
// build.sh. The caller must not modify it.
func Wasm() []byte { return wasm }

// Vectors returns the law's conformance vectors (a fedpolicy-vectors/1
// file generated from the native law). The caller must not modify it.
func Vectors() []byte { return vectors }
