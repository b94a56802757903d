package provenance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-datastore"

	"github.com/aurora-federation/aurora/treaty"
)

// Named limits. Peer input is hostile: every parser checks these first.
const (
	// MaxNoteSize bounds a signed note (checkpoint text plus signatures).
	MaxNoteSize = treaty.MaxCheckpointLen
	// MaxNoteSignatures bounds the signature lines of a note: the log's plus
	// at most 15 cosignatures. C2SP signed-note verifiers must accept at least
	// 16 signatures, so every conforming verifier accepts our notes.
	MaxNoteSignatures = 16
	// MaxKeyNameLen bounds a signed-note key name.
	MaxKeyNameLen = 256
	// MaxOriginLen bounds a checkpoint origin line.
	MaxOriginLen = 256
	// MaxExtensionLines bounds a checkpoint's extension lines (Aurora logs
	// write none; C2SP allows them).
	MaxExtensionLines = 8
	// MaxExtensionLineLen bounds one extension line.
	MaxExtensionLineLen = 256
	// MaxTreeSize bounds tree sizes so that size arithmetic cannot overflow.
	MaxTreeSize = 1 << 48
	// MaxProofHashes bounds an inclusion or consistency proof. A consistency
	// proof has at most 2·log2(size) hashes; tlog-witness allows 63 lines.
	MaxProofHashes = 63
	// MaxLeafSize bounds one log leaf (a LogEntry's dag-cbor).
	MaxLeafSize = treaty.MaxRecordSize
	// MaxAppendLeaves bounds the leaves of one Append (one transaction).
	MaxAppendLeaves = 4096
	// MaxAppendBytes bounds the leaf bytes of one Append, so that the
	// transaction stays well inside badger's batch limit (15 % of an 8 MiB
	// memtable, node/store's minimum).
	MaxAppendBytes = 1 << 20
	// MaxAddCheckpointSize bounds an add-checkpoint request body.
	MaxAddCheckpointSize = 32 + MaxProofHashes*45 + 1 + MaxNoteSize
	// MaxBundleSize bounds a proof bundle file.
	MaxBundleSize = 256 << 10
	// MaxEvidenceSize bounds an encoded Evidence record.
	MaxEvidenceSize = 2*MaxNoteSize + MaxProofHashes*40 + 256
	// MaxTSATokens bounds the RFC 3161 tokens carried for one checkpoint.
	MaxTSATokens = treaty.MaxTSATokens
	// MaxTSATokenSize bounds one RFC 3161 token.
	MaxTSATokenSize = treaty.MaxTSATokenLen
	// MaxCIDLen bounds a root CID's text form.
	MaxCIDLen = 128
	// MaxClockSkew is how far in the future a cosignature timestamp may be.
	MaxClockSkew = treaty.MaxClockSkew
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

// TokenVerifier verifies an RFC 3161 token over a SHA-256 digest against
// trusted roots and returns the token's time (provenance/tsa implements it).
type TokenVerifier interface {
	VerifyToken(token []byte, digest [32]byte) (time.Time, error)
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

// SignerVerifier is the optional capability of a TokenVerifier that
// VerifyBundle needs to count tokens from distinct TSAs only: it also
// returns who signed the token, signerID the SHA-256 of the signer
// certificate's SubjectPublicKeyInfo (two certificates of one key are one
// TSA) and signer its subject for reports. provenance/tsa's Verifier
// implements it. VerifyBundle refuses to count tokens through a verifier
// without it.
type SignerVerifier interface {
	VerifyTokenSigner(token []byte, digest [32]byte) (genTime time.Time, signerID [32]byte, signer string, err error)
}
