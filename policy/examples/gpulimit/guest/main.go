// Command guest is the gpulimit example policy as a WASM module.
package main

import (
	"github.com/aurora-federation/aurora/policy/examples/gpulimit"
	"github.com/aurora-federation/aurora/policy/sdk"
)

func init() { sdk.Register(gpulimit.Policy()) }

func main() {}
