package release

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Limits of a SHA256SUMS file Verify reads.
const (
	MaxSumsSize  = 64 << 10
	MaxSumsLines = 256
)

// Sum is one line of a SHA256SUMS file.
type Sum struct {
	Digest [32]byte
	Name   string
}

// FormatSums writes sums in sha256sum's text format ("HEX  NAME\n"),
// sorted by name, so `sha256sum -c` checks them.
func FormatSums(sums []Sum) []byte {
	s := slices.Clone(sums)
	slices.SortFunc(s, func(a, b Sum) int { return strings.Compare(a.Name, b.Name) })
	var b bytes.Buffer
	for _, x := range s {
		fmt.Fprintf(&b, "%x  %s\n", x.Digest, x.Name)
	}
	return b.Bytes()
}

// ParseSums parses a SHA256SUMS file strictly: at most MaxSumsSize bytes
// and MaxSumsLines lines, each 64 lowercase hex digits, two spaces (or a
// space and '*', sha256sum's binary mode) and a file name without a slash,
// names unique.
func ParseSums(data []byte) ([]Sum, error) {
	if len(data) > MaxSumsSize {
		return nil, fmt.Errorf("release: SHA256SUMS: %d bytes, limit %d", len(data), MaxSumsSize)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("release: SHA256SUMS: empty or not ending in a newline")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if len(lines) > MaxSumsLines {
		return nil, fmt.Errorf("release: SHA256SUMS: %d lines, limit %d", len(lines), MaxSumsLines)
	}
	seen := map[string]bool{}
	out := make([]Sum, 0, len(lines))
	for i, l := range lines {
		bad := func(rule string) ([]Sum, error) {
			return nil, fmt.Errorf("release: SHA256SUMS line %d: %s", i+1, rule)
		}
		if len(l) < 67 || (l[64:66] != "  " && l[64:66] != " *") {
			return bad("want HEX, two spaces and a file name")
		}
		h := l[:64]
		if strings.ToLower(h) != h {
			return bad("digest is not lowercase hex")
		}
		d, err := hex.DecodeString(h)
		if err != nil {
			return bad("digest is not hex")
		}
		name := l[66:]
		if strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
			return bad(fmt.Sprintf("file name %q has a path", name))
		}
		if seen[name] {
			return bad(fmt.Sprintf("%q listed twice", name))
		}
		seen[name] = true
		out = append(out, Sum{Digest: [32]byte(d), Name: name})
	}
	return out, nil
}
