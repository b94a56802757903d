package provenance

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// TestNoteInterop checks our signer and verifiers against the reference
// implementations: x/mod/sumdb/note for log signatures and key IDs,
// transparency-dev/formats for cosignature/v1.
func TestNoteInterop(t *testing.T) {
	key := testKey(t, 1)
	signer, err := NewLogSigner(testOrigin, key)
	if err != nil {
		t.Fatal(err)
	}
	cp := Checkpoint{Origin: testOrigin, Size: 5, Root: [32]byte{1, 2, 3}}
	signed, err := signCheckpoint(cp, signer)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := LogVerifierKey(testOrigin, key.DID())
	if err != nil {
		t.Fatal(err)
	}
	refV, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("x/mod rejects our verifier key %q: %v", vkey, err)
	}
	wantVKey, err := note.NewEd25519VerifierKey(testOrigin, key.Public())
	if err != nil || wantVKey != vkey {
		t.Fatalf("verifier key %q, x/mod says %q (%v)", vkey, wantVKey, err)
	}
	n, err := note.Open(signed, note.VerifierList(refV))
	if err != nil {
		t.Fatalf("x/mod note.Open: %v", err)
	}
	if n.Text != string(cp.Body()) {
		t.Fatalf("note text %q", n.Text)
	}
	ourV, _ := LogVerifier(testOrigin, key.DID())
	if ourV.KeyHash() != refV.KeyHash() {
		t.Fatal("key hash differs from x/mod's")
	}

	// Cosignatures: ours verify with formats; formats' verify with ours.
	wkey := testKey(t, 9)
	cosigner, err := NewCosigner("aurora-witness/w1", wkey, newClock())
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(&note.Note{Text: string(cp.Body())}, signer, cosigner)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := WitnessVerifier("aurora-witness/w1", wkey.DID())
	if err != nil {
		t.Fatal(err)
	}
	fv, err := fnote.NewVerifierForCosignatureV1(wv.VerifierKey())
	if err != nil {
		t.Fatalf("formats rejects our witness key: %v", err)
	}
	if _, err := note.Open(cosigned, note.VerifierList(fv)); err != nil {
		t.Fatalf("formats does not verify our cosignature: %v", err)
	}
	when, err := VerifyCosignature(cosigned, wv)
	if err != nil || !when.Equal(fixedNow) {
		t.Fatalf("VerifyCosignature = %v, %v; want %v", when, err, fixedNow)
	}
	// A formats-made cosignature (its own clock) verifies with ours.
	edV, _ := LogVerifierKey("aurora-witness/w1", wkey.DID())
	skey := "PRIVATE+KEY+aurora-witness/w1+" + strings.Split(edV, "+")[1] + "+" +
		base64.StdEncoding.EncodeToString(append([]byte{0x01}, wkey.Seed()...))
	fs, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := note.Sign(&note.Note{Text: string(cp.Body())}, fs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCosignature(theirs, wv); err != nil {
		t.Fatalf("our verifier rejects formats' cosignature: %v", err)
	}
	pv, err := ParseWitnessKey(wv.VerifierKey())
	if err != nil || pv.KeyHash() != wv.KeyHash() {
		t.Fatalf("ParseWitnessKey(vkey) = %v", err)
	}
	pd, err := ParseWitnessKey("aurora-witness/w1+" + wkey.DID().String())
	if err != nil || pd.KeyHash() != wv.KeyHash() {
		t.Fatalf("ParseWitnessKey(name+did) = %v", err)
	}
	pe, err := ParseWitnessKey(edV) // a type 0x01 key converts to 0x04
	if err != nil || pe.KeyHash() != wv.KeyHash() {
		t.Fatalf("ParseWitnessKey(ed25519 vkey) = %v", err)
	}
}

func TestParseCheckpointBody(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name      string
		body      string
		wantField string
	}{
		{"ok", "o/1\n5\n" + root + "\n", ""},
		{"ok extension", "o/1\n5\n" + root + "\next one\n", ""},
		{"no final newline", "o/1\n5\n" + root, "body"},
		{"two lines", "o/1\n5\n", "body"},
		{"empty origin", "\n5\n" + root + "\n", "origin"},
		{"origin with space", "o 1\n5\n" + root + "\n", "origin"},
		{"origin with plus", "o+1\n5\n" + root + "\n", "origin"},
		{"leading zero", "o/1\n05\n" + root + "\n", "size"},
		{"negative", "o/1\n-5\n" + root + "\n", "size"},
		{"too big", "o/1\n999999999999999999999\n" + root + "\n", "size"},
		{"short root", "o/1\n5\nAAAA\n", "root"},
		{"root unpadded", "o/1\n5\n" + strings.TrimRight(base64.StdEncoding.EncodeToString(make([]byte, 31)), "=") + "A\n", "root"},
		{"empty extension", "o/1\n5\n" + root + "\n\n", "extension[0]"},
		{"too many extensions", "o/1\n5\n" + root + "\n" + strings.Repeat("x\n", MaxExtensionLines+1), "extensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp, err := ParseCheckpointBody([]byte(tt.body))
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				if string(cp.Body()) != tt.body {
					t.Fatalf("Body() = %q, want %q", cp.Body(), tt.body)
				}
				return
			}
			var ce *CheckpointError
			if !errors.As(err, &ce) || ce.Field != tt.wantField {
				t.Fatalf("error %v, want a CheckpointError on %s", err, tt.wantField)
			}
		})
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	key := testKey(t, 1)
	other := testKey(t, 2)
	signer, _ := NewLogSigner(testOrigin, key)
	v, _ := LogVerifier(testOrigin, key.DID())
	cp := Checkpoint{Origin: testOrigin, Size: 5, Root: [32]byte{1}}
	good, _ := signCheckpoint(cp, signer)
	otherSigner, _ := NewLogSigner(testOrigin, other)
	byOther, _ := signCheckpoint(cp, otherSigner)
	wrongOrigin, _ := signCheckpoint(Checkpoint{Origin: "aurora/x/y", Size: 5}, signer)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-5] ^= 0x01 // inside the signature's base64
	if _, err := OpenCheckpoint(good, testOrigin, v); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		note []byte
		want func(error) bool
	}{
		{"other key", byOther, func(err error) bool { return errors.Is(err, ErrNoLogSignature) }},
		{"wrong origin", wrongOrigin, func(err error) bool { var oe *OriginError; return errors.As(err, &oe) }},
		{"bad signature", flipped, func(err error) bool {
			var se *SignatureError
			var ne *NoteError
			return errors.As(err, &se) || errors.As(err, &ne)
		}},
		{"no signatures", cp.Body(), func(err error) bool { var ne *NoteError; return errors.As(err, &ne) }},
		{"too large", append(bytes.Repeat([]byte("a"), MaxNoteSize), good...), func(err error) bool { var ne *NoteError; return errors.As(err, &ne) }},
		{"control char", append([]byte("a\x01"), good...), func(err error) bool { var ne *NoteError; return errors.As(err, &ne) }},
		{"duplicate signature", append(bytes.Clone(good), good[len(cp.Body())+1:]...), func(err error) bool { var ne *NoteError; return errors.As(err, &ne) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenCheckpoint(tt.note, testOrigin, v)
			if err == nil || !tt.want(err) {
				t.Fatalf("error %v", err)
			}
		})
	}
}

func TestMergeCosignatures(t *testing.T) {
	key := testKey(t, 1)
	signer, _ := NewLogSigner(testOrigin, key)
	cp := Checkpoint{Origin: testOrigin, Size: 5, Root: [32]byte{1}}
	signed, _ := signCheckpoint(cp, signer)
	clock := newClock()
	var ws []*CosignatureVerifier
	merged := signed
	for i := 0; i < MaxNoteSignatures-1; i++ {
		name := "aurora-witness/w" + string(rune('a'+i))
		k := testKey(t, byte(10+i))
		cs, _ := NewCosigner(name, k, clock)
		sig, _ := cs.Sign(cp.Body())
		line := NoteSignature{Name: name, KeyHash: cs.KeyHash(), Sig: sig}.Line()
		var err error
		if merged, err = MergeCosignatures(merged, []byte(line)); err != nil {
			t.Fatalf("merge %d: %v", i, err)
		}
		wv, _ := WitnessVerifier(name, k.DID())
		ws = append(ws, wv)
	}
	got, err := VerifyCosignatures(Checkpoint{Note: merged}, ws)
	if err != nil || len(got) != MaxNoteSignatures-1 {
		t.Fatalf("VerifyCosignatures = %d, %v", len(got), err)
	}
	// A 17th signature is refused and changes nothing.
	cs, _ := NewCosigner("aurora-witness/extra", testKey(t, 99), clock)
	sig, _ := cs.Sign(cp.Body())
	line := NoteSignature{Name: "aurora-witness/extra", KeyHash: cs.KeyHash(), Sig: sig}.Line()
	if _, err := MergeCosignatures(merged, []byte(line)); !errors.Is(err, ErrTooManySignatures) {
		t.Fatalf("merging a 17th signature: %v, want ErrTooManySignatures", err)
	}
	// A newer cosignature by a known witness replaces the older one.
	clock.Advance(time.Hour)
	cs0, _ := NewCosigner("aurora-witness/wa", testKey(t, 10), clock)
	sig0, _ := cs0.Sign(cp.Body())
	fresher, err := MergeCosignatures(merged, []byte(NoteSignature{Name: "aurora-witness/wa", KeyHash: cs0.KeyHash(), Sig: sig0}.Line()))
	if err != nil {
		t.Fatal(err)
	}
	when, err := VerifyCosignature(fresher, ws[0])
	if err != nil || !when.Equal(fixedNow.Add(time.Hour)) {
		t.Fatalf("refreshed cosignature time %v, %v", when, err)
	}
	if n, _ := parseNote(fresher); len(n.Sigs) != MaxNoteSignatures {
		t.Fatalf("%d signatures after refresh, want %d", len(n.Sigs), MaxNoteSignatures)
	}
}
