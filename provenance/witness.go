package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/treaty"
)

// AddCheckpointRequest is a C2SP tlog-witness add-checkpoint request body:
// the size the client believes the witness stored, a consistency proof from
// it, and the signed checkpoint.
type AddCheckpointRequest struct {
	Old        uint64
	Proof      [][]byte
	Checkpoint []byte // signed note
}

// CosignRequest builds an add-checkpoint body: "old <size>\n", one base64
// line per proof hash, a blank line, then the signed checkpoint note.
func CosignRequest(old uint64, proof [][]byte, signedNote []byte) []byte {
	var b bytes.Buffer
	b.Grow(16 + len(proof)*45 + 1 + len(signedNote))
	b.WriteString("old ")
	b.WriteString(strconv.FormatUint(old, 10))
	b.WriteByte('\n')
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signedNote)
	return b.Bytes()
}

// RequestError reports a malformed add-checkpoint request, naming the
// field (HTTP 400 in C2SP terms).
type RequestError struct {
	Field string // "body", "old", "proof[3]", "checkpoint"
	Rule  string
}

func (e *RequestError) Error() string {
	return "provenance: add-checkpoint: " + e.Field + ": " + e.Rule
}

// ParseAddCheckpoint parses an add-checkpoint body strictly: at most
// MaxAddCheckpointSize bytes, "old N" without leading zeros, at most
// MaxProofHashes canonical base64 SHA-256 lines, a blank line, and a signed
// note (parsed, not verified).
func ParseAddCheckpoint(body []byte) (AddCheckpointRequest, error) {
	var r AddCheckpointRequest
	if len(body) > MaxAddCheckpointSize {
		return r, &RequestError{Field: "body", Rule: fmt.Sprintf("%d bytes, limit %d", len(body), MaxAddCheckpointSize)}
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return r, &RequestError{Field: "old", Rule: "missing"}
	}
	sz, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return r, &RequestError{Field: "old", Rule: "first line must be \"old <size>\""}
	}
	old, err := parseDecimal(string(sz))
	if err != nil {
		return r, &RequestError{Field: "old", Rule: err.Error()}
	}
	r.Old = old
	for i := 0; ; i++ {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return r, &RequestError{Field: "body", Rule: "no blank line before the checkpoint"}
		}
		if len(line) == 0 {
			break
		}
		if i >= MaxProofHashes {
			return r, &RequestError{Field: "proof", Rule: fmt.Sprintf("more than %d lines", MaxProofHashes)}
		}
		h, err := decodeHash(string(line))
		if err != nil {
			return r, &RequestError{Field: fmt.Sprintf("proof[%d]", i), Rule: err.Error()}
		}
		r.Proof = append(r.Proof, h[:])
	}
	if _, err := parseNote(rest); err != nil {
		return r, &RequestError{Field: "checkpoint", Rule: err.Error()}
	}
	r.Checkpoint = rest
	return r, nil
}

// Witness errors. StatusCode maps them to the C2SP HTTP status codes.
var (
	// ErrUnknownOrigin: the witness does not witness this log (404).
	ErrUnknownOrigin = errors.New("provenance: witness: unknown log origin")
	// ErrNoValidSignature: no valid signature by the log's key, or a bad
	// signature by it (403).
	ErrNoValidSignature = errors.New("provenance: witness: no valid log signature")
	// ErrOldSizeTooLarge: old size larger than the checkpoint's size (400).
	ErrOldSizeTooLarge = errors.New("provenance: witness: old size larger than checkpoint size")
	// ErrInvalidProof: the consistency proof does not verify against the
	// stored checkpoint (422).
	ErrInvalidProof = errors.New("provenance: witness: invalid consistency proof")
)

// ConflictError reports an add-checkpoint whose old size is not the size
// the witness stored (409): the client should retry from StoredSize.
type ConflictError struct {
	Origin     string
	Old        uint64
	StoredSize uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("provenance: witness: old size %d, but the latest cosigned checkpoint of %q has size %d", e.Old, truncate(e.Origin), e.StoredSize)
}

// Body returns the C2SP 409 response body: the stored size and a newline
// (Content-Type text/x.tlog.size).
func (e *ConflictError) Body() []byte { return []byte(strconv.FormatUint(e.StoredSize, 10) + "\n") }

// ParseConflictBody parses a 409 response body ("<size>\n").
func ParseConflictBody(b []byte) (uint64, error) {
	if len(b) > 24 || len(b) == 0 || b[len(b)-1] != '\n' {
		return 0, &RequestError{Field: "size", Rule: "want a decimal size and a newline"}
	}
	n, err := parseDecimal(string(b[:len(b)-1]))
	if err != nil {
		return 0, &RequestError{Field: "size", Rule: err.Error()}
	}
	return n, nil
}

// StatusCode maps an AddCheckpoint error to the HTTP status code C2SP
// tlog-witness specifies (200 for nil, 500 for anything unexpected), so a
// transport can report it without interpreting errors itself.
func StatusCode(err error) int {
	var (
		reqErr  *RequestError
		noteErr *NoteError
		cpErr   *CheckpointError
		conflct *ConflictError
		equiv   *EquivocationError
	)
	switch {
	case err == nil:
		return 200
	case errors.As(err, &equiv):
		// C2SP: equal sizes with different roots, like a proof that shows
		// the log rewrote history, is 422 (409 is only a stale old size).
		return 422
	case errors.As(err, &conflct):
		return 409
	case errors.Is(err, ErrUnknownOrigin):
		return 404
	case errors.Is(err, ErrNoValidSignature):
		return 403
	case errors.Is(err, ErrInvalidProof):
		return 422
	case errors.Is(err, ErrOldSizeTooLarge), errors.As(err, &reqErr), errors.As(err, &noteErr), errors.As(err, &cpErr):
		return 400
	default:
		return 500
	}
}

// WitnessConfig configures NewWitness.
type WitnessConfig struct {
	// Key is the witness's own signing key. Required.
	Key *treaty.PrivateKey
	// Name is the witness's key name in cosignatures. Default
	// "aurora-witness/" + Key's DID; the node passes
	// "aurora-witness/<peer ID>".
	Name string
	// Store holds the witness state (latest checkpoint per origin, under
	// /witness/) and evidence (under /evidence/). Required.
	Store datastore.Batching
	// Logs returns the verifier of the log with the given origin, and
	// whether this node witnesses it (its treaty peers). Required: a witness
	// without it would cosign for anyone.
	Logs func(origin string) (note.Verifier, bool)
	// Clock timestamps cosignatures; nil means the system clock.
	Clock Clock
	// Logger receives the witness's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives aurora_equivocations_total; nil registers nothing.
	Registerer prometheus.Registerer
	// MaxEvidence bounds the evidence records kept (each at most
	// MaxEvidenceSize bytes), and MaxEvidencePerOrigin those about one log:
	// one record proves an equivocation, a few show its extent. Evidence
	// beyond either bound is refused and counted (EvidenceRefused), never
	// evicting what is kept: an offender cannot push out the proof of its
	// own equivocation. Defaults DefaultMaxEvidence and
	// DefaultMaxEvidencePerOrigin.
	MaxEvidence, MaxEvidencePerOrigin int
}

// Defaults of WitnessConfig's evidence bounds: at most 1,024 records of
// MaxEvidenceSize bytes.
const (
	DefaultMaxEvidence          = 1024
	DefaultMaxEvidencePerOrigin = 4
)

// ErrEvidenceFull is wrapped by the error of evidence refused because the
// witness holds as much as its bounds allow.
var ErrEvidenceFull = errors.New("provenance: witness evidence store full")

// Witness implements the C2SP tlog-witness add-checkpoint logic over a
// datastore: it cosigns a checkpoint only if it is consistent with the
// latest one it stored for that origin, updating that state atomically per
// origin before answering. The transport (a libp2p stream in mesh) calls
// AddCheckpoint. A Witness is safe for concurrent use; one Witness must own
// its Store.
type Witness struct {
	cfg      WitnessConfig
	signer   note.Signer
	verifier *CosignatureVerifier
	equivs   prometheus.Counter

	locks [64]sync.Mutex // per-origin stripes: sha256(origin)[0] % 64

	evMu      sync.Mutex // protects following; held while storing evidence
	evLoaded  bool       // the counts below were read from the store
	evCount   int
	evOrigins map[string]int
	evRefused atomic.Uint64
}

// NewWitness validates cfg and returns a Witness.
func NewWitness(cfg WitnessConfig) (*Witness, error) {
	if cfg.Key == nil {
		return nil, errors.New("provenance: witness config: Key is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("provenance: witness config: Store is required")
	}
	if cfg.Logs == nil {
		return nil, errors.New("provenance: witness config: Logs is required")
	}
	if cfg.Name == "" {
		cfg.Name = "aurora-witness/" + cfg.Key.DID().String()
	}
	switch {
	case cfg.MaxEvidence < 0 || cfg.MaxEvidencePerOrigin < 0:
		return nil, errors.New("provenance: witness config: negative MaxEvidence or MaxEvidencePerOrigin")
	case cfg.MaxEvidence == 0:
		cfg.MaxEvidence = DefaultMaxEvidence
	}
	if cfg.MaxEvidencePerOrigin == 0 {
		cfg.MaxEvidencePerOrigin = DefaultMaxEvidencePerOrigin
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	signer, err := NewCosigner(cfg.Name, cfg.Key, cfg.Clock)
	if err != nil {
		return nil, err
	}
	v, err := WitnessVerifier(cfg.Name, cfg.Key.DID())
	if err != nil {
		return nil, err
	}
	w := &Witness{cfg: cfg, signer: signer, verifier: v}
	w.equivs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aurora_equivocations_total",
		Help: "Equivocations (conflicting signed checkpoints of one log) detected or received as verified evidence.",
	})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(w.equivs); err != nil {
			return nil, fmt.Errorf("provenance: witness metrics: %w", err)
		}
	}
	return w, nil
}

// Name returns the witness's key name.
func (w *Witness) Name() string { return w.cfg.Name }

// Verifier returns the verifier of this witness's cosignatures.
func (w *Witness) Verifier() *CosignatureVerifier { return w.verifier }

func witnessKey(origin string) datastore.Key {
	sum := sha256.Sum256([]byte(origin))
	return datastore.RawKey("/witness/" + hex.EncodeToString(sum[:]))
}

// AddCheckpoint handles a C2SP add-checkpoint request body and returns the
// response body: this witness's cosignature line. It checks, in the spec's
// order: the body parses (*RequestError, 400); the origin is witnessed
// (ErrUnknownOrigin, 404); the log's signature verifies (ErrNoValidSignature,
// 403); old ≤ size (ErrOldSizeTooLarge, 400); old equals the stored size
// (*ConflictError with the stored size, 409); the consistency proof verifies
// against the STORED root (ErrInvalidProof, 422; *EquivocationError when the
// proof shows the log rewrote history); an equal size has an equal root
// (*EquivocationError, 422). It then stores the checkpoint, syncs, and only
// then cosigns. Equivocations are also kept as evidence.
func (w *Witness) AddCheckpoint(ctx context.Context, body []byte) ([]byte, error) {
	req, err := ParseAddCheckpoint(body)
	if err != nil {
		return nil, err
	}
	n, _ := parseNote(req.Checkpoint) // parsed by ParseAddCheckpoint
	cp, err := ParseCheckpointBody(n.Text)
	if err != nil {
		return nil, &RequestError{Field: "checkpoint", Rule: err.Error()}
	}
	logV, ok := w.cfg.Logs(cp.Origin)
	if !ok || logV == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownOrigin, truncate(cp.Origin))
	}
	valid, err := verifyNoteSigs(n, logV)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoValidSignature, err)
	}
	if len(valid) == 0 {
		return nil, fmt.Errorf("%w: none by %s+%08x", ErrNoValidSignature, logV.Name(), logV.KeyHash())
	}
	cp.Note = req.Checkpoint
	if req.Old > cp.Size {
		return nil, fmt.Errorf("%w: old %d, checkpoint %d", ErrOldSizeTooLarge, req.Old, cp.Size)
	}

	mu := &w.locks[sha256.Sum256([]byte(cp.Origin))[0]%uint8(len(w.locks))]
	mu.Lock()
	defer mu.Unlock()

	stored, have, err := w.latest(ctx, cp.Origin, logV)
	if err != nil {
		return nil, err
	}
	if req.Old != stored.Size {
		return nil, &ConflictError{Origin: cp.Origin, Old: req.Old, StoredSize: stored.Size}
	}
	switch {
	case stored.Size == 0:
		// Trust on first use; C2SP: the proof from size 0 must be empty.
		if len(req.Proof) != 0 {
			return nil, fmt.Errorf("%w: proof from size 0 must be empty", ErrInvalidProof)
		}
		if cp.Size == 0 && cp.Root != emptyRoot() {
			return nil, fmt.Errorf("%w: size 0 with a root other than the empty-tree hash", ErrInvalidProof)
		}
	case stored.Size == cp.Size:
		if len(req.Proof) != 0 {
			return nil, fmt.Errorf("%w: proof between equal sizes must be empty", ErrInvalidProof)
		}
		if cp.Root != stored.Root {
			return nil, w.equivocation(ctx, &EquivocationError{Evidence: Evidence{Origin: cp.Origin, A: stored.Note, B: cp.Note}, SizeA: stored.Size, SizeB: cp.Size})
		}
	default:
		if err := VerifyConsistency(stored.Size, cp.Size, req.Proof, stored.Root, cp.Root); err != nil {
			if full, ok := provesInconsistent(stored, cp, req.Proof); ok && have {
				return nil, w.equivocation(ctx, &EquivocationError{Evidence: Evidence{Origin: cp.Origin, A: stored.Note, B: cp.Note, Proof: full}, SizeA: stored.Size, SizeB: cp.Size})
			}
			return nil, fmt.Errorf("%w: %v", ErrInvalidProof, err)
		}
	}

	key := witnessKey(cp.Origin)
	if err := w.cfg.Store.Put(ctx, key, cp.Note); err != nil {
		return nil, fmt.Errorf("provenance: witness: store checkpoint: %w", err)
	}
	if err := w.cfg.Store.Sync(ctx, key); err != nil {
		return nil, fmt.Errorf("provenance: witness: sync: %w", err)
	}
	sig, err := w.signer.Sign(n.Text)
	if err != nil {
		return nil, err
	}
	w.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "provenance: cosigned",
		slog.String("origin", cp.Origin), slog.Uint64("size", cp.Size), slog.Uint64("old", stored.Size))
	line := NoteSignature{Name: w.cfg.Name, KeyHash: w.signer.KeyHash(), Sig: sig}.Line()
	return []byte(line), nil
}

// latest returns the stored checkpoint for origin (size 0 and the empty
// root when there is none, with have = false).
func (w *Witness) latest(ctx context.Context, origin string, logV note.Verifier) (Checkpoint, bool, error) {
	v, ok, err := get(ctx, w.cfg.Store, witnessKey(origin))
	if err != nil {
		return Checkpoint{}, false, err
	}
	if !ok {
		return Checkpoint{Origin: origin, Root: emptyRoot()}, false, nil
	}
	cp, err := OpenCheckpoint(v, origin, logV)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("provenance: witness: stored checkpoint of %q: %w", truncate(origin), err)
	}
	return cp, true, nil
}

// Latest returns the latest checkpoint this witness cosigned for origin
// (C2SP monitoring), or ErrNotFound.
func (w *Witness) Latest(ctx context.Context, origin string) (Checkpoint, error) {
	logV, ok := w.cfg.Logs(origin)
	if !ok {
		return Checkpoint{}, fmt.Errorf("%w: %q", ErrUnknownOrigin, truncate(origin))
	}
	cp, have, err := w.latest(ctx, origin, logV)
	if err != nil {
		return Checkpoint{}, err
	}
	if !have {
		return Checkpoint{}, fmt.Errorf("%w: no checkpoint of %q", ErrNotFound, truncate(origin))
	}
	return cp, nil
}

// equivocation stores the evidence, counts it, logs it and returns e.
func (w *Witness) equivocation(ctx context.Context, e *EquivocationError) error {
	if err := w.storeEvidence(ctx, e.Evidence); err != nil {
		level := slog.LevelError
		if errors.Is(err, ErrEvidenceFull) {
			level = slog.LevelWarn
		}
		w.cfg.Logger.LogAttrs(ctx, level, "provenance: equivocation evidence not stored",
			slog.String("origin", e.Evidence.Origin), slog.Any("error", err))
	}
	w.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provenance: log equivocated",
		slog.String("origin", e.Evidence.Origin), slog.Uint64("size_a", e.SizeA), slog.Uint64("size_b", e.SizeB))
	return e
}

// storeEvidence keeps ev under /evidence/<sha256 of its encoding>, counting
// it once, within the evidence bounds (beyond them it wraps
// ErrEvidenceFull).
func (w *Witness) storeEvidence(ctx context.Context, ev Evidence) error {
	b, err := ev.Marshal()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	key := datastore.RawKey("/evidence/" + hex.EncodeToString(sum[:]))
	w.evMu.Lock()
	defer w.evMu.Unlock()
	if err := w.loadEvidenceCountsLocked(ctx); err != nil {
		return err
	}
	had, err := w.cfg.Store.Has(ctx, key)
	if err != nil {
		return err
	}
	if had {
		return nil
	}
	switch {
	case w.evCount >= w.cfg.MaxEvidence:
		w.evRefused.Add(1)
		return fmt.Errorf("%w: %d records, limit %d", ErrEvidenceFull, w.evCount, w.cfg.MaxEvidence)
	case w.evOrigins[ev.Origin] >= w.cfg.MaxEvidencePerOrigin:
		w.evRefused.Add(1)
		return fmt.Errorf("%w: %d records about %q, limit %d", ErrEvidenceFull, w.evOrigins[ev.Origin], truncate(ev.Origin), w.cfg.MaxEvidencePerOrigin)
	}
	if err := w.cfg.Store.Put(ctx, key, b); err != nil {
		return err
	}
	w.evCount++
	w.evOrigins[ev.Origin]++
	w.equivs.Inc()
	return w.cfg.Store.Sync(ctx, key)
}

// loadEvidenceCountsLocked counts the stored evidence, once.
func (w *Witness) loadEvidenceCountsLocked(ctx context.Context) error {
	if w.evLoaded {
		return nil
	}
	evs, err := w.ListEvidence(ctx, 0)
	if err != nil {
		return err
	}
	w.evCount, w.evOrigins = len(evs), map[string]int{}
	for _, ev := range evs {
		w.evOrigins[ev.Origin]++
	}
	w.evLoaded = true
	return nil
}

// EvidenceRefused returns how many evidence records this witness refused
// to keep because its bounds were reached.
func (w *Witness) EvidenceRefused() uint64 { return w.evRefused.Load() }

// RecordEvidence verifies evidence received from a peer (gossip) against
// the log's key and keeps it. It returns the equivocation it proves, or an
// error wrapping ErrNotEquivocation (the sender is at fault) or
// ErrUnknownOrigin (this node cannot judge).
func (w *Witness) RecordEvidence(ctx context.Context, ev Evidence) (*EquivocationError, error) {
	logV, ok := w.cfg.Logs(ev.Origin)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownOrigin, truncate(ev.Origin))
	}
	eq, err := VerifyEvidence(ev, logV)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotEquivocation, err)
	}
	if err := w.storeEvidence(ctx, ev); err != nil {
		return nil, fmt.Errorf("provenance: store evidence: %w", err)
	}
	return eq, nil
}

// ListEvidence returns the evidence this witness holds, at most limit
// records (limit ≤ 0: all).
func (w *Witness) ListEvidence(ctx context.Context, limit int) ([]Evidence, error) {
	res, err := w.cfg.Store.Query(ctx, query.Query{Prefix: "/evidence", Limit: limit})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	_ = res.Close()
	if err != nil {
		return nil, err
	}
	out := make([]Evidence, 0, len(entries))
	for _, r := range entries {
		ev, err := ParseEvidence(r.Value)
		if err != nil {
			return nil, fmt.Errorf("provenance: stored evidence %s: %w", r.Key, err)
		}
		out = append(out, ev)
	}
	return out, nil
}
