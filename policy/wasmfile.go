package policy

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// A minimal reader of the WebAssembly binary's top-level structure: enough
// to find custom sections, list imports and read the memory's limits before
// handing untrusted bytes to the compiler. wazero validates everything else.

var wasmHeader = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Section ids used here.
const (
	secCustom = 0
	secImport = 2
	secMemory = 5
)

type section struct {
	id   byte
	name string // custom sections only
	body []byte // for custom sections, the payload after the name
}

func readLEB32(b []byte) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, errors.New("truncated LEB128")
		}
		c := b[i]
		if i == 4 && c&0xf0 != 0 {
			return 0, 0, errors.New("LEB128 overflows 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("LEB128 longer than 5 bytes")
}

func appendLEB32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// readName reads a wasm name (LEB128 length + UTF-8 bytes).
func readName(b []byte) (string, int, error) {
	n, k, err := readLEB32(b)
	if err != nil {
		return "", 0, err
	}
	if uint64(len(b)-k) < uint64(n) {
		return "", 0, errors.New("truncated name")
	}
	s := b[k : k+int(n)]
	if !utf8.Valid(s) {
		return "", 0, errors.New("name is not UTF-8")
	}
	return string(s), k + int(n), nil
}

// scanSections splits a module into its sections.
func scanSections(b []byte) ([]section, error) {
	if !bytes.HasPrefix(b, wasmHeader) {
		return nil, errors.New("not a WebAssembly 1.0 binary (bad magic or version)")
	}
	var out []section
	off := len(wasmHeader)
	for off < len(b) {
		id := b[off]
		size, k, err := readLEB32(b[off+1:])
		if err != nil {
			return nil, fmt.Errorf("section at byte %d: %w", off, err)
		}
		start := off + 1 + k
		if uint64(len(b)-start) < uint64(size) {
			return nil, fmt.Errorf("section %d at byte %d: size %d runs past the end", id, off, size)
		}
		s := section{id: id, body: b[start : start+int(size)]}
		if id == secCustom {
			name, k, err := readName(s.body)
			if err != nil {
				return nil, fmt.Errorf("custom section at byte %d: %w", off, err)
			}
			s.name, s.body = name, s.body[k:]
		}
		out = append(out, s)
		off = start + int(size)
	}
	return out, nil
}

// customSections returns the payloads of every custom section called name.
func customSections(secs []section, name string) [][]byte {
	var out [][]byte
	for _, s := range secs {
		if s.id == secCustom && s.name == name {
			out = append(out, s.body)
		}
	}
	return out
}

// appendCustomSection returns wasm with a custom section appended. A custom
// section may appear anywhere, so appending keeps the module valid.
func appendCustomSection(wasm []byte, name string, payload []byte) []byte {
	var body []byte
	body = appendLEB32(body, uint32(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := make([]byte, 0, len(wasm)+len(body)+6)
	out = append(out, wasm...)
	out = append(out, secCustom)
	out = appendLEB32(out, uint32(len(body)))
	return append(out, body...)
}

// wasmImport is one entry of the import section.
type wasmImport struct {
	module, name string
	kind         byte // 0 func, 1 table, 2 memory, 3 global, 4 tag
}

// Import kinds.
const (
	importFunc = 0
)

// parseImports lists the imports. It stops at the first non-function import,
// which it returns as the last entry: everything after it would be rejected
// anyway, and the layouts of other kinds need not be parsed.
func parseImports(body []byte) ([]wasmImport, error) {
	n, off, err := readLEB32(body)
	if err != nil {
		return nil, err
	}
	var out []wasmImport
	for i := uint32(0); i < n; i++ {
		mod, k, err := readName(body[off:])
		if err != nil {
			return nil, fmt.Errorf("import %d: module: %w", i, err)
		}
		off += k
		name, k, err := readName(body[off:])
		if err != nil {
			return nil, fmt.Errorf("import %d: name: %w", i, err)
		}
		off += k
		if off >= len(body) {
			return nil, fmt.Errorf("import %d: truncated", i)
		}
		kind := body[off]
		off++
		out = append(out, wasmImport{module: mod, name: name, kind: kind})
		if kind != importFunc {
			return out, nil
		}
		if _, k, err = readLEB32(body[off:]); err != nil {
			return nil, fmt.Errorf("import %d: type index: %w", i, err)
		}
		off += k
	}
	if off != len(body) {
		return nil, errors.New("import section has trailing bytes")
	}
	return out, nil
}

// memoryLimits reads the memory section: the declared minimum and maximum
// pages (hasMax false when none). A module with no memory section reports
// ok false.
func memoryLimits(secs []section) (minPages, maxPages uint32, hasMax, ok bool, err error) {
	for _, s := range secs {
		if s.id != secMemory {
			continue
		}
		n, off, err := readLEB32(s.body)
		if err != nil {
			return 0, 0, false, false, fmt.Errorf("memory section: %w", err)
		}
		if n != 1 {
			return 0, 0, false, false, fmt.Errorf("memory section declares %d memories, want 1", n)
		}
		if off >= len(s.body) {
			return 0, 0, false, false, errors.New("memory section: truncated")
		}
		flags := s.body[off]
		off++
		if flags > 1 {
			return 0, 0, false, false, fmt.Errorf("memory section: limits flag %#x (shared or 64-bit memory) is not supported", flags)
		}
		minPages, k, err := readLEB32(s.body[off:])
		if err != nil {
			return 0, 0, false, false, fmt.Errorf("memory section: minimum: %w", err)
		}
		off += k
		if flags == 1 {
			if maxPages, _, err = readLEB32(s.body[off:]); err != nil {
				return 0, 0, false, false, fmt.Errorf("memory section: maximum: %w", err)
			}
			hasMax = true
		}
		return minPages, maxPages, hasMax, true, nil
	}
	return 0, 0, false, false, nil
}
