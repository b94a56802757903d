// Command guest is the standard law as a fedpolicy/1 WASM module. Build it
// with ../build.sh (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared,
// then the manifest is embedded); the result is ../std.wasm.
package main

import (
	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
)

// init registers the policy: a wasm reactor's entry point is its package
// initialisation (_initialize), not main.
func init() { sdk.Register(std.Policy()) }

func main() {}
