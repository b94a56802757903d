package release

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// Timestamper obtains an RFC 3161 token over a SHA-256 digest
// (provenance/tsa's Client and DevTSA).
type Timestamper interface {
	Timestamp(ctx context.Context, digest [32]byte) ([]byte, error)
}

// Signed is a tarball with its signature and tokens, ready to be logged.
type Signed struct {
	Name      string
	SHA256    [32]byte
	Signature []byte
	Signer    string
	Tokens    [][]byte
}

// SignAndTimestamp signs the tarball at path with key and has each TSA
// timestamp its SHA-256.
func SignAndTimestamp(ctx context.Context, path string, key *SigningKey, tsas []Timestamper, now time.Time) (*Signed, error) {
	digest, err := FileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	sig, err := key.Sign(f, now)
	f.Close()
	if err != nil {
		return nil, err
	}
	s := &Signed{Name: filepath.Base(path), SHA256: digest, Signature: sig, Signer: key.Fingerprint()}
	for i, t := range tsas {
		tok, err := t.Timestamp(ctx, digest)
		if err != nil {
			return nil, fmt.Errorf("release: TSA %d: %w", i+1, err)
		}
		s.Tokens = append(s.Tokens, tok)
	}
	return s, nil
}

// Entry is the release leaf's entry for s, recorded at at.
func (s *Signed) Entry(at time.Time) *treaty.LogEntry {
	return &treaty.LogEntry{Release: &treaty.ReleaseEntry{V: treaty.ReleaseVersion, Name: s.Name, SHA256: s.SHA256[:],
		Signer: s.Signer, TokensSHA256: TokenDigests(s.Tokens), At: at.Unix()}}
}

// DevLog is a throw-away provenance log for dev releases (`make release`
// without an operator's node): a real provenance.Log over an in-memory
// datastore with a fresh key, whose checkpoint the dev TSAs timestamp. Its
// proofs verify only against the log key it reports, which nobody else
// trusts: a dev release proves the chain works, not who made it.
type DevLog struct {
	log  *provenance.Log
	vkey string
}

// DevOrigin is the origin of every dev release log.
const DevOrigin = "aurora/dev-release/throwaway"

// NewDevLog opens an empty dev log with a new key.
func NewDevLog(ctx context.Context) (*DevLog, error) {
	key, err := treaty.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	l, err := provenance.OpenLog(ctx, dssync.MutexWrap(datastore.NewMapDatastore()), provenance.LogConfig{Origin: DevOrigin, Key: key})
	if err != nil {
		return nil, err
	}
	vkey, err := provenance.LogVerifierKey(DevOrigin, key.DID())
	if err != nil {
		return nil, err
	}
	return &DevLog{log: l, vkey: vkey}, nil
}

// VerifierKey is the dev log's C2SP verifier key, for a trust policy's
// log line.
func (d *DevLog) VerifierKey() string { return d.vkey }

// AppendAndProve appends leaf, signs a checkpoint, timestamps the
// checkpoint with tsas and returns the leaf's proof bundle.
func (d *DevLog) AppendAndProve(ctx context.Context, leaf []byte, tsas []Timestamper) ([]byte, error) {
	idx, err := d.log.Append(ctx, leaf)
	if err != nil {
		return nil, err
	}
	cp, err := d.log.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	b, err := d.log.Bundle(ctx, idx)
	if err != nil {
		return nil, err
	}
	for i, t := range tsas {
		tok, err := t.Timestamp(ctx, cp.Digest())
		if err != nil {
			return nil, fmt.Errorf("release: dev log checkpoint: TSA %d: %w", i+1, err)
		}
		b.TSA = append(b.TSA, tok)
	}
	return b.Marshal()
}
