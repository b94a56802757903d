package c2sp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// ProofError reports a Merkle proof that does not verify, with what was
// expected and what the proof computed.
type ProofError struct {
	Kind         string // "inclusion" or "consistency"
	Size1, Size2 uint64 // inclusion: Size1 = index, Size2 = tree size
	Reason       string
}

func (e *ProofError) Error() string {
	if e.Kind == "inclusion" {
		return fmt.Sprintf("provenance: inclusion proof of leaf %d in tree of size %d: %s", e.Size1, e.Size2, e.Reason)
	}
	return fmt.Sprintf("provenance: consistency proof from size %d to %d: %s", e.Size1, e.Size2, e.Reason)
}

// hasher is RFC 6962 with SHA-256.
var hasher = rfc6962.DefaultHasher

// LeafHash is the RFC 6962 leaf hash SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// VerifyInclusion checks an RFC 6962 inclusion proof of the leaf with hash
// leafHash at index in the tree of the given size and root.
func VerifyInclusion(index, size uint64, leafHash [32]byte, hashes [][]byte, root [32]byte) error {
	if len(hashes) > MaxProofHashes+1 {
		return &ProofError{Kind: "inclusion", Size1: index, Size2: size, Reason: fmt.Sprintf("%d hashes, limit %d", len(hashes), MaxProofHashes+1)}
	}
	if err := checkHashes(hashes); err != nil {
		return &ProofError{Kind: "inclusion", Size1: index, Size2: size, Reason: err.Error()}
	}
	if err := proof.VerifyInclusion(hasher, index, size, leafHash[:], hashes, root[:]); err != nil {
		return &ProofError{Kind: "inclusion", Size1: index, Size2: size, Reason: err.Error()}
	}
	return nil
}

// VerifyConsistency checks an RFC 6962 consistency proof between the trees
// of sizes size1 ≤ size2 with the given roots. Unlike merkle v0.0.2, a proof
// from size 0 is accepted only if empty and only with root1 the empty-tree
// root, and a size-0 tree must have the empty root.
func VerifyConsistency(size1, size2 uint64, hashes [][]byte, root1, root2 [32]byte) error {
	fail := func(format string, args ...any) error {
		return &ProofError{Kind: "consistency", Size1: size1, Size2: size2, Reason: fmt.Sprintf(format, args...)}
	}
	if len(hashes) > MaxProofHashes {
		return fail("%d hashes, limit %d", len(hashes), MaxProofHashes)
	}
	if err := checkHashes(hashes); err != nil {
		return fail("%v", err)
	}
	if size1 == 0 {
		if len(hashes) != 0 {
			return fail("proof from the empty tree must be empty, got %d hashes", len(hashes))
		}
		if root1 != EmptyRoot() {
			return fail("size 0 with a root other than the empty-tree hash")
		}
		if size2 == 0 && root2 != EmptyRoot() {
			return fail("size 0 with a root other than the empty-tree hash")
		}
		return nil
	}
	if err := proof.VerifyConsistency(hasher, size1, size2, hashes, root1[:], root2[:]); err != nil {
		return fail("%v", err)
	}
	return nil
}

func checkHashes(hashes [][]byte) error {
	for i, h := range hashes {
		if len(h) != 32 {
			return fmt.Errorf("hash %d is %d bytes, want 32", i, len(h))
		}
	}
	return nil
}

// EmptyRoot is the RFC 6962 root of the empty tree, SHA-256("").
func EmptyRoot() [32]byte {
	var r [32]byte
	copy(r[:], hasher.EmptyRoot())
	return r
}

// isPow2 reports whether n is a power of two.
func isPow2(n uint64) bool { return n != 0 && n&(n-1) == 0 }

// SeededConsistencyProof returns the RFC 9162 "seeded" form of a consistency
// proof from size m: RFC 6962 omits the first hash when m is a power of two
// (it is root1 itself); evidence carries it so that the proof alone computes
// both roots.
func SeededConsistencyProof(m uint64, hashes [][]byte, root1 [32]byte) [][]byte {
	if isPow2(m) {
		return append([][]byte{root1[:]}, hashes...)
	}
	return hashes
}

// RootsFromConsistency computes the roots of the trees of sizes m < n that a
// seeded consistency proof implies (RFC 9162 §2.1.4.2 with the first value
// always present). If the proof reproduces root2 of a signed checkpoint, its
// hashes are that tree's real subtree hashes (short of a SHA-256 collision),
// so the first result is the real root of the first m leaves.
func RootsFromConsistency(m, n uint64, p [][]byte) (r1, r2 [32]byte, err error) {
	if m == 0 || m >= n {
		return r1, r2, fmt.Errorf("sizes %d, %d: want 0 < m < n", m, n)
	}
	if len(p) == 0 || len(p) > MaxProofHashes+1 {
		return r1, r2, fmt.Errorf("%d hashes, want 1 to %d", len(p), MaxProofHashes+1)
	}
	if err := checkHashes(p); err != nil {
		return r1, r2, err
	}
	fn, sn := m-1, n-1
	if tz := bits.TrailingZeros64(^fn); tz > 0 {
		fn >>= tz
		sn >>= tz
	}
	fr, sr := p[0], p[0]
	for _, c := range p[1:] {
		if sn == 0 {
			return r1, r2, errors.New("proof too long")
		}
		if fn&1 == 1 || fn == sn {
			fr = hasher.HashChildren(c, fr)
			sr = hasher.HashChildren(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = hasher.HashChildren(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return r1, r2, errors.New("proof too short")
	}
	copy(r1[:], fr)
	copy(r2[:], sr)
	return r1, r2, nil
}

// ProvesInconsistent reports whether the (RFC 6962) consistency proof hashes, taken
// between checkpoints a and b (a.Size < b.Size), prove them inconsistent: the
// proof reproduces b's root but yields another root for a's size.
func ProvesInconsistent(a, b Checkpoint, hashes [][]byte) ([][]byte, bool) {
	if a.Size == 0 || a.Size >= b.Size {
		return nil, false
	}
	full := SeededConsistencyProof(a.Size, hashes, a.Root)
	r1, r2, err := RootsFromConsistency(a.Size, b.Size, full)
	if err != nil || r2 != b.Root || r1 == a.Root {
		return nil, false
	}
	return full, true
}

// ParseHashLines parses a proof written one canonical base64 SHA-256 hash
// per line (each ending in a newline), at most MaxProofHashes+1 lines: the
// form of proofs in tlog-proof and add-checkpoint bodies, and of the
// consistency file `aurora proof verify --consistency` reads.
func ParseHashLines(b []byte) ([][]byte, error) {
	out := [][]byte{}
	if len(b) == 0 {
		return out, nil
	}
	if len(b) > (MaxProofHashes+1)*45 || b[len(b)-1] != '\n' {
		return nil, errors.New("provenance: proof: want at most 64 lines, each ending in a newline")
	}
	for i, line := range strings.Split(string(b[:len(b)-1]), "\n") {
		h, err := DecodeHash(line)
		if err != nil {
			return nil, fmt.Errorf("provenance: proof line %d: %w", i+1, err)
		}
		out = append(out, h[:])
	}
	return out, nil
}

// MarshalHashLines writes a proof one base64 hash per line.
func MarshalHashLines(hashes [][]byte) []byte {
	var b bytes.Buffer
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	return b.Bytes()
}
