package mesh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// Sources of an Equivocation: how this node learned of it.
const (
	// SourceGossip: a peer's evidence, received on the evidence topic or
	// by sync.
	SourceGossip = "gossip"
	// SourceAnchor: two anchors of one log at one size with different
	// roots (the mesh compares every anchor with the one it keeps), or an
	// anchor that contradicts what this node's witness cosigned (the node
	// checks, and publishes with this source).
	SourceAnchor = "anchor"
	// SourceWitness: this node's witness was asked to cosign a checkpoint
	// that conflicts with the one it stored (the node publishes with this
	// source).
	SourceWitness = "witness"
)

// Evidence bounds. Evidence is self-verifying and public: any node may
// store evidence about any log of the federation, but a stranger's logs
// (whose operator has no active treaty with us) get a bounded share, so
// fresh keys that incriminate themselves cannot crowd out evidence about
// partners.
const (
	// MaxEvidence bounds the evidence records kept.
	MaxEvidence = 1024
	// MaxEvidencePerLog bounds the records kept about one log: one proves
	// the equivocation, a few show its extent.
	MaxEvidencePerLog = 4
	// MaxStrangerEvidence bounds the records about strangers' logs.
	MaxStrangerEvidence = 256
)

// keyEvidence + hex(SHA-256(evidence)) holds a storedEvidence.
const keyEvidence = "/evidence/"

// Equivocation is verified evidence that the operator of a log of this
// federation signed two checkpoints that cannot both be honest, as the mesh
// keeps it. It is immutable once stored.
type Equivocation struct {
	// ID is the CID of the evidence's dag-cbor (docs/PROVENANCE.md §6).
	ID       cid.Cid
	Evidence provenance.Evidence
	// Offender is the DID whose log key signed both checkpoints: the
	// operator named by the origin aurora/<federation>/<peer ID>.
	Offender treaty.DID
	// SizeA ≤ SizeB are the two checkpoints' tree sizes.
	SizeA, SizeB uint64
	// Source is how this node learned of it (SourceGossip, SourceAnchor,
	// SourceWitness).
	Source string
	// From is the peer that relayed it, "" when this node found it.
	From treaty.DID
	// At is when this node stored it.
	At time.Time

	raw      []byte
	stranger bool
}

// storedEvidence is an Equivocation in the datastore.
type storedEvidence struct {
	V        int64  `cbor:"v"`
	Evidence []byte `cbor:"evidence"`
	Offender string `cbor:"offender"`
	SizeA    uint64 `cbor:"size_a"`
	SizeB    uint64 `cbor:"size_b"`
	Source   string `cbor:"source"`
	From     string `cbor:"from"`
	At       int64  `cbor:"at"` // unix nanoseconds
	Stranger bool   `cbor:"stranger"`
}

// EquivocationHandler is told of evidence the mesh stored that it learned
// by itself: from a peer (gossip, sync) or from two conflicting anchors.
// It is called once per record, never with a lock held, and must not block
// for long (it runs on the topic reader or a sync round).
type EquivocationHandler func(e *Equivocation)

// evidenceStore keeps verified evidence, bounded, for the API and sync.
type evidenceStore struct {
	ds  datastore.Batching
	log *slog.Logger

	mu        sync.Mutex // protects following
	byID      map[cid.Cid]*Equivocation
	perLog    map[string]int
	strangers int
}

func newEvidenceStore(ds datastore.Batching, log *slog.Logger) *evidenceStore {
	return &evidenceStore{ds: ds, log: log, byID: map[cid.Cid]*Equivocation{}, perLog: map[string]int{}}
}

func evidenceKey(raw []byte) datastore.Key {
	sum := sha256.Sum256(raw)
	return datastore.NewKey(keyEvidence + hex.EncodeToString(sum[:]))
}

func (s *evidenceStore) has(id cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byID[id]
	return ok
}

// room says whether a new record about origin would fit.
func (s *evidenceStore) roomLocked(origin string, stranger bool) error {
	switch {
	case s.perLog[origin] >= MaxEvidencePerLog:
		return fmt.Errorf("%w: holding %d records of %s's equivocation already", ErrIgnore, MaxEvidencePerLog, origin)
	case len(s.byID) >= MaxEvidence:
		return fmt.Errorf("%w: holding %d evidence records already", ErrIgnore, MaxEvidence)
	case stranger && s.strangers >= MaxStrangerEvidence:
		return &evidenceBoundError{}
	}
	return nil
}

// evidenceBoundError is the strangers' evidence share being full: a
// cannot-judge condition that is counted.
type evidenceBoundError struct{}

func (*evidenceBoundError) Error() string {
	return fmt.Sprintf("mesh: holding %d evidence records about strangers' logs already", MaxStrangerEvidence)
}

func (*evidenceBoundError) Is(target error) bool { return target == ErrIgnore }

// put keeps e unless it is known or out of room: the error wraps ErrIgnore
// then.
func (s *evidenceStore) put(ctx context.Context, e *Equivocation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[e.ID]; ok {
		return fmt.Errorf("%w: evidence %s is kept already", ErrIgnore, e.ID)
	}
	if err := s.roomLocked(e.Evidence.Origin, e.stranger); err != nil {
		return err
	}
	b, err := encodeFrame(&storedEvidence{V: frameVersion, Evidence: e.raw, Offender: string(e.Offender), SizeA: e.SizeA, SizeB: e.SizeB,
		Source: e.Source, From: string(e.From), At: e.At.UnixNano(), Stranger: e.stranger})
	if err != nil {
		return err
	}
	key := evidenceKey(e.raw)
	if err := s.ds.Put(ctx, key, b); err != nil {
		return fmt.Errorf("mesh: store evidence: %w", err)
	}
	if err := s.ds.Sync(ctx, key); err != nil {
		return fmt.Errorf("mesh: store evidence: %w", err)
	}
	s.addLocked(e)
	return nil
}

func (s *evidenceStore) addLocked(e *Equivocation) {
	s.byID[e.ID] = e
	s.perLog[e.Evidence.Origin]++
	if e.stranger {
		s.strangers++
	}
}

// list returns the records, oldest first (then by ID).
func (s *evidenceStore) list() []*Equivocation {
	s.mu.Lock()
	out := make([]*Equivocation, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, e)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *Equivocation) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return bytes.Compare(a.ID.Bytes(), b.ID.Bytes())
	})
	return out
}

func (s *evidenceStore) ids() []treaty.Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]treaty.Link, 0, len(s.byID))
	for id := range s.byID {
		out = append(out, treaty.LinkTo(id))
	}
	return out
}

func (s *evidenceStore) record(id cid.Cid) (*envelope, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	return &envelope{Evidence: e.raw}, true
}

func (s *evidenceStore) load(ctx context.Context) error {
	kvs, err := queryAll(ctx, s.ds, keyEvidence)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kv := range kvs {
		var st storedEvidence
		if err := decodeFrame("stored evidence", kv.Value, &st); err != nil {
			s.log.Warn("stored evidence does not decode; skipped", "key", kv.Key, "err", err)
			continue
		}
		ev, err := provenance.ParseEvidence(st.Evidence)
		if err != nil {
			s.log.Warn("stored evidence does not parse; skipped", "key", kv.Key, "err", err)
			continue
		}
		e := &Equivocation{ID: treaty.CIDOf(st.Evidence), Evidence: ev, Offender: treaty.DID(st.Offender), SizeA: st.SizeA, SizeB: st.SizeB,
			Source: st.Source, From: treaty.DID(st.From), At: time.Unix(0, st.At), raw: st.Evidence, stranger: st.Stranger}
		if _, ok := s.byID[e.ID]; !ok {
			s.addLocked(e)
		}
	}
	return nil
}

// judgeEvidence decodes, verifies and keeps a piece of evidence relayed by
// from (this node itself for PublishEvidence). Malformed evidence, and
// evidence that does not prove what it claims, is the sender's fault
// (anyone can check it with the origin's key); evidence about a log that
// is not this federation's, a duplicate, or evidence beyond the bounds is
// ignored.
func (m *Mesh) judgeEvidence(ctx context.Context, from peer.ID, raw []byte, source string) (*Equivocation, error) {
	ev, err := provenance.ParseEvidence(raw)
	if err != nil {
		return nil, err
	}
	owner, ok := m.originOwner(ev.Origin)
	if !ok {
		return nil, fmt.Errorf("%w: %.64q is not a log of federation %s", ErrIgnore, ev.Origin, m.cfg.Federation)
	}
	offender, err := DIDOf(owner)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIgnore, err)
	}
	if m.book.members != nil && !m.book.members[offender] {
		return nil, fmt.Errorf("%w: %s is not a federation member", ErrIgnore, offender.Short())
	}
	id := treaty.CIDOf(raw)
	if m.evidence.has(id) {
		return nil, fmt.Errorf("%w: evidence %s is kept already", ErrIgnore, id)
	}
	v, err := provenance.LogVerifier(ev.Origin, offender)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIgnore, err)
	}
	eq, err := provenance.VerifyEvidence(ev, v)
	if err != nil {
		return nil, err
	}
	e := &Equivocation{ID: id, Evidence: ev, Offender: offender, SizeA: eq.SizeA, SizeB: eq.SizeB, Source: source,
		At: m.cfg.Clock(), raw: raw, stranger: owner != m.id && !m.isPartner(owner)}
	if from != m.id {
		if e.From, err = DIDOf(from); err != nil {
			return nil, err
		}
	}
	var bound *evidenceBoundError
	switch err := m.evidence.put(ctx, e); {
	case errors.As(err, &bound):
		m.metrics.refused.WithLabelValues(kindNames[kindEvidence], RefusedEvidenceLogs).Inc()
		return nil, err
	case errors.Is(err, ErrIgnore):
		return nil, err
	case err != nil:
		// Our storage failed, not the sender.
		m.log.Warn("store evidence", "origin", ev.Origin, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrIgnore, err)
	}
	m.log.Info("equivocation evidence kept", "origin", ev.Origin, "offender", string(offender), "size_a", eq.SizeA, "size_b", eq.SizeB,
		"source", source, "from", string(e.From))
	return e, nil
}

func (m *Mesh) validateEvidenceMsg(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == m.id {
		// Ours: verified and kept by PublishEvidence.
		msg.ValidatorData = &Equivocation{}
		return m.verdict(kindEvidence, nil)
	}
	if err := m.allowGossip(kindEvidence, from); err != nil {
		return m.verdict(kindEvidence, err)
	}
	e, err := m.judgeEvidence(ctx, from, msg.Data, SourceGossip)
	if err == nil {
		msg.ValidatorData = e
	} else {
		m.log.Debug("evidence refused", "from", from, "err", err)
	}
	return m.verdict(kindEvidence, err)
}

// equivocated hands a record the mesh learned by itself to the node.
func (m *Mesh) equivocated(e *Equivocation) {
	if m.cfg.OnEquivocation != nil {
		m.cfg.OnEquivocation(e)
	}
}

// PublishEvidence verifies evidence found by this node (its witness, its
// check of an anchor against what the witness cosigned), keeps it with
// source and gossips it. fresh is false when the mesh held it already (it
// is gossiped again all the same). Evidence that does not verify, or about
// a log that is not this federation's, is an error.
func (m *Mesh) PublishEvidence(ctx context.Context, ev provenance.Evidence, source string) (e *Equivocation, fresh bool, err error) {
	raw, err := ev.Marshal()
	if err != nil {
		return nil, false, err
	}
	e, err = m.judgeEvidence(ctx, m.id, raw, source)
	switch {
	case err == nil:
		fresh = true
	case m.evidence.has(treaty.CIDOf(raw)):
		e = m.storedEvidence(treaty.CIDOf(raw))
	case errors.Is(err, ErrIgnore):
		// Out of room: still worth spreading.
	default:
		return nil, false, err
	}
	if err := m.publish(ctx, kindEvidence, raw); err != nil {
		return e, fresh, err
	}
	return e, fresh, nil
}

func (m *Mesh) storedEvidence(id cid.Cid) *Equivocation {
	m.evidence.mu.Lock()
	defer m.evidence.mu.Unlock()
	return m.evidence.byID[id]
}

// Equivocations returns the evidence this node keeps, oldest first. The
// slice is the caller's; the records are shared and must not be modified.
func (m *Mesh) Equivocations() []*Equivocation { return m.evidence.list() }

// checkpointBody returns a checkpoint note's body: the text before the
// blank line that ends it (origin, size, root, extensions).
func checkpointBody(note string) string {
	if i := bytes.Index([]byte(note), []byte("\n\n")); i >= 0 {
		return note[:i+1]
	}
	return note
}

// anchorConflict judges an anchor whose log already has a kept anchor of
// the same size with another checkpoint body. Two notes verified by the
// log's key at one size with different roots are an equivocation: the
// evidence is kept, handed to OnEquivocation and gossiped, and the anchor
// dropped (rejected when the offender sent it itself, ignored when
// relayed). Anything else is a bad or duplicate anchor.
func (m *Mesh) anchorConflict(ctx context.Context, from peer.ID, kept, rec *anchorRec) error {
	owner, ok := m.originOwner(rec.a.Origin)
	if !ok {
		return fmt.Errorf("%w: %s at size %d is kept already", ErrIgnore, rec.a.Origin, rec.size)
	}
	ev := provenance.Evidence{Origin: rec.a.Origin, A: []byte(kept.a.Checkpoint), B: []byte(rec.a.Checkpoint)}
	raw, err := ev.Marshal()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIgnore, err)
	}
	if !m.evidence.has(treaty.CIDOf(raw)) {
		e, err := m.judgeEvidence(ctx, from, raw, SourceAnchor)
		var ee *provenance.EvidenceError
		switch {
		case err == nil:
			m.equivocated(e)
			m.publishLater(kindEvidence, raw)
		case errors.As(err, &ee) && ee.Field == "b" && from == owner:
			return err // the log's own anchor does not verify
		case err != nil:
			// Not a proof (the kept note does not verify with the log's
			// key, or the roots are equal), or no room for it.
			return fmt.Errorf("%w: %s at size %d is kept already (%w)", ErrIgnore, rec.a.Origin, rec.size, err)
		}
	}
	conflict := &AnchorConflictError{Origin: rec.a.Origin, Size: rec.size}
	if from == owner {
		return conflict
	}
	return fmt.Errorf("%w: %w", ErrIgnore, conflict)
}

// publishLater gossips data on a topic from a goroutine of its own (a
// validator must not wait on another topic's validation), unless the mesh
// is closing.
func (m *Mesh) publishLater(kind int, data []byte) {
	if !m.enter() {
		return
	}
	go func() {
		defer m.handlers.Done()
		if err := m.publish(m.ctx, kind, data); err != nil && m.ctx.Err() == nil {
			m.log.Warn("gossip failed; sync spreads it", "topic", kindNames[kind], "err", err)
		}
	}()
}

// AnchorConflictError reports an anchor whose checkpoint contradicts the
// anchor kept for its log at the same size: its log equivocated.
type AnchorConflictError struct {
	Origin string
	Size   uint64
}

func (e *AnchorConflictError) Error() string {
	return fmt.Sprintf("mesh: anchor of %.64q at size %d contradicts the one kept: the log equivocated", e.Origin, e.Size)
}
