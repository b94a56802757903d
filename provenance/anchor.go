package provenance

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/treaty"
)

// NewAnchor returns the Anchor record announcing cp (a signed checkpoint,
// with whatever cosignatures it carries), the epoch root CID rootCID ("" for
// none) and the RFC 3161 tokens over it. It is what Epochs gossips, and what
// AnchorLeaf logs.
func NewAnchor(cp Checkpoint, rootCID string, tokens [][]byte) (*treaty.Anchor, error) {
	if len(cp.Note) == 0 {
		return nil, errors.New("provenance: anchor: checkpoint has no signed note")
	}
	a := &treaty.Anchor{V: treaty.Version, Origin: cp.Origin, Checkpoint: string(cp.Note), TSA: tokens}
	if a.TSA == nil {
		a.TSA = [][]byte{}
	}
	if rootCID != "" {
		c, err := parseRootCID(rootCID)
		if err != nil {
			return nil, err
		}
		l := treaty.LinkTo(c)
		a.Root = &l
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

func parseRootCID(s string) (cid.Cid, error) {
	if len(s) > MaxCIDLen {
		return cid.Undef, fmt.Errorf("provenance: root CID is %d bytes, limit %d", len(s), MaxCIDLen)
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("provenance: root CID: %w", err)
	}
	return c, nil
}

// AnchorLeaf turns a verified peer checkpoint (cross-anchoring) into the
// leaf bytes to append to this node's log: the dag-cbor of
// LogEntry{Anchor: ...} carrying the peer's signed note with its
// cosignatures, its epoch root CID ("" if unknown) and any RFC 3161 tokens.
// cp must come from OpenAnchor or OpenCheckpoint with the peer's key: the
// anchor commits this node's log to the peer's state, so an unverified
// checkpoint must not be anchored.
func AnchorLeaf(cp Checkpoint, rootCID string, tokens [][]byte) ([]byte, error) {
	a, err := NewAnchor(cp, rootCID, tokens)
	if err != nil {
		return nil, err
	}
	b, err := treaty.Encode(&treaty.LogEntry{Anchor: a})
	if err != nil {
		return nil, err
	}
	if len(b) > MaxLeafSize {
		return nil, fmt.Errorf("provenance: anchor leaf is %d bytes, limit %d", len(b), MaxLeafSize)
	}
	return b, nil
}

// OpenAnchor verifies a gossiped Anchor against the peer log's verifier:
// the record validates and its checkpoint opens as a checkpoint of
// a.Origin signed by the log. Cosignatures and tokens are returned
// unverified in the checkpoint's note and a.TSA.
func OpenAnchor(a *treaty.Anchor, log note.Verifier) (Checkpoint, error) {
	if err := a.Validate(); err != nil {
		return Checkpoint{}, err
	}
	return OpenCheckpoint([]byte(a.Checkpoint), a.Origin, log)
}
