package provenance

import (
	"bytes"
	"testing"

	"github.com/transparency-dev/merkle/testonly"
)

// Fuzz tests: every parser and verifier of peer input. Seeds come from
// valid inputs; the corpus under testdata/fuzz holds further regressions.

func seedCheckpoint(t testing.TB) (Checkpoint, []byte) {
	key := testKey(t, 1)
	signer, _ := NewLogSigner(testOrigin, key)
	cp := Checkpoint{Origin: testOrigin, Size: 37, Root: [32]byte{7}}
	n, err := signCheckpoint(cp, signer)
	if err != nil {
		t.Fatal(err)
	}
	cp.Note = n
	return cp, n
}

func FuzzParseNote(f *testing.F) {
	_, n := seedCheckpoint(f)
	f.Add(n)
	f.Add([]byte("a\n\n— b AAAAAAA=\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sn, err := parseNote(b)
		if err != nil {
			return
		}
		if len(sn.Sigs) == 0 || len(sn.Sigs) > MaxNoteSignatures {
			t.Fatalf("%d signatures accepted", len(sn.Sigs))
		}
		if !bytes.Equal(sn.Marshal(), b) {
			t.Fatalf("accepted note does not round-trip: %q", b)
		}
	})
}

func FuzzOpenCheckpoint(f *testing.F) {
	_, n := seedCheckpoint(f)
	f.Add(n)
	f.Add([]byte(testOrigin + "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— x AAAAAAA=\n"))
	v, _ := LogVerifier(testOrigin, testKey(f, 1).DID())
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := OpenCheckpoint(b, testOrigin, v)
		if err != nil {
			return
		}
		if cp.Origin != testOrigin || !bytes.HasPrefix(b, cp.Body()) {
			t.Fatalf("opened %+v from %q", cp, b)
		}
	})
}

func FuzzParseCheckpointBody(f *testing.F) {
	cp, _ := seedCheckpoint(f)
	f.Add(cp.Body())
	f.Add([]byte("o\n0\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCheckpointBody(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Body(), b) {
			t.Fatalf("body %q re-encodes as %q", b, c.Body())
		}
	})
}

func FuzzMergeCosignatures(f *testing.F) {
	cp, n := seedCheckpoint(f)
	cs, _ := NewCosigner("w", testKey(f, 2), newClock())
	sig, _ := cs.Sign(cp.Body())
	f.Add(n, []byte(NoteSignature{Name: "w", KeyHash: cs.KeyHash(), Sig: sig}.Line()))
	f.Add(n, []byte("— x AAAAAAA=\n— y AAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, note, lines []byte) {
		m, err := MergeCosignatures(note, lines)
		if err != nil {
			return
		}
		sn, err := parseNote(m)
		if err != nil {
			t.Fatalf("merge produced an unparsable note: %v", err)
		}
		if len(sn.Sigs) > MaxNoteSignatures {
			t.Fatalf("%d signatures", len(sn.Sigs))
		}
	})
}

func FuzzParseAddCheckpoint(f *testing.F) {
	_, n := seedCheckpoint(f)
	f.Add(CosignRequest(0, nil, n))
	f.Add(CosignRequest(12, [][]byte{make([]byte, 32), bytes.Repeat([]byte{1}, 32)}, n))
	f.Add([]byte("old 1\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseAddCheckpoint(b)
		if err != nil {
			return
		}
		if len(r.Proof) > MaxProofHashes {
			t.Fatalf("%d proof lines", len(r.Proof))
		}
		if !bytes.Equal(CosignRequest(r.Old, r.Proof, r.Checkpoint), b) {
			t.Fatal("accepted request does not round-trip")
		}
	})
}

// FuzzWitnessAddCheckpoint feeds arbitrary bodies to a witness that has
// stored a checkpoint: nothing but a valid continuation may move it.
func FuzzWitnessAddCheckpoint(f *testing.F) {
	_, n := seedCheckpoint(f)
	f.Add(CosignRequest(0, nil, n))
	f.Add(CosignRequest(5, [][]byte{make([]byte, 32)}, n))
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := t.Context()
		key := testKey(t, 1)
		l := openTestLog(t, memStore(), key, testOrigin)
		for i := 0; i < 5; i++ {
			l.Append(ctx, rawLeaf(i))
		}
		cp5, _ := l.Checkpoint(ctx)
		w, err := NewWitness(WitnessConfig{Key: testKey(t, 7), Store: memStore(), Clock: newClock(),
			Logs: func(o string) (noteVerifier, bool) { return l.Verifier(), o == testOrigin }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddCheckpoint(ctx, CosignRequest(0, nil, cp5.Note)); err != nil {
			t.Fatal(err)
		}
		sig, err := w.AddCheckpoint(ctx, body)
		got, _ := w.Latest(ctx, testOrigin)
		if err != nil {
			if got.Size != 5 || got.Root != cp5.Root {
				t.Fatalf("a rejected request moved the witness to %d", got.Size)
			}
			if StatusCode(err) == 500 {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if got.Size < 5 || len(sig) == 0 {
			t.Fatalf("accepted: stored size %d", got.Size)
		}
		if got.Size == 5 && got.Root != cp5.Root {
			t.Fatal("accepted a different root at the same size")
		}
	})
}

func FuzzParseEvidence(f *testing.F) {
	_, n := seedCheckpoint(f)
	ev := Evidence{Origin: testOrigin, A: n, B: n, Proof: [][]byte{make([]byte, 32)}}
	b, _ := ev.Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvidence(b)
		if err != nil {
			return
		}
		again, err := e.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted evidence does not round-trip: %v", err)
		}
		v, _ := LogVerifier(testOrigin, testKey(t, 1).DID())
		VerifyEvidence(e, v) // must not panic
	})
}

func FuzzParseBundle(f *testing.F) {
	bf := newBundleFixture(&testing.T{})
	text, _ := bf.bundle.Marshal()
	f.Add(text)
	f.Add([]byte(BundleHeader + "\nindex 0\n\n"))
	opts := bf.opts
	f.Fuzz(func(t *testing.T, b []byte) {
		bd, err := ParseBundle(b)
		if err != nil {
			return
		}
		again, err := bd.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted bundle does not round-trip: %v", err)
		}
		r, err := VerifyBundle(bd, opts)
		if err == nil && !bytes.Equal(b, text) {
			// Only the fixture's exact bundle may verify fully.
			if !bytes.Equal(bd.Leaf, bf.bundle.Leaf) || bd.Index != bf.bundle.Index {
				t.Fatalf("a different bundle verified: %+v", r)
			}
		}
	})
}

// FuzzInclusionProof: proofs from the log verify; any mutated proof does
// not.
func FuzzInclusionProof(f *testing.F) {
	f.Add(uint16(1), uint16(0), uint8(0), uint8(0))
	f.Add(uint16(37), uint16(5), uint8(2), uint8(7))
	f.Add(uint16(1024), uint16(1023), uint8(9), uint8(31))
	f.Fuzz(func(t *testing.T, size, index uint16, which, bit uint8) {
		if size == 0 || size > 2048 {
			return
		}
		index %= size
		ref := testonly.New(hasher)
		for i := 0; i < int(size); i++ {
			ref.AppendData(rawLeaf(i))
		}
		p, err := ref.InclusionProof(uint64(index), uint64(size))
		if err != nil {
			t.Fatal(err)
		}
		var root [32]byte
		copy(root[:], ref.Hash())
		lh := LeafHash(rawLeaf(int(index)))
		if err := VerifyInclusion(uint64(index), uint64(size), lh, p, root); err != nil {
			t.Fatalf("valid proof rejected: %v", err)
		}
		if len(p) == 0 {
			lh[bit%32] ^= 1
		} else {
			p[int(which)%len(p)][bit%32] ^= 1 << (bit % 8)
		}
		if VerifyInclusion(uint64(index), uint64(size), lh, p, root) == nil {
			t.Fatal("mutated proof accepted")
		}
	})
}

// FuzzConsistencyProof: proofs verify; mutated ones do not; the seeded
// computation agrees with the reference roots.
func FuzzConsistencyProof(f *testing.F) {
	f.Add(uint16(3), uint16(7), uint8(0), uint8(0))
	f.Add(uint16(8), uint16(20), uint8(1), uint8(9))
	f.Fuzz(func(t *testing.T, m, n uint16, which, bit uint8) {
		if m == 0 || n > 1024 || m >= n {
			return
		}
		ref := testonly.New(hasher)
		for i := 0; i < int(n); i++ {
			ref.AppendData(rawLeaf(i))
		}
		p, err := ref.ConsistencyProof(uint64(m), uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		var r1, r2 [32]byte
		copy(r1[:], ref.HashAt(uint64(m)))
		copy(r2[:], ref.HashAt(uint64(n)))
		if err := VerifyConsistency(uint64(m), uint64(n), p, r1, r2); err != nil {
			t.Fatalf("valid proof rejected: %v", err)
		}
		g1, g2, err := rootsFromConsistency(uint64(m), uint64(n), fullConsistencyProof(uint64(m), p, r1))
		if err != nil || g1 != r1 || g2 != r2 {
			t.Fatalf("seeded roots differ: %v", err)
		}
		p[int(which)%len(p)][bit%32] ^= 1 << (bit % 8)
		if VerifyConsistency(uint64(m), uint64(n), p, r1, r2) == nil {
			t.Fatal("mutated proof accepted")
		}
	})
}
