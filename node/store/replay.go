package store

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Limits and defaults of the replay guard.
const (
	// MaxReplayClientLen is the longest client identifier accepted, in bytes.
	MaxReplayClientLen = 512
	// MaxReplayNonceLen is the longest nonce accepted, in bytes.
	MaxReplayNonceLen = 128
	// DefaultReplaySkew is the default [ReplayGuardConfig.Skew].
	DefaultReplaySkew = time.Minute
)

// replayPrefix is the key space of the replay guard.
const replayPrefix = "/replay/"

var (
	// ErrReplay reports that a (client, nonce) pair was already accepted and
	// its order has not expired.
	ErrReplay = errors.New("store: replayed nonce")
	// ErrNonceExpired reports that the order's window (expiry plus skew)
	// is already over at insert time, so there is nothing to guard.
	ErrNonceExpired = errors.New("store: nonce window already over")
)

// ReplayGuardConfig configures [NewReplayGuard]. The zero value works.
type ReplayGuardConfig struct {
	// Skew is added to an order's expiry: a nonce is remembered until
	// expires+Skew, covering verifiers whose clocks run behind. Default
	// [DefaultReplaySkew]; negative values are rejected.
	Skew time.Duration
}

// ReplayGuard remembers order nonces until their orders expire, so that an
// order is accepted at most once. Entries live under "/replay/" in the DB,
// carry a badger TTL (expiry+skew, rounded up to badger's whole seconds) so
// compaction drops them, and store their exact deadline, which is checked
// because an expired entry can still be read until badger's clock passes its
// TTL.
//
// Durability follows [Config.SyncWrites]: by default an accepted nonce
// survives a crash of the process but may be lost in an OS crash or power
// loss that happens before the next sync.
//
// A ReplayGuard is safe for concurrent use; it holds no goroutines and needs
// no Close.
type ReplayGuard struct {
	db   *DB
	skew time.Duration
}

// NewReplayGuard returns a guard storing its entries in db.
func NewReplayGuard(db *DB, cfg ReplayGuardConfig) (*ReplayGuard, error) {
	switch {
	case cfg.Skew < 0:
		return nil, fmt.Errorf("store: replay guard: Skew must not be negative, got %v", cfg.Skew)
	case cfg.Skew == 0:
		cfg.Skew = DefaultReplaySkew
	}
	return &ReplayGuard{db: db, skew: cfg.Skew}, nil
}

// CheckAndInsert records that client used nonce for an order expiring at
// expires, as observed at now. It returns an error wrapping [ErrReplay] if the
// pair was recorded before and now is earlier than that order's
// expires+skew, and [ErrNonceExpired] if now is not earlier than this order's
// expires+skew. The check and the insert are one badger transaction: of
// concurrent calls with the same pair exactly one succeeds.
func (g *ReplayGuard) CheckAndInsert(client string, nonce []byte, expires, now time.Time) error {
	switch {
	case len(client) == 0 || len(client) > MaxReplayClientLen:
		return fmt.Errorf("store: replay guard: client length %d outside [1, %d]", len(client), MaxReplayClientLen)
	case len(nonce) == 0 || len(nonce) > MaxReplayNonceLen:
		return fmt.Errorf("store: replay guard: nonce length %d outside [1, %d]", len(nonce), MaxReplayNonceLen)
	}
	if g.db.closed.Load() {
		return ErrClosed
	}
	deadline := expires.Add(g.skew)
	if !now.Before(deadline) {
		return fmt.Errorf("%w: deadline %s, now %s", ErrNonceExpired,
			deadline.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	key := replayKey(client, nonce)
	var val [8]byte
	binary.BigEndian.PutUint64(val[:], uint64(deadline.UnixMicro()))
	// Badger truncates ExpiresAt to whole seconds; add one so that badger
	// never hides an entry before its stored deadline.
	ttl := deadline.Sub(now)
	if ttl < 100*365*24*time.Hour {
		ttl += time.Second
	}
	err := retryConflicts(func() error { return g.tryInsert(key, val[:], ttl, now) })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrReplay):
		return err
	case errors.Is(err, badger.ErrDBClosed):
		return ErrClosed
	default:
		return fmt.Errorf("store: replay guard: %w", err)
	}
}

func (g *ReplayGuard) tryInsert(key, val []byte, ttl time.Duration, now time.Time) error {
	txn := g.db.bdb.NewTransaction(true)
	defer txn.Discard()
	item, err := txn.Get(key)
	switch {
	case err == nil:
		var deadline int64
		err := item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("corrupt entry %q: %d bytes", key, len(v))
			}
			deadline = int64(binary.BigEndian.Uint64(v))
			return nil
		})
		if err != nil {
			return err
		}
		if now.UnixMicro() < deadline {
			return ErrReplay
		}
		// The earlier order's window is over; its entry awaits compaction.
	case errors.Is(err, badger.ErrKeyNotFound):
	default:
		return err
	}
	if err := txn.SetEntry(badger.NewEntry(key, val).WithTTL(ttl)); err != nil {
		return err
	}
	return txn.Commit()
}

// replayKey is "/replay/<base64url(client)>/<hex(nonce)>": both encodings
// avoid '/', so distinct pairs never share a key.
func replayKey(client string, nonce []byte) []byte {
	enc := base64.RawURLEncoding
	k := make([]byte, 0, len(replayPrefix)+enc.EncodedLen(len(client))+1+hex.EncodedLen(len(nonce)))
	k = append(k, replayPrefix...)
	k = enc.AppendEncode(k, []byte(client))
	k = append(k, '/')
	return hex.AppendEncode(k, nonce)
}
