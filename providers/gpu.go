package providers

import (
	"strings"
	"unicode"
)

// CanonicalGPUModel reduces a GPU model name as networks spell it to a
// comparison key, so "NVIDIA GeForce RTX 4090", "RTX 4090 (24 GB)" and
// Akash's "rtx4090" all become "rtx4090", and "A100 SXM4 80GB" becomes "a100".
// It lowercases, drops parenthesised parts, vendor and brand words (nvidia,
// geforce, tesla, amd, radeon, instinct), memory sizes ("80gb", "24 GB") and
// form factors (sxm*, pcie, nvl), then keeps letters and digits only.
// Distinct models stay distinct: "rtx4090d" is not "rtx4090".
func CanonicalGPUModel(s string) string {
	s = strings.ToLower(s)
	// Drop "(…)" parts: Salad's "RTX 4090 (24 GB)".
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')':
			if depth > 0 {
				depth--
			}
		case depth == 0:
			b.WriteRune(r)
		}
	}
	fields := strings.FieldsFunc(b.String(), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	var out strings.Builder
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case gpuNoise[f], strings.HasPrefix(f, "sxm"):
			continue
		case isMemorySize(f):
			continue
		case isDigits(f) && i+1 < len(fields) && memUnits[fields[i+1]] && i > 0:
			i++ // "24 gb"
			continue
		}
		out.WriteString(f)
	}
	return out.String()
}

// SameGPUModel reports whether two model names denote the same GPU model under
// CanonicalGPUModel. An empty name matches nothing.
func SameGPUModel(a, b string) bool {
	ca, cb := CanonicalGPUModel(a), CanonicalGPUModel(b)
	return ca != "" && ca == cb
}

var gpuNoise = map[string]bool{
	"nvidia": true, "geforce": true, "tesla": true, "amd": true, "radeon": true,
	"instinct": true, "pcie": true, "nvl": true, "gpu": true,
}

var memUnits = map[string]bool{"gb": true, "gib": true, "g": true, "gi": true}

func isMemorySize(f string) bool {
	i := 0
	for i < len(f) && f[i] >= '0' && f[i] <= '9' {
		i++
	}
	return i > 0 && i < len(f) && memUnits[f[i:]]
}

func isDigits(f string) bool {
	for i := 0; i < len(f); i++ {
		if f[i] < '0' || f[i] > '9' {
			return false
		}
	}
	return f != ""
}
