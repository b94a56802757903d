package order

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/clock"
)

// ErrNotFound is a Store's answer for a missing (or expired) key.
var ErrNotFound = errors.New("order: not found")

// Op is one write of an atomic Store.Apply.
type Op struct {
	Key    string
	Value  []byte
	TTL    time.Duration // > 0: the entry expires after TTL
	Delete bool
}

// Store is the ledger's storage: string keys, atomic batches of writes.
// The node's implementation is badger (node/store); MemStore serves the
// simulator and tests.
type Store interface {
	// Get returns a key's value, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Apply applies ops atomically: all or none.
	Apply(ctx context.Context, ops []Op) error
	// Scan calls fn for the keys with prefix, in key order, skipping the
	// first offset and stopping after limit (0 = no limit) or when fn
	// returns false. value is valid only during the call.
	Scan(ctx context.Context, prefix string, offset, limit int, fn func(key string, value []byte) bool) error
}

// MemStore is an in-memory Store whose TTLs run on a clock. Safe for
// concurrent use.
type MemStore struct {
	clock clock.Clock

	mu sync.Mutex // protects m
	m  map[string]memEntry
}

type memEntry struct {
	v       []byte
	expires int64 // unix ns, 0 = never
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store on c (nil = the system clock).
func NewMemStore(c clock.Clock) *MemStore {
	return &MemStore{clock: clock.Or(c), m: map[string]memEntry{}}
}

func (s *MemStore) live(e memEntry, now int64) bool { return e.expires == 0 || now < e.expires }

// Get implements Store.
func (s *MemStore) Get(_ context.Context, key string) ([]byte, error) {
	now := s.clock.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || !s.live(e, now) {
		return nil, ErrNotFound
	}
	return slices.Clone(e.v), nil
}

// Apply implements Store.
func (s *MemStore) Apply(ctx context.Context, ops []Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.clock.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		if op.Delete {
			delete(s.m, op.Key)
			continue
		}
		e := memEntry{v: slices.Clone(op.Value)}
		if op.TTL > 0 {
			e.expires = now + int64(op.TTL)
		}
		s.m[op.Key] = e
	}
	return nil
}

// Scan implements Store.
func (s *MemStore) Scan(ctx context.Context, prefix string, offset, limit int, fn func(string, []byte) bool) error {
	now := s.clock.Now().UnixNano()
	s.mu.Lock()
	var keys []string
	for k, e := range s.m {
		if strings.HasPrefix(k, prefix) && s.live(e, now) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = s.m[k].v
	}
	s.mu.Unlock()
	n := 0
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i < offset {
			continue
		}
		if limit > 0 && n >= limit {
			return nil
		}
		n++
		if !fn(k, vals[i]) {
			return nil
		}
	}
	return nil
}

// Len returns the number of live entries (tests).
func (s *MemStore) Len() int {
	now := s.clock.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.m {
		if s.live(e, now) {
			n++
		}
	}
	return n
}
