package mesh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"

	"github.com/aurora-federation/aurora/treaty"
)

// keyAnchor + hex(SHA-256(origin)) holds the latest anchor of a log.
const keyAnchor = "/anchor/"

// MaxAnchorOrigins bounds the logs whose latest anchor the mesh keeps for
// sync.
const MaxAnchorOrigins = 4096

// anchorRec is an accepted anchor with its encoding and tree size.
type anchorRec struct {
	a    *treaty.Anchor
	raw  []byte
	id   cid.Cid
	size uint64
	// stranger: the log's operator had no active treaty with us when the
	// anchor was judged (counted against MaxStrangerAnchorOrigins).
	stranger bool
}

// anchorStore keeps the latest anchor of every log, for sync.
type anchorStore struct {
	ds  datastore.Batching
	log *slog.Logger

	mu       sync.Mutex // protects following
	byOrigin map[string]*anchorRec
	byID     map[cid.Cid]*anchorRec
	// strangers counts the origins whose latest anchor is a stranger's.
	strangers int
	// judging holds, per origin, the largest tree size being judged right
	// now (by a gossip validator or a sync round), so that the same anchor
	// arriving both ways is verified — and handed to OnAnchor — once.
	judging map[string]uint64
}

func newAnchorStore(ds datastore.Batching, log *slog.Logger) *anchorStore {
	return &anchorStore{ds: ds, log: log, byOrigin: map[string]*anchorRec{}, byID: map[cid.Cid]*anchorRec{}, judging: map[string]uint64{}}
}

// claim takes the judgment of origin's anchor at size: false when that
// size or a larger one is already kept or being judged. The caller
// releases the claim when its judgment ends, kept or not.
func (s *anchorStore) claim(origin string, size uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.byOrigin[origin]; ok && r.size >= size {
		return false
	}
	if j, ok := s.judging[origin]; ok && j >= size {
		return false
	}
	s.judging[origin] = size
	return true
}

// release ends a claim taken by claim.
func (s *anchorStore) release(origin string, size uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.judging[origin] == size {
		delete(s.judging, origin)
	}
}

func anchorKey(origin string) datastore.Key {
	sum := sha256.Sum256([]byte(origin))
	return datastore.NewKey(keyAnchor + hex.EncodeToString(sum[:]))
}

func (s *anchorStore) latest(origin string) (*anchorRec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byOrigin[origin]
	return r, ok
}

// strangerCount returns how many logs' latest anchor is a stranger's.
func (s *anchorStore) strangerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.strangers
}

func (s *anchorStore) has(id cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byID[id]
	return ok
}

// put keeps rec if it is newer than the log's latest; changed reports
// whether it was.
func (s *anchorStore) put(ctx context.Context, rec *anchorRec) error {
	_, err := s.putChanged(ctx, rec)
	return err
}

func (s *anchorStore) putChanged(ctx context.Context, rec *anchorRec) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byOrigin[rec.a.Origin]
	if ok && old.size >= rec.size {
		return false, nil
	}
	if !ok && len(s.byOrigin) >= MaxAnchorOrigins {
		return false, fmt.Errorf("%w: keeping anchors of %d logs already", ErrIgnore, MaxAnchorOrigins)
	}
	if !ok && rec.stranger && s.strangers >= MaxStrangerAnchorOrigins {
		return false, fmt.Errorf("%w: keeping anchors of %d strangers' logs already", ErrIgnore, MaxStrangerAnchorOrigins)
	}
	if err := s.ds.Put(ctx, anchorKey(rec.a.Origin), rec.raw); err != nil {
		return false, fmt.Errorf("mesh: store anchor: %w", err)
	}
	if ok {
		delete(s.byID, old.id)
		if old.stranger {
			s.strangers--
		}
	}
	if rec.stranger {
		s.strangers++
	}
	s.byOrigin[rec.a.Origin] = rec
	s.byID[rec.id] = rec
	return true, nil
}

func (s *anchorStore) ids() []treaty.Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]treaty.Link, 0, len(s.byID))
	for id := range s.byID {
		out = append(out, treaty.LinkTo(id))
	}
	return out
}

func (s *anchorStore) record(id cid.Cid) (*envelope, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	return &envelope{Anchor: r.raw}, true
}

func (s *anchorStore) load(ctx context.Context) error {
	kvs, err := queryAll(ctx, s.ds, keyAnchor)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kv := range kvs {
		var a treaty.Anchor
		if err := treaty.Decode(kv.Value, &a); err != nil || a.Validate() != nil {
			s.log.Warn("stored anchor does not decode; skipped", "key", kv.Key)
			continue
		}
		size, err := checkpointSize(a.Checkpoint)
		if err != nil {
			continue
		}
		rec := &anchorRec{a: &a, raw: kv.Value, id: treaty.CIDOf(kv.Value), size: size}
		s.byOrigin[a.Origin] = rec
		s.byID[rec.id] = rec
	}
	return nil
}
