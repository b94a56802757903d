//go:build !wasip1

// Package gpulimittest holds the example policy built: gpulimit.wasm, the
// fedpolicy/1 module of policy/examples/gpulimit, for tests that need a
// second real module besides the standard law without running the go
// command (policy/examples/gpulimit's TestCommittedModule proves the file
// byte-identical to a fresh build). Rebuild it with
//
//	go run ./policy/cmd/fpbuild -o policy/examples/gpulimit/gpulimittest/gpulimit.wasm ./policy/examples/gpulimit/guest
package gpulimittest

import (
	_ "embed"

	"github.com/aurora-federation/aurora/policy/sdk"
)

//go:embed gpulimit.wasm
var wasm []byte

// Wasm returns gpulimit.wasm. The caller must not modify it.
func Wasm() []byte { return wasm }

// Params returns the module's params: at most maxGPUs GPUs per order (0 =
// any) of the given models (none = any).
func Params(maxGPUs int64, models ...string) []byte {
	var p sdk.Params
	p.SetInt("max_gpus", maxGPUs).SetStrings("models", models)
	return p.Encode()
}
