// Package std is Aurora's standard treaty law: allowed regions, a provider
// reputation threshold, a price cap per GPU-hour, lane quotas (in flight,
// orders per minute, GPU-hours per day), replay and order expiry.
//
// The law is ordinary Go (Law.Evaluate), usable natively (the simulator runs
// it directly) and compiled by the stock toolchain into the fedpolicy/1
// module std.wasm (see build.sh), which is committed and embedded (Wasm). A
// test rebuilds the module and proves it byte-identical, and a differential
// test proves the native and WASM builds agree on a generated corpus.
package std

//go:generate ./build.sh
