// Package policy is the host of Aurora's WASM policies (the fedpolicy/1 ABI):
// it loads, checks, compiles and runs the modules that judge orders.
//
// An Engine loads a module (Load, LoadExpect, LoadStd for the embedded
// standard law), checking it before it can run: size, hash, format, the
// fedpolicy.manifest section, ABI version, imports (only a deterministic,
// capability-free WASI subset), memory, exports, initialisation and params.
// Compiled code is kept by module CID (and on disk with Config.CacheDir).
//
// Evaluation takes Facts (the order-facts/1 record the node computes) and a
// params blob and returns one Decision per order:
//
//	p, err := e.Prepare(ctx, module, params, policy.LimitsFromTreaty(t.Policy))
//	err = p.Eval(ctx, facts, out) // or e.Eval(ctx, module, params, facts, out)
//	if out[i].Allowed() { /* reserve quota, insert nonce, route */ }
//
// Every guest call runs with wazero's termination checks and a deadline
// (Limits.Deadline, default 50 ms): a looping guest is killed, its decisions
// are Indeterminate (deny) and the error says why. Instances are pooled per
// (module, params, limits); one that trapped, timed out or misbehaved is
// discarded, never reused. The engine fails closed: anything but an explicit
// allow is a deny.
//
// Decisions are deterministic functions of (module, params, facts), so a
// LogEntry records enough for any peer to re-run one (Engine.Replay).
//
// The package is pure: no network, no files except wazero's compilation
// cache directory, no globals. See docs/POLICY.md for writing policies.
package policy
