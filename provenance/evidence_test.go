package provenance

import (
	"bytes"
	"errors"
	"testing"

	"github.com/transparency-dev/merkle/testonly"
)

// TestRootsFromConsistency checks the seeded RFC 9162 computation against
// the reference tree for every pair of sizes up to 70.
func TestRootsFromConsistency(t *testing.T) {
	ref := testonly.New(hasher)
	for i := 0; i < 70; i++ {
		ref.AppendData(rawLeaf(i))
	}
	for m := uint64(1); m < 70; m++ {
		for n := m + 1; n <= 70; n++ {
			p, err := ref.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			var r1 [32]byte
			copy(r1[:], ref.HashAt(m))
			r1got, r2got, err := rootsFromConsistency(m, n, fullConsistencyProof(m, p, r1))
			if err != nil {
				t.Fatalf("(%d, %d): %v", m, n, err)
			}
			if !bytes.Equal(r1got[:], ref.HashAt(m)) || !bytes.Equal(r2got[:], ref.HashAt(n)) {
				t.Fatalf("(%d, %d): roots differ from the reference", m, n)
			}
		}
	}
}

func TestEvidence(t *testing.T) {
	ctx := t.Context()
	key := testKey(t, 1)
	honest := openTestLog(t, memStore(), key, testOrigin)
	for i := 0; i < 20; i++ {
		if _, err := honest.Append(ctx, rawLeaf(i)); err != nil {
			t.Fatal(err)
		}
		if i == 7 || i == 11 {
			if _, err := honest.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	v := honest.Verifier()
	cpAt := func(l *Log, size uint64) Checkpoint {
		t.Helper()
		root, err := l.RootAt(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		signer, _ := NewLogSigner(testOrigin, key)
		c := Checkpoint{Origin: testOrigin, Size: size, Root: root}
		if c.Note, err = signCheckpoint(c, signer); err != nil {
			t.Fatal(err)
		}
		return c
	}
	_, fork := forkedCheckpoint(t, key, 20)
	for _, tc := range []struct {
		name string
		m, n uint64
	}{{"power of two", 8, 20}, {"not a power of two", 12, 20}, {"equal sizes", 20, 20}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := cpAt(honest, tc.m), cpAt(fork, tc.n)
			proof, err := fork.ConsistencyProof(ctx, tc.m, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			// The fork's own proof cannot prove a's root (power of two:
			// it lacks the seed), so CheckConsistency builds evidence only
			// where the proof pins the real tree; the log itself can
			// always build it from its tree.
			err = CheckConsistency(a, b, proof)
			var eq *EquivocationError
			if !errors.As(err, &eq) {
				if !isPow2(tc.m) {
					t.Fatalf("CheckConsistency = %v, want an EquivocationError", err)
				}
				forkRoot, _ := fork.RootAt(ctx, tc.m)
				eq = &EquivocationError{Evidence: Evidence{Origin: testOrigin, A: a.Note, B: b.Note, Proof: fullConsistencyProof(tc.m, proof, forkRoot)}}
			}
			got, err := VerifyEvidence(eq.Evidence, v)
			if err != nil {
				t.Fatalf("VerifyEvidence: %v", err)
			}
			if got.SizeA != tc.m || got.SizeB != tc.n {
				t.Fatalf("sizes %d, %d", got.SizeA, got.SizeB)
			}
			enc, err := eq.Evidence.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			dec, err := ParseEvidence(enc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyEvidence(dec, v); err != nil {
				t.Fatalf("decoded evidence: %v", err)
			}
		})
	}
	t.Run("consistent checkpoints are not evidence", func(t *testing.T) {
		a, b := cpAt(honest, 12), cpAt(honest, 20)
		p, _ := honest.ConsistencyProof(ctx, 12, 20)
		if err := CheckConsistency(a, b, p); err != nil {
			t.Fatalf("CheckConsistency: %v", err)
		}
		if _, err := VerifyEvidence(Evidence{Origin: testOrigin, A: a.Note, B: b.Note, Proof: p}, v); err == nil {
			t.Fatal("consistent pair accepted as evidence")
		}
		wrong := append([][]byte{}, p...)
		wrong[0] = make([]byte, 32)
		var pe *ProofError
		if err := CheckConsistency(a, b, wrong); !errors.As(err, &pe) {
			t.Fatalf("a wrong proof: %v, want a ProofError (not evidence)", err)
		}
	})
	t.Run("signed by another key", func(t *testing.T) {
		_, other := forkedCheckpoint(t, testKey(t, 5), 20)
		a := cpAt(honest, 20)
		bNote, _ := other.LatestCheckpoint(ctx)
		_, err := VerifyEvidence(Evidence{Origin: testOrigin, A: a.Note, B: bNote.Note}, v)
		var ee *EvidenceError
		if !errors.As(err, &ee) || ee.Field != "b" {
			t.Fatalf("%v, want an EvidenceError on b", err)
		}
	})
}

func TestParseEvidenceStrict(t *testing.T) {
	ev := Evidence{Origin: testOrigin, A: []byte("a\n\n— x AAAAAAA=\n"), B: []byte("b"), Proof: [][]byte{make([]byte, 32)}}
	enc, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseEvidence(enc); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"trailing byte": append(bytes.Clone(enc), 0),
		"truncated":     enc[:len(enc)-3],
		"empty":         {},
		"too large":     make([]byte, MaxEvidenceSize+1),
	} {
		if _, err := ParseEvidence(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	short := Evidence{Origin: testOrigin, A: []byte("a"), B: []byte("b"), Proof: [][]byte{{1}}}
	enc, _ = short.Marshal()
	var ee *EvidenceError
	if _, err := ParseEvidence(enc); !errors.As(err, &ee) || ee.Field != "proof[0]" {
		t.Fatalf("short hash: %v", err)
	}
}
