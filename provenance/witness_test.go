package provenance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/treaty"
)

// witnessFixture is a log (A) and a witness (W) that witnesses A.
type witnessFixture struct {
	log     *Log
	logKey  *treaty.PrivateKey
	w       *Witness
	wv      *CosignatureVerifier
	store   *countingStore
	reg     *prometheus.Registry
	clock   *fakeClock
	checkps map[uint64]Checkpoint
}

// countingStore counts Syncs so tests can see the witness persisted.
type countingStore struct {
	datastoreBatching
	mu    sync.Mutex
	syncs int
}

func (c *countingStore) Sync(ctx context.Context, k dsKey) error {
	c.mu.Lock()
	c.syncs++
	c.mu.Unlock()
	return c.datastoreBatching.Sync(ctx, k)
}

func newWitnessFixture(t *testing.T, opts ...func(*WitnessConfig)) *witnessFixture {
	t.Helper()
	f := &witnessFixture{logKey: testKey(t, 1), clock: newClock(), reg: prometheus.NewRegistry(), checkps: map[uint64]Checkpoint{}}
	f.log = openTestLog(t, memStore(), f.logKey, testOrigin)
	f.store = &countingStore{datastoreBatching: memStore()}
	logV := f.log.Verifier()
	cfg := WitnessConfig{
		Key:   testKey(t, 7),
		Name:  "aurora-witness/12D3KooWWitness",
		Store: f.store,
		Logs: func(origin string) (note.Verifier, bool) {
			if origin == testOrigin {
				return logV, true
			}
			return nil, false
		},
		Clock:      f.clock,
		Registerer: f.reg,
	}
	for _, o := range opts {
		o(&cfg)
	}
	w, err := NewWitness(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.w = w
	f.wv = w.Verifier()
	return f
}

// grow appends leaves up to size and signs a checkpoint there.
func (f *witnessFixture) grow(t *testing.T, size uint64) Checkpoint {
	t.Helper()
	for f.log.Size() < size {
		if _, err := f.log.Append(t.Context(), rawLeaf(int(f.log.Size()))); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := f.log.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.checkps[size] = cp
	return cp
}

func (f *witnessFixture) request(t *testing.T, old uint64, cp Checkpoint) []byte {
	t.Helper()
	p, err := f.log.ConsistencyProof(t.Context(), old, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	return CosignRequest(old, p, cp.Note)
}

func (f *witnessFixture) accept(t *testing.T, body []byte) {
	t.Helper()
	sig, err := f.w.AddCheckpoint(t.Context(), body)
	if err != nil {
		t.Fatalf("AddCheckpoint: %v", err)
	}
	req, _ := ParseAddCheckpoint(body)
	merged, err := MergeCosignatures(req.Checkpoint, sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCosignature(merged, f.wv); err != nil {
		t.Fatalf("returned cosignature does not verify: %v", err)
	}
}

// forkedCheckpoint signs, with the log's own key, a checkpoint of a
// different tree (a fork) of the given size.
func forkedCheckpoint(t *testing.T, key *treaty.PrivateKey, size uint64) (Checkpoint, *Log) {
	t.Helper()
	fork := openTestLog(t, memStore(), key, testOrigin)
	for fork.Size() < size {
		if _, err := fork.Append(t.Context(), []byte(fmt.Sprintf("forged %d", fork.Size()))); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := fork.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cp, fork
}

// TestWitnessMatrix walks the C2SP add-checkpoint rules in spec order:
// each rejection with its status code, then the accept.
func TestWitnessMatrix(t *testing.T) {
	f := newWitnessFixture(t)
	cp10 := f.grow(t, 10)
	f.accept(t, f.request(t, 0, cp10)) // TOFU at 10
	cp20 := f.grow(t, 20)

	otherKey := testKey(t, 3)
	otherSigner, _ := NewLogSigner(testOrigin, otherKey)
	byOther, _ := signCheckpoint(Checkpoint{Origin: testOrigin, Size: 20, Root: cp20.Root}, otherSigner)
	unknownSigner, _ := NewLogSigner("aurora/testfed/unknown", f.logKey)
	unknown, _ := signCheckpoint(Checkpoint{Origin: "aurora/testfed/unknown", Size: 20, Root: cp20.Root}, unknownSigner)
	badSig := bytes.Clone(cp20.Note)
	badSig[len(badSig)-4] ^= 0x01
	proof10to20, _ := f.log.ConsistencyProof(t.Context(), 10, 20)
	badProof := append([][]byte{}, proof10to20...)
	badProof[0] = bytes.Repeat([]byte{0xaa}, 32)
	fork10, _ := forkedCheckpoint(t, f.logKey, 10)

	tests := []struct {
		name       string
		body       []byte
		wantStatus int
		check      func(t *testing.T, err error)
	}{
		{"malformed body", []byte("old 1x\n\n" + string(cp20.Note)), 400, nil},
		{"unknown origin", CosignRequest(10, proof10to20, unknown), 404, func(t *testing.T, err error) {
			if !errors.Is(err, ErrUnknownOrigin) {
				t.Fatal(err)
			}
		}},
		{"not signed by the log", CosignRequest(10, proof10to20, byOther), 403, nil},
		{"bad log signature", CosignRequest(10, proof10to20, badSig), 403, nil},
		{"old larger than size", CosignRequest(21, nil, cp20.Note), 400, func(t *testing.T, err error) {
			if !errors.Is(err, ErrOldSizeTooLarge) {
				t.Fatal(err)
			}
		}},
		{"old not the stored size", f.request(t, 5, cp20), 409, func(t *testing.T, err error) {
			var ce *ConflictError
			if !errors.As(err, &ce) || ce.StoredSize != 10 || string(ce.Body()) != "10\n" {
				t.Fatalf("%v, want a ConflictError with stored size 10", err)
			}
		}},
		{"bad consistency proof", CosignRequest(10, badProof, cp20.Note), 422, func(t *testing.T, err error) {
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatal(err)
			}
		}},
		{"empty proof", CosignRequest(10, nil, cp20.Note), 422, nil},
		{"equal size, different root", CosignRequest(10, nil, fork10.Note), 422, func(t *testing.T, err error) {
			var eq *EquivocationError
			if !errors.As(err, &eq) {
				t.Fatalf("%v, want an EquivocationError", err)
			}
			if _, err := VerifyEvidence(eq.Evidence, f.log.Verifier()); err != nil {
				t.Fatalf("the evidence does not verify: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := f.w.AddCheckpoint(t.Context(), tt.body)
			if err == nil {
				t.Fatalf("accepted, cosignature %q", sig)
			}
			if got := StatusCode(err); got != tt.wantStatus {
				t.Fatalf("status %d (%v), want %d", got, err, tt.wantStatus)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			if got, err := f.w.Latest(t.Context(), testOrigin); err != nil || got.Size != 10 {
				t.Fatalf("a rejected request changed the stored checkpoint: %d, %v", got.Size, err)
			}
		})
	}
	t.Run("accept", func(t *testing.T) {
		syncs := f.store.syncs
		f.accept(t, f.request(t, 10, cp20))
		if got, _ := f.w.Latest(t.Context(), testOrigin); got.Size != 20 {
			t.Fatalf("stored size %d, want 20", got.Size)
		}
		if f.store.syncs == syncs {
			t.Fatal("the witness answered without syncing its state")
		}
		// Equal size, equal root: re-cosigned (fresh timestamp).
		f.clock.Advance(60e9)
		f.accept(t, f.request(t, 20, cp20))
	})
	if got := counterValue(t, f.w.equivs); got != 1 {
		t.Fatalf("aurora_equivocations_total = %v, want 1", got)
	}
	ev, err := f.w.ListEvidence(t.Context(), 0)
	if err != nil || len(ev) != 1 {
		t.Fatalf("ListEvidence = %d, %v", len(ev), err)
	}
}

// TestWitnessSizeZero covers the TOFU rules at size 0.
func TestWitnessSizeZero(t *testing.T) {
	f := newWitnessFixture(t)
	cp0 := f.grow(t, 0)
	f.accept(t, f.request(t, 0, cp0))
	signer, _ := NewLogSigner(testOrigin, f.logKey)
	bogus, _ := signCheckpoint(Checkpoint{Origin: testOrigin, Size: 0, Root: [32]byte{9}}, signer)
	g := newWitnessFixture(t)
	if _, err := g.w.AddCheckpoint(t.Context(), CosignRequest(0, nil, bogus)); StatusCode(err) != 422 {
		t.Fatalf("size 0 with a non-empty root: %v", err)
	}
	cp5 := f.grow(t, 5)
	if _, err := f.w.AddCheckpoint(t.Context(), CosignRequest(0, [][]byte{make([]byte, 32)}, cp5.Note)); StatusCode(err) != 422 {
		t.Fatalf("non-empty proof from 0: %v", err)
	}
	f.accept(t, f.request(t, 0, cp5))
}

// TestWitnessRejectsFork: after cosigning A's real tree at 13, a fork that
// shares no history is rejected, with evidence when the proof the log
// offers reproduces the fork's root.
func TestWitnessRejectsFork(t *testing.T) {
	f := newWitnessFixture(t)
	cp13 := f.grow(t, 13)
	f.accept(t, f.request(t, 0, cp13))
	forkCP, fork := forkedCheckpoint(t, f.logKey, 40)
	honestFromFork, err := fork.ConsistencyProof(t.Context(), 13, 40)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.w.AddCheckpoint(t.Context(), CosignRequest(13, honestFromFork, forkCP.Note))
	var eq *EquivocationError
	if !errors.As(err, &eq) {
		t.Fatalf("fork: %v, want an EquivocationError", err)
	}
	if StatusCode(err) != 422 {
		t.Fatalf("status %d, want 422", StatusCode(err))
	}
	got, err := VerifyEvidence(eq.Evidence, f.log.Verifier())
	if err != nil || got.SizeA != 13 || got.SizeB != 40 {
		t.Fatalf("VerifyEvidence = %+v, %v", got, err)
	}
	if cp, _ := f.w.Latest(t.Context(), testOrigin); cp.Size != 13 {
		t.Fatalf("the fork moved the witness to %d", cp.Size)
	}
	// The real continuation is still accepted.
	cp40 := f.grow(t, 40)
	f.accept(t, f.request(t, 13, cp40))
}

// TestWitnessConcurrent races many submissions for one origin: stored
// sizes only grow, every accepted request started from the size stored
// when it was checked, and the final state is the largest size accepted.
func TestWitnessConcurrent(t *testing.T) {
	f := newWitnessFixture(t)
	var cps []Checkpoint
	for _, s := range []uint64{3, 8, 9, 17, 30, 31, 64, 65, 100} {
		cps = append(cps, f.grow(t, s))
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted []uint64
	)
	for round := 0; round < 4; round++ {
		for _, cp := range cps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				old := uint64(0)
				for range 20 {
					body := CosignRequest(old, mustProof(t, f.log, old, cp.Size), cp.Note)
					_, err := f.w.AddCheckpoint(context.Background(), body)
					var ce *ConflictError
					switch {
					case err == nil:
						mu.Lock()
						accepted = append(accepted, cp.Size)
						mu.Unlock()
						return
					case errors.As(err, &ce) && ce.StoredSize <= cp.Size:
						old = ce.StoredSize
					case errors.As(err, &ce) || errors.Is(err, ErrOldSizeTooLarge):
						return // the witness is already past this checkpoint
					default:
						t.Errorf("size %d: %v", cp.Size, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	latest, err := f.w.Latest(t.Context(), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	maxAccepted := uint64(0)
	for _, s := range accepted {
		maxAccepted = max(maxAccepted, s)
	}
	if latest.Size != maxAccepted || latest.Size != 100 {
		t.Fatalf("stored size %d, largest accepted %d, want 100", latest.Size, maxAccepted)
	}
}

func mustProof(t testing.TB, l *Log, from, to uint64) [][]byte {
	if from > to {
		return nil
	}
	p, err := l.ConsistencyProof(context.Background(), from, to)
	if err != nil {
		t.Error(err)
	}
	return p
}

func TestParseAddCheckpoint(t *testing.T) {
	f := newWitnessFixture(t)
	cp := f.grow(t, 12)
	good := f.request(t, 5, cp)
	req, err := ParseAddCheckpoint(good)
	if err != nil || req.Old != 5 || len(req.Proof) == 0 || !bytes.Equal(req.Checkpoint, cp.Note) {
		t.Fatalf("ParseAddCheckpoint = %+v, %v", req, err)
	}
	if !bytes.Equal(CosignRequest(req.Old, req.Proof, req.Checkpoint), good) {
		t.Fatal("round trip differs")
	}
	tests := []struct {
		name, body, field string
	}{
		{"no old", "\n\n" + string(cp.Note), "old"},
		{"leading zero", "old 05\n\n" + string(cp.Note), "old"},
		{"bad hash", "old 5\nAAAA\n\n" + string(cp.Note), "proof[0]"},
		{"no blank line", "old 5\n", "body"},
		{"bad note", "old 5\n\nnot a note", "checkpoint"},
		{"too many proof lines", "old 5\n" + string(bytes.Repeat([]byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), MaxProofHashes+1)) + "\n" + string(cp.Note), "proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAddCheckpoint([]byte(tt.body))
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("error %v, want a RequestError on %s", err, tt.field)
			}
		})
	}
	if n, err := ParseConflictBody([]byte("42\n")); err != nil || n != 42 {
		t.Fatalf("ParseConflictBody = %d, %v", n, err)
	}
}

func TestRecordEvidence(t *testing.T) {
	f := newWitnessFixture(t)
	cp8 := f.grow(t, 8)
	fork8, _ := forkedCheckpoint(t, f.logKey, 8)
	ev := Evidence{Origin: testOrigin, A: cp8.Note, B: fork8.Note}
	enc, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := ParseEvidence(enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.RecordEvidence(t.Context(), dec); err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.RecordEvidence(t.Context(), dec); err != nil { // duplicate: counted once
		t.Fatal(err)
	}
	if got := counterValue(t, f.w.equivs); got != 1 {
		t.Fatalf("equivocations %v, want 1", got)
	}
	same := Evidence{Origin: testOrigin, A: cp8.Note, B: cp8.Note}
	if _, err := f.w.RecordEvidence(t.Context(), same); !errors.Is(err, ErrNotEquivocation) {
		t.Fatalf("non-conflicting evidence: %v", err)
	}
}

// TestWitnessEvidenceBound: the witness keeps equivocation evidence up to
// MaxEvidencePerOrigin records about one log and MaxEvidence in all; the
// next distinct record is refused (the equivocation is still answered 422)
// and counted, what is kept stays, a duplicate is no refusal, and a witness
// reopened on the same store counts what it holds.
func TestWitnessEvidenceBound(t *testing.T) {
	for _, c := range []struct {
		name           string
		max, perOrigin int
		wantKept       int
	}{
		{"per log", 8, 2, 2},
		{"in all", 3, 8, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			bounds := func(cfg *WitnessConfig) { cfg.MaxEvidence, cfg.MaxEvidencePerOrigin = c.max, c.perOrigin }
			f := newWitnessFixture(t, bounds)
			cp := f.grow(t, 10)
			f.accept(t, f.request(t, 0, cp))
			signer, err := NewLogSigner(testOrigin, f.logKey)
			if err != nil {
				t.Fatal(err)
			}
			fork := func(i byte) []byte {
				b, err := signCheckpoint(Checkpoint{Origin: testOrigin, Size: 10, Root: [32]byte{i}}, signer)
				if err != nil {
					t.Fatal(err)
				}
				return CosignRequest(10, nil, b)
			}
			equivocate := func(w *Witness, i byte) {
				t.Helper()
				var eq *EquivocationError
				if _, err := w.AddCheckpoint(t.Context(), fork(i)); !errors.As(err, &eq) || StatusCode(err) != 422 {
					t.Fatalf("fork %d: %v, want a 422 EquivocationError", i, err)
				}
			}
			kept := func(w *Witness) int {
				t.Helper()
				ev, err := w.ListEvidence(t.Context(), 0)
				if err != nil {
					t.Fatal(err)
				}
				return len(ev)
			}
			for i := range c.wantKept {
				equivocate(f.w, byte(i+1))
			}
			if n := kept(f.w); n != c.wantKept || f.w.EvidenceRefused() != 0 {
				t.Fatalf("at the bound: %d records kept, %d refused; want %d, 0", n, f.w.EvidenceRefused(), c.wantKept)
			}
			equivocate(f.w, 1) // a duplicate
			equivocate(f.w, 100)
			if n := kept(f.w); n != c.wantKept || f.w.EvidenceRefused() != 1 {
				t.Fatalf("one beyond: %d records kept, %d refused; want %d, 1", n, f.w.EvidenceRefused(), c.wantKept)
			}
			if got := counterValue(t, f.w.equivs); got != float64(c.wantKept) {
				t.Errorf("aurora_equivocations_total = %v, want %d (refused evidence is not counted)", got, c.wantKept)
			}
			// Reopened on the same store: full already.
			g, err := NewWitness(WitnessConfig{Key: testKey(t, 7), Store: f.store, Logs: f.w.cfg.Logs, MaxEvidence: c.max, MaxEvidencePerOrigin: c.perOrigin})
			if err != nil {
				t.Fatal(err)
			}
			equivocate(g, 101)
			if n := kept(g); n != c.wantKept || g.EvidenceRefused() != 1 {
				t.Fatalf("reopened: %d records kept, %d refused; want %d, 1", n, g.EvidenceRefused(), c.wantKept)
			}
		})
	}
	if _, err := NewWitness(WitnessConfig{Key: testKey(t, 7), Store: memStore(), Logs: func(string) (note.Verifier, bool) { return nil, false }, MaxEvidence: -1}); err == nil {
		t.Error("a negative MaxEvidence was accepted")
	}
}
