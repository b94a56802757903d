//go:build wasip1

package sdk

import "unsafe"

// The guest side of fedpolicy/1: fixed buffers whose addresses the host asks
// for (so no malloc export is needed) and the exports that dispatch to the
// registered Policy.

var (
	input      [InputCap]byte
	output     [OutputCap]byte
	configured bool
	// facts is the decode target of fp_eval: a global because a local
	// passed to the policy's Eval through a func value escapes, and one heap
	// allocation per call means guest GCs on the hot path.
	facts OrderFacts
)

//go:wasmexport fp_abi_version
func fpABIVersion() int32 { return ABIVersion }

//go:wasmexport fp_input_ptr
func fpInputPtr() uint32 { return uint32(uintptr(unsafe.Pointer(&input[0]))) }

//go:wasmexport fp_input_cap
func fpInputCap() int32 { return InputCap }

//go:wasmexport fp_output_ptr
func fpOutputPtr() uint32 { return uint32(uintptr(unsafe.Pointer(&output[0]))) }

//go:wasmexport fp_output_cap
func fpOutputCap() int32 { return OutputCap }

// fp_manifest writes the manifest to the output region and returns its
// length; the build tool copies it into the fedpolicy.manifest section.
//
//go:wasmexport fp_manifest
func fpManifest() int32 {
	if registered == nil {
		return ErrCodeNoPolicy
	}
	return int32(copy(output[:], registered.Manifest.Encode()))
}

// fp_configure reads n bytes of params from the input region. It returns 0,
// or minus the length of an error message written to the output region.
//
//go:wasmexport fp_configure
func fpConfigure(n int32) int32 {
	if registered == nil {
		return ErrCodeNoPolicy
	}
	if n < 0 || n > MaxParamsLen {
		return fail("sdk: params length out of range")
	}
	if registered.Configure == nil {
		if n != 0 {
			return fail("sdk: this policy takes no params")
		}
		configured = true
		return 0
	}
	p, err := DecodeParams(input[:n])
	if err == nil {
		err = registered.Configure(p)
	}
	if err != nil {
		return fail(err.Error())
	}
	configured = true
	return 0
}

func fail(msg string) int32 {
	n := copy(output[:], msg)
	if n == 0 {
		n = copy(output[:], "sdk: error")
	}
	return int32(-n)
}

// fp_eval decides n records from the input region, writing n decision words
// to the output region, and returns n.
//
//go:wasmexport fp_eval
func fpEval(n int32) int32 {
	if registered == nil {
		return ErrCodeNoPolicy
	}
	if !configured {
		return ErrCodeNotConfigured
	}
	if n < 1 || n > MaxBatch || int(n)*4 > OutputCap {
		return ErrCodeBatch
	}
	eval := registered.Eval
	for i := 0; i < int(n); i++ {
		w := Indeterminate
		if facts.Decode(input[i*RecordSize : (i+1)*RecordSize]) {
			w = eval(&facts)
		}
		PutWord(output[i*4:], w)
	}
	return n
}
