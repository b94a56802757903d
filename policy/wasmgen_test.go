package policy

import (
	"github.com/aurora-federation/aurora/policy/sdk"
)

// A tiny WebAssembly assembler for hostile test modules: wazero does not
// compile WAT, and these modules are small enough to write as bytes.

const (
	tI32 = 0x7f
)

type wfunc struct {
	export  string // "" = not exported
	params  []byte
	results []byte
	locals  []byte // one i32 local per entry
	body    []byte // instructions; the final end (0x0b) is added
}

type wimport struct {
	module, name    string
	params, results []byte
	memory          bool // import a memory instead of a function
}

type wmodule struct {
	imports  []wimport
	funcs    []wfunc
	memMin   uint32
	memMax   int64 // -1: no maximum
	noMemory bool
	manifest []byte // nil: no manifest section
	extra    [][2][]byte
}

func leb(v uint32) []byte { return appendLEB32(nil, v) }

func sleb(v int32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func vecBytes(items ...[]byte) []byte {
	b := leb(uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func name(s string) []byte { return append(leb(uint32(len(s))), s...) }

func sect(id byte, body []byte) []byte {
	return append(append([]byte{id}, leb(uint32(len(body)))...), body...)
}

func functype(params, results []byte) []byte {
	b := []byte{0x60}
	b = append(b, leb(uint32(len(params)))...)
	b = append(b, params...)
	b = append(b, leb(uint32(len(results)))...)
	return append(b, results...)
}

func (m wmodule) bytes() []byte {
	out := append([]byte{}, wasmHeader...)
	var types, imps, fnidx, exps, codes [][]byte
	nImportedFuncs := 0
	for _, im := range m.imports {
		if im.memory {
			imps = append(imps, append(append(name(im.module), name(im.name)...), 0x02, 0x00, 0x01))
			continue
		}
		types = append(types, functype(im.params, im.results))
		imps = append(imps, append(append(append(name(im.module), name(im.name)...), 0x00), leb(uint32(len(types)-1))...))
		nImportedFuncs++
	}
	for i, f := range m.funcs {
		types = append(types, functype(f.params, f.results))
		fnidx = append(fnidx, leb(uint32(len(types)-1)))
		if f.export != "" {
			exps = append(exps, append(append(name(f.export), 0x00), leb(uint32(nImportedFuncs+i))...))
		}
		var locals []byte
		if len(f.locals) > 0 {
			locals = vecBytes(append(leb(uint32(len(f.locals))), tI32))
		} else {
			locals = leb(0)
		}
		body := append(append(locals, f.body...), 0x0b)
		codes = append(codes, append(leb(uint32(len(body))), body...))
	}
	if !m.noMemory {
		exps = append(exps, append(name("memory"), 0x02, 0x00))
	}
	out = append(out, sect(1, vecBytes(types...))...)
	if len(imps) > 0 {
		out = append(out, sect(2, vecBytes(imps...))...)
	}
	out = append(out, sect(3, vecBytes(fnidx...))...)
	if !m.noMemory {
		lim := append([]byte{0x00}, leb(m.memMin)...)
		if m.memMax >= 0 {
			lim = append(append([]byte{0x01}, leb(m.memMin)...), leb(uint32(m.memMax))...)
		}
		out = append(out, sect(5, vecBytes(lim))...)
	}
	out = append(out, sect(7, vecBytes(exps...))...)
	out = append(out, sect(10, vecBytes(codes...))...)
	if m.manifest != nil {
		out = appendCustomSection(out, sdk.ManifestSection, m.manifest)
	}
	for _, x := range m.extra {
		out = appendCustomSection(out, string(x[0]), x[1])
	}
	return out
}

// Instructions.
func i32c(v int32) []byte { return append([]byte{0x41}, sleb(v)...) }

var (
	getN        = []byte{0x20, 0x00}                   // local.get 0
	loopForever = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b} // loop br 0 end
	unreachable = []byte{0x00}
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// onReal runs x only when the first record has schema 1, then returns n.
func onReal(x []byte) []byte {
	return cat(i32c(0), []byte{0x2d, 0x00, 0x00}, []byte{0x04, 0x40}, x, []byte{0x0b}, getN)
}

func testManifest(mod func(*sdk.Manifest)) []byte {
	m := sdk.Manifest{ABI: "1.0", InputSchema: sdk.InputSchema, RecordSize: sdk.RecordSize,
		Name: "hostile", Version: "0", Reasons: []string{"first", "second"}, Toolchain: "hand"}
	if mod != nil {
		mod(&m)
	}
	return m.Encode()
}

// Memory layout of the hand-written guests: input at 0 (64 KiB), output at
// 65536 (1 KiB); two pages.
const (
	hInPtr  = 0
	hInCap  = 65536
	hOutPtr = 65536
	hOutCap = 1024
)

// abiFuncs are the ABI exports with fp_eval's body given.
func abiFuncs(evalBody []byte) []wfunc {
	return []wfunc{
		{export: "fp_abi_version", results: []byte{tI32}, body: i32c(sdk.ABIVersion)},
		{export: "fp_input_ptr", results: []byte{tI32}, body: i32c(hInPtr)},
		{export: "fp_input_cap", results: []byte{tI32}, body: i32c(hInCap)},
		{export: "fp_output_ptr", results: []byte{tI32}, body: i32c(hOutPtr)},
		{export: "fp_output_cap", results: []byte{tI32}, body: i32c(hOutCap)},
		{export: "fp_eval", params: []byte{tI32}, results: []byte{tI32}, body: evalBody},
	}
}

// guest returns a two-page module with the ABI and the given fp_eval body
// (which must leave the return value on the stack).
func guest(evalBody []byte) wmodule {
	return wmodule{funcs: abiFuncs(evalBody), memMin: 2, memMax: -1, manifest: testManifest(nil)}
}

// Bodies.
var (
	// allowAll leaves the zeroed output (allow) and returns n.
	allowAll = getN
	// loopIfNonceFresh loops forever when the first record's nonce-fresh
	// flag is set, otherwise allows.
	loopIfNonceFresh = cat(
		i32c(0), []byte{0x2d, 0x00, 0x02}, // i32.load8_u offset=2 (flags)
		i32c(1), []byte{0x71}, // i32.and
		[]byte{0x04, 0x40}, loopForever, []byte{0x0b}, // if loop end
		getN)
	// growUntilRefused grows memory a page at a time until memory.grow
	// fails, writes memory.size into the first output word and returns n.
	growUntilRefused = cat(
		[]byte{0x02, 0x40, 0x03, 0x40}, // block loop
		i32c(1), []byte{0x40, 0x00},    // memory.grow
		i32c(-1), []byte{0x46}, // i32.eq
		[]byte{0x0d, 0x01},                                          // br_if 1
		[]byte{0x0c, 0x00, 0x0b, 0x0b},                              // br 0 end end
		i32c(hOutPtr), []byte{0x3f, 0x00}, []byte{0x36, 0x02, 0x00}, // i32.store(out, memory.size)
		getN)
	// trapOnReal traps on real records (schema 1; the host's warm-up call
	// uses a zero record).
	trapOnReal = onReal(unreachable)
	// storeOutOfBounds writes far past the end of memory.
	storeOutOfBounds = onReal(cat(i32c(0x7fff_fff0), i32c(1), []byte{0x36, 0x02, 0x00}))
	// reservedBits writes 0x40000000 (a reserved bit) as the first word.
	reservedBits = cat(i32c(hOutPtr), i32c(0x4000_0000), []byte{0x36, 0x02, 0x00}, getN)
	// wrongCount returns n+1.
	wrongCount = cat(getN, i32c(1), []byte{0x6a})
)
