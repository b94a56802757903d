package c2sp

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// Evidence proves that a log equivocated: A and B are checkpoints signed by
// the log's key for one origin that cannot both be honest. Either they have
// the same size and different roots (Proof is empty), or A is smaller and
// Proof is a consistency proof from A's size to B's size that reproduces B's
// root but computes another root than A's for A's size. Proof is in seeded
// form: when A's size is a power of two, its first hash is the hash of B's
// first A.size leaves (RFC 6962 proofs omit it).
//
// Evidence is self-contained: anyone holding the log's public key can check
// it with VerifyEvidence, so nodes gossip it as is.
type Evidence struct {
	Origin string
	A, B   []byte // signed checkpoint notes, A.Size ≤ B.Size
	Proof  [][]byte
}

// EquivocationError reports a log caught signing two conflicting
// checkpoints, carrying the Evidence.
type EquivocationError struct {
	Evidence Evidence
	// SizeA and SizeB are the two checkpoints' sizes.
	SizeA, SizeB uint64
}

func (e *EquivocationError) Error() string {
	if e.SizeA == e.SizeB {
		return fmt.Sprintf("provenance: log %q equivocated: two different roots at size %d", Truncate(e.Evidence.Origin), e.SizeA)
	}
	return fmt.Sprintf("provenance: log %q equivocated: checkpoint at size %d is inconsistent with checkpoint at size %d", Truncate(e.Evidence.Origin), e.SizeA, e.SizeB)
}

// evidenceWire is the dag-cbor form of Evidence.
type evidenceWire struct {
	V      int64    `cbor:"v"`
	Origin string   `cbor:"origin"`
	A      []byte   `cbor:"a"`
	B      []byte   `cbor:"b"`
	Proof  [][]byte `cbor:"proof"`
}

const evidenceVersion = 1

// Marshal returns the canonical dag-cbor encoding of e:
// {v: 1, origin, a, b, proof} (see docs/PROVENANCE.md).
func (e Evidence) Marshal() ([]byte, error) {
	w := evidenceWire{V: evidenceVersion, Origin: e.Origin, A: e.A, B: e.B, Proof: e.Proof}
	b, err := encMode.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode evidence: %w", err)
	}
	if len(b) > MaxEvidenceSize {
		return nil, fmt.Errorf("provenance: evidence is %d bytes, limit %d", len(b), MaxEvidenceSize)
	}
	return b, nil
}

// EvidenceError reports evidence that does not decode or does not prove
// equivocation, naming the field.
type EvidenceError struct {
	Field string
	Rule  string
}

func (e *EvidenceError) Error() string { return "provenance: evidence: " + e.Field + ": " + e.Rule }

// ParseEvidence decodes evidence strictly: at most MaxEvidenceSize bytes,
// canonical dag-cbor, no unknown, missing or duplicate fields, version 1,
// bounded notes and proof. It does not verify signatures: see
// VerifyEvidence.
func ParseEvidence(b []byte) (Evidence, error) {
	if len(b) > MaxEvidenceSize {
		return Evidence{}, &EvidenceError{Field: "evidence", Rule: fmt.Sprintf("%d bytes, limit %d", len(b), MaxEvidenceSize)}
	}
	var w evidenceWire
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Evidence{}, &EvidenceError{Field: "evidence", Rule: "not dag-cbor evidence: " + err.Error()}
	}
	canon, err := encMode.Marshal(w)
	if err != nil || !bytes.Equal(canon, b) {
		return Evidence{}, &EvidenceError{Field: "evidence", Rule: "not canonical dag-cbor (missing field, key order or integer form)"}
	}
	if w.V != evidenceVersion {
		return Evidence{}, &EvidenceError{Field: "v", Rule: fmt.Sprintf("version %d, want %d", w.V, evidenceVersion)}
	}
	if err := CheckOrigin(w.Origin); err != nil {
		return Evidence{}, &EvidenceError{Field: "origin", Rule: err.Error()}
	}
	for _, n := range []struct {
		f string
		b []byte
	}{{"a", w.A}, {"b", w.B}} {
		if len(n.b) == 0 || len(n.b) > MaxNoteSize {
			return Evidence{}, &EvidenceError{Field: n.f, Rule: fmt.Sprintf("%d bytes, want 1 to %d", len(n.b), MaxNoteSize)}
		}
	}
	if len(w.Proof) > MaxProofHashes+1 {
		return Evidence{}, &EvidenceError{Field: "proof", Rule: fmt.Sprintf("%d hashes, limit %d", len(w.Proof), MaxProofHashes+1)}
	}
	for i, h := range w.Proof {
		if len(h) != 32 {
			return Evidence{}, &EvidenceError{Field: fmt.Sprintf("proof[%d]", i), Rule: fmt.Sprintf("%d bytes, want 32", len(h))}
		}
	}
	return Evidence{Origin: w.Origin, A: w.A, B: w.B, Proof: w.Proof}, nil
}

// VerifyEvidence checks that e proves equivocation by the log with verifier
// log: both notes open as checkpoints of e.Origin signed by log, and they
// really conflict (same size and different roots; or A smaller and the
// seeded proof reproduces B's root but not A's). It returns the
// EquivocationError that e proves, or an error naming what is wrong.
func VerifyEvidence(e Evidence, log note.Verifier) (*EquivocationError, error) {
	a, err := OpenCheckpoint(e.A, e.Origin, log)
	if err != nil {
		return nil, &EvidenceError{Field: "a", Rule: err.Error()}
	}
	b, err := OpenCheckpoint(e.B, e.Origin, log)
	if err != nil {
		return nil, &EvidenceError{Field: "b", Rule: err.Error()}
	}
	eq := &EquivocationError{Evidence: e, SizeA: a.Size, SizeB: b.Size}
	switch {
	case a.Size > b.Size:
		return nil, &EvidenceError{Field: "a", Rule: fmt.Sprintf("size %d is larger than b's %d", a.Size, b.Size)}
	case a.Size == b.Size:
		if len(e.Proof) != 0 {
			return nil, &EvidenceError{Field: "proof", Rule: "must be empty for checkpoints of equal size"}
		}
		if a.Root == b.Root {
			return nil, &EvidenceError{Field: "b", Rule: "same size and same root: no conflict"}
		}
		return eq, nil
	case a.Size == 0:
		return nil, &EvidenceError{Field: "a", Rule: "the empty tree is consistent with every tree"}
	}
	r1, r2, err := RootsFromConsistency(a.Size, b.Size, e.Proof)
	if err != nil {
		return nil, &EvidenceError{Field: "proof", Rule: err.Error()}
	}
	if r2 != b.Root {
		return nil, &EvidenceError{Field: "proof", Rule: "does not reproduce b's root"}
	}
	if r1 == a.Root {
		return nil, &EvidenceError{Field: "proof", Rule: "reproduces a's root too: the checkpoints are consistent"}
	}
	return eq, nil
}

// CheckConsistency compares two verified checkpoints of one log (see
// OpenCheckpoint), given in any order, with an RFC 6962 consistency proof
// between their sizes (empty for equal sizes). It returns nil when they are
// consistent, an *EquivocationError carrying evidence when they provably
// are not (equal sizes with different roots, or a proof that reproduces the
// larger root but not the smaller), and a *ProofError when the proof is
// merely wrong (which proves nothing about the log).
func CheckConsistency(a, b Checkpoint, hashes [][]byte) error {
	if a.Origin != b.Origin {
		return &OriginError{Want: a.Origin, Got: b.Origin}
	}
	if a.Size > b.Size {
		a, b = b, a
	}
	if a.Size == b.Size {
		if a.Root == b.Root {
			return nil
		}
		return &EquivocationError{Evidence: Evidence{Origin: a.Origin, A: a.Note, B: b.Note}, SizeA: a.Size, SizeB: b.Size}
	}
	err := VerifyConsistency(a.Size, b.Size, hashes, a.Root, b.Root)
	if err == nil {
		return nil
	}
	if full, ok := ProvesInconsistent(a, b, hashes); ok {
		return &EquivocationError{Evidence: Evidence{Origin: a.Origin, A: a.Note, B: b.Note, Proof: full}, SizeA: a.Size, SizeB: b.Size}
	}
	return err
}

// ErrNotEquivocation is returned by RecordEvidence for evidence that does
// not verify.
var ErrNotEquivocation = errors.New("provenance: evidence does not prove equivocation")
