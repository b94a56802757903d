package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fproof "github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/note"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// fakeTSA issues and verifies stand-in tokens: "fake-rfc3161|<name>|" +
// digest + unix time. The real tokens are provenance/tsa's business; these
// exercise the plumbing and the verdicts.
type fakeTSA struct {
	name  string
	clock Clock
	fail  func() error // nil: succeed
	mu    sync.Mutex   // protects calls
	calls int
}

func (f *fakeTSA) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeTSA) Timestamp(ctx context.Context, digest [32]byte) ([]byte, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(); err != nil {
			return nil, err
		}
	}
	tok := []byte("fake-rfc3161|" + f.name + "|")
	tok = append(tok, digest[:]...)
	return append(tok, []byte(f.clock.Now().UTC().Format(time.RFC3339))...), nil
}

type fakeTSAVerifier struct{}

// VerifyTokenSigner names the fake token's TSA as its signer.
func (v fakeTSAVerifier) VerifyTokenSigner(tok []byte, digest [32]byte) (time.Time, [32]byte, string, error) {
	t, err := v.VerifyToken(tok, digest)
	if err != nil {
		return t, [32]byte{}, "", err
	}
	name := string(bytes.SplitN(tok, []byte("|"), 3)[1])
	return t, sha256.Sum256([]byte(name)), name, nil
}

func (fakeTSAVerifier) VerifyToken(tok []byte, digest [32]byte) (time.Time, error) {
	parts := bytes.SplitN(tok, []byte("|"), 3)
	if len(parts) != 3 || string(parts[0]) != "fake-rfc3161" || len(parts[2]) < 32 {
		return time.Time{}, errors.New("not a token")
	}
	if !bytes.Equal(parts[2][:32], digest[:]) {
		return time.Time{}, errors.New("message imprint mismatch")
	}
	return time.Parse(time.RFC3339, string(parts[2][32:]))
}

// bundleFixture: a log with job leaves, a checkpoint cosigned by two
// witnesses, two tokens and a root CID.
type bundleFixture struct {
	log    *Log
	wits   []*CosignatureVerifier
	bundle *Bundle
	opts   VerifyOptions
}

func newBundleFixture(t *testing.T) *bundleFixture {
	t.Helper()
	ctx := t.Context()
	key := testKey(t, 1)
	l := openTestLog(t, memStore(), key, testOrigin)
	for i := 0; i < 37; i++ {
		if _, err := l.Append(ctx, jobLeaf(t, i)); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock()
	signed := cp.Note
	var wits []*CosignatureVerifier
	for i, name := range []string{"aurora-witness/12D3KooWB", "aurora-witness/12D3KooWC"} {
		k := testKey(t, byte(20+i))
		w, err := NewWitness(WitnessConfig{Key: k, Name: name, Store: memStore(), Clock: clock,
			Logs: func(string) (note.Verifier, bool) { return l.Verifier(), true }})
		if err != nil {
			t.Fatal(err)
		}
		sig, err := w.AddCheckpoint(ctx, CosignRequest(0, nil, cp.Note))
		if err != nil {
			t.Fatal(err)
		}
		if signed, err = MergeCosignatures(signed, sig); err != nil {
			t.Fatal(err)
		}
		wits = append(wits, w.Verifier())
	}
	if _, err := l.UpdateCosigned(ctx, signed); err != nil {
		t.Fatal(err)
	}
	b, err := l.Bundle(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	d := cp.Digest()
	for _, name := range []string{"tsa-a", "tsa-b"} {
		tok, _ := (&fakeTSA{name: name, clock: clock}).Timestamp(ctx, d)
		b.TSA = append(b.TSA, tok)
	}
	b.Root = testCID("epoch-root").String()
	return &bundleFixture{log: l, wits: wits, bundle: b, opts: VerifyOptions{
		Origin: testOrigin, LogDID: key.DID(), WitnessKeys: wits, MinWitnesses: 2,
		TSAVerifier: fakeTSAVerifier{}, Now: fixedNow,
	}}
}

func TestBundleRoundTripAndGolden(t *testing.T) {
	f := newBundleFixture(t)
	text, err := f.bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "bundle.tlog-proof")
	if *update {
		if err := os.WriteFile(golden, text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(text, want) {
		t.Fatalf("bundle differs from %s (run with -update and review the diff):\n%s", golden, text)
	}
	b, err := ParseBundle(text)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := b.Marshal()
	if !bytes.Equal(again, text) {
		t.Fatal("Marshal(ParseBundle(x)) != x")
	}
	// It is a C2SP tlog-proof: transparency-dev/formats reads it.
	var p fproof.TLogProof
	if err := p.Unmarshal(text); err != nil {
		t.Fatalf("formats/proof: %v", err)
	}
	if p.Index != b.Index || !bytes.Equal(p.Checkpoint, b.Checkpoint) || len(p.Hashes) != len(b.Proof) {
		t.Fatal("formats/proof reads different fields")
	}
	r, err := VerifyBundle(b, f.opts)
	if err != nil {
		var out strings.Builder
		r.WriteTo(&out)
		t.Fatalf("VerifyBundle: %v\n%s", err, out.String())
	}
	if !r.OK() || r.Job == nil || r.Job.Job != "job-000005" || len(r.Cosigners) != 2 || len(r.TokenTimes) != 2 {
		t.Fatalf("report %+v", r)
	}
	if len(r.Verdicts) != 7 {
		t.Fatalf("%d verdicts, want 7", len(r.Verdicts))
	}
}

// TestVerifyBundleTampering flips bytes in each part of a bundle: the
// verification fails and names the broken link.
func TestVerifyBundleTampering(t *testing.T) {
	f := newBundleFixture(t)
	ctx := t.Context()
	for i := 0; i < 20; i++ {
		if _, err := f.log.Append(ctx, jobLeaf(t, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	newer, err := f.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := f.log.ConsistencyProof(ctx, 37, newer.Size)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	cpText := noteText(f.bundle.Checkpoint)
	sigStart := len(cpText) + 1
	tests := []struct {
		name   string
		mutate func(b *Bundle, o *VerifyOptions)
		link   string
	}{
		{"record byte (price)", func(b *Bundle, _ *VerifyOptions) {
			b.Leaf = bytes.Replace(b.Leaf, []byte("lease-5"), []byte("lease-6"), 1)
		}, LinkInclusion},
		{"record structure", func(b *Bundle, _ *VerifyOptions) { b.Leaf = flip(b.Leaf, 0) }, LinkRecord},
		{"checkpoint size", func(b *Bundle, _ *VerifyOptions) {
			b.Checkpoint = bytes.Replace(b.Checkpoint, []byte("\n37\n"), []byte("\n38\n"), 1)
		}, LinkLogSignature},
		{"log signature", func(b *Bundle, _ *VerifyOptions) {
			b.Checkpoint = flipB64(t, b.Checkpoint, sigStart)
		}, LinkLogSignature},
		{"cosignature", func(b *Bundle, _ *VerifyOptions) {
			lines := bytes.Split(b.Checkpoint, []byte("\n"))
			last := len(b.Checkpoint) - len(lines[len(lines)-2]) - 1
			b.Checkpoint = flipB64(t, b.Checkpoint, last)
		}, LinkWitnesses},
		{"token", func(b *Bundle, _ *VerifyOptions) { b.TSA[1] = flip(b.TSA[1], 20) }, LinkTSA},
		{"missing token", func(b *Bundle, _ *VerifyOptions) { b.TSA = b.TSA[:1] }, LinkTSA},
		{"proof hash", func(b *Bundle, _ *VerifyOptions) { b.Proof[2] = flip(b.Proof[2], 7) }, LinkInclusion},
		{"index", func(b *Bundle, _ *VerifyOptions) { b.Index = 6 }, LinkInclusion},
		{"wrong log key", func(_ *Bundle, o *VerifyOptions) { o.LogDID = testKey(t, 2).DID() }, LinkLogSignature},
		{"witness policy unmet", func(_ *Bundle, o *VerifyOptions) { o.MinWitnesses = 3 }, LinkWitnesses},
		{"cosignature from the future", func(_ *Bundle, o *VerifyOptions) { o.Now = fixedNow.Add(-time.Hour) }, LinkWitnesses},
		{"newer checkpoint inconsistent", func(_ *Bundle, o *VerifyOptions) {
			o.Newer = newer.Note
			o.Consistency = append([][]byte{}, cons...)
			o.Consistency[0] = flip(o.Consistency[0], 0)
		}, LinkConsistency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := cloneBundle(f.bundle)
			opts := f.opts
			tt.mutate(b, &opts)
			r, err := VerifyBundle(b, opts)
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("VerifyBundle = %v, want a VerifyError", err)
			}
			if ve.Check != tt.link {
				var out strings.Builder
				r.WriteTo(&out)
				t.Fatalf("broken link %q (%v), want %q\n%s", ve.Check, ve.Err, tt.link, out.String())
			}
			if r.OK() {
				t.Fatal("report says OK")
			}
		})
	}
	t.Run("newer checkpoint consistent", func(t *testing.T) {
		opts := f.opts
		opts.Newer, opts.Consistency = newer.Note, cons
		if _, err := VerifyBundle(cloneBundle(f.bundle), opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no TSA verifier is a skip", func(t *testing.T) {
		opts := f.opts
		opts.TSAVerifier = nil
		r, err := VerifyBundle(cloneBundle(f.bundle), opts)
		if err != nil {
			t.Fatal(err)
		}
		if v := r.Verdicts[5]; v.Check != LinkTSA || !v.Skipped {
			t.Fatalf("TSA verdict %+v, want skipped", v)
		}
	})
}

// flipB64 changes the base64 character at i to another valid one.
func flipB64(t *testing.T, b []byte, i int) []byte {
	t.Helper()
	c := bytes.Clone(b)
	for c[i] == '\n' || c[i] == ' ' || c[i] == '=' || c[i] >= 0x80 || c[i] == '-' {
		i++
	}
	if c[i] == 'A' {
		c[i] = 'B'
	} else {
		c[i] = 'A'
	}
	return c
}

func cloneBundle(b *Bundle) *Bundle {
	c := *b
	c.Leaf = bytes.Clone(b.Leaf)
	c.Checkpoint = bytes.Clone(b.Checkpoint)
	c.Proof = nil
	for _, h := range b.Proof {
		c.Proof = append(c.Proof, bytes.Clone(h))
	}
	c.TSA = nil
	for _, t := range b.TSA {
		c.TSA = append(c.TSA, bytes.Clone(t))
	}
	return &c
}

func TestParseBundleRejects(t *testing.T) {
	f := newBundleFixture(t)
	text, _ := f.bundle.Marshal()
	lines := strings.SplitN(string(text), "\n", 4)
	tests := []struct {
		name, text, field string
	}{
		{"header", "c2sp.org/tlog-proof@v2\n" + strings.Join(lines[1:], "\n"), "header"},
		{"no extra", lines[0] + "\n" + strings.Join(lines[2:], "\n"), "extra"},
		{"extra not base64", lines[0] + "\nextra !!\n" + strings.Join(lines[2:], "\n"), "extra"},
		{"index leading zero", strings.Replace(string(text), "index 5", "index 05", 1), "index"},
		{"proof hash", strings.Replace(string(text), lines[3][:44], strings.Repeat("A", 43)+"B", 1), "proof[0]"},
		{"checkpoint", strings.SplitAfter(string(text), "\n\n")[0] + "garbage\n", "checkpoint"},
		{"too large", string(text) + strings.Repeat("x", MaxBundleSize), "bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBundle([]byte(tt.text))
			var be *BundleError
			if !errors.As(err, &be) || be.Field != tt.field {
				t.Fatalf("error %v, want a BundleError on %s", err, tt.field)
			}
		})
	}
	// The digest the tokens cover is SHA-256 of the checkpoint body.
	cp, _ := ParseCheckpointBody(noteText(f.bundle.Checkpoint))
	if cp.Digest() != sha256.Sum256(cp.Body()) {
		t.Fatal("digest")
	}
}
