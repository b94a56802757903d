// Package sdk is the guest side of Aurora's fedpolicy/1 policy ABI: what a
// policy author imports to write a WASM policy in Go.
//
// A policy is a pure function from the facts a node computes about an order
// (OrderFacts, the fixed-size order-facts/1 record) and the treaty's params
// (Params, canonical CBOR) to a decision word: Allow (0), a bitmask of deny
// reasons, or Indeterminate. A guest registers its Policy from its main
// package's init function:
//
//	func init() {
//		sdk.Register(sdk.Policy{
//			Manifest:  sdk.Manifest{Name: "gpu-only", Version: "1.0.0", Reasons: []string{"no_gpu"}},
//			Configure: configure,
//			Eval:      eval,
//		})
//	}
//
// and is built with the stock toolchain as a WASI reactor
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared), which `aurora
// policy build` runs and then embeds the manifest. On wasip1 the package
// exports the ABI (fp_abi_version, fp_input_ptr/cap, fp_output_ptr/cap,
// fp_configure, fp_eval, fp_manifest) over two fixed buffers; on every other
// platform it is an ordinary package, so the same policy compiles natively
// for tests and for differential checks against its WASM build.
//
// The package avoids reflection, fmt and encoding/json: they cost megabytes
// and microseconds inside a guest.
package sdk
