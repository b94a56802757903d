package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// Errors callers act on.
var (
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("policy: engine closed")
	// ErrUnknownModule: Eval or Prepare named a module that was never
	// loaded; load it (fetching its bytes by CID) and retry.
	ErrUnknownModule = errors.New("policy: module not loaded")
)

// Check names a load-time check.
type Check string

// Load-time checks, in the order they run.
const (
	CheckSize        Check = "size"        // module over Config.MaxModuleBytes
	CheckHash        Check = "hash"        // bytes do not hash to the expected CID
	CheckFormat      Check = "format"      // not a well-formed wasm binary
	CheckManifest    Check = "manifest"    // fedpolicy.manifest missing or invalid
	CheckABI         Check = "abi"         // unsupported ABI major, schema or record size, or a lie about them
	CheckImports     Check = "imports"     // an import outside the deterministic WASI subset
	CheckMemory      Check = "memory"      // memory missing, imported, or over the page limit
	CheckCompile     Check = "compile"     // wazero refused the module
	CheckExports     Check = "exports"     // a required export missing or of the wrong type
	CheckInstantiate Check = "instantiate" // _initialize trapped, timed out or exited
	CheckParams      Check = "params"      // params malformed or refused by fp_configure
	CheckConformance Check = "conformance" // a conformance vector failed
)

// LoadError reports a module that failed a load-time check. Module is
// cid.Undef when the bytes were rejected before hashing.
type LoadError struct {
	Module cid.Cid
	Check  Check
	Detail string
	Err    error // underlying error, if any
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("policy: module ")
	if e.Module.Defined() {
		b.WriteString(e.Module.String())
	} else {
		b.WriteString("(unhashed)")
	}
	b.WriteString(": ")
	b.WriteString(string(e.Check))
	b.WriteString(" check: ")
	b.WriteString(e.Detail)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *LoadError) Unwrap() error { return e.Err }

// HashMismatchError is the evidence of a module whose bytes do not match the
// CID that named it.
type HashMismatchError struct {
	Want, Got cid.Cid
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("policy: module bytes hash to %s, want %s", e.Got, e.Want)
}

// Cause classifies a failed evaluation.
type Cause string

// Causes of EvalError.
const (
	CauseDeadline Cause = "deadline" // killed at the deadline
	CauseTrap     Cause = "trap"     // the guest trapped (unreachable, out of bounds, ...)
	CauseExit     Cause = "exit"     // the guest called proc_exit or was closed
	CauseABI      Cause = "abi"      // fp_eval returned an error code or a wrong count
	CauseOutput   Cause = "output"   // a decision word with reserved bits set
	CauseCanceled Cause = "canceled" // the caller's context ended before evaluation
	CauseClosed   Cause = "closed"   // the engine was closed
)

// EvalError reports an evaluation that did not complete normally. Every
// decision it affected was set to Indeterminate (deny): the engine fails
// closed. The instance involved, if any, was discarded.
type EvalError struct {
	Module cid.Cid
	Params cid.Cid
	Cause  Cause
	// Affected is how many decisions were set to Indeterminate.
	Affected int
	Err      error
}

func (e *EvalError) Error() string {
	msg := fmt.Sprintf("policy: module %s params %s: %s (%d decisions indeterminate)", e.Module, e.Params, e.Cause, e.Affected)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *EvalError) Unwrap() error { return e.Err }

// ConformanceError lists the conformance vectors a module failed.
type ConformanceError struct {
	Module cid.Cid
	Total  int
	Failed []VectorResult
}

func (e *ConformanceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy: module %s fails %d of %d conformance vectors", e.Module, len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: want %#x, got %#x", f.Name, f.Want, f.Got)
	}
	return b.String()
}
