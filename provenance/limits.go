package provenance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-datastore"
)

// Named limits of the log and the witness (the formats' are in formats.go).
const (
	// MaxAppendLeaves bounds the leaves of one Append (one transaction).
	MaxAppendLeaves = 4096
	// MaxAppendBytes bounds the leaf bytes of one Append, so that the
	// transaction stays well inside badger's batch limit (15 % of an 8 MiB
	// memtable, node/store's minimum).
	MaxAppendBytes = 1 << 20
	// MaxAddCheckpointSize bounds an add-checkpoint request body.
	MaxAddCheckpointSize = 32 + MaxProofHashes*45 + 1 + MaxNoteSize
)

// Clock tells the time. A nil Clock in a Config means the system clock.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Timestamper obtains an RFC 3161 timestamp token over a SHA-256 digest
// (provenance/tsa's client implements it). The token is DER: a
// TimeStampResp or a bare TimeStampToken.
type Timestamper interface {
	Timestamp(ctx context.Context, digest [32]byte) (token []byte, err error)
}

// writer applies a set of writes atomically: through a transaction when the
// datastore has them (node/store does: one badger transaction), else
// through a batch.
func write(ctx context.Context, ds datastore.Batching, fn func(w datastore.Write) error) error {
	if tds, ok := ds.(datastore.TxnDatastore); ok {
		txn, err := tds.NewTransaction(ctx, false)
		if err != nil {
			return fmt.Errorf("provenance: begin transaction: %w", err)
		}
		defer txn.Discard(ctx)
		if err := fn(txn); err != nil {
			return err
		}
		if err := txn.Commit(ctx); err != nil {
			return fmt.Errorf("provenance: commit: %w", err)
		}
		return nil
	}
	b, err := ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("provenance: batch: %w", err)
	}
	if err := fn(b); err != nil {
		return err
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("provenance: commit: %w", err)
	}
	return nil
}

// get reads key, returning (nil, false, nil) when it is absent.
func get(ctx context.Context, ds datastore.Read, key datastore.Key) ([]byte, bool, error) {
	v, err := ds.Get(ctx, key)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("provenance: get %s: %w", key, err)
	}
	return v, true, nil
}
