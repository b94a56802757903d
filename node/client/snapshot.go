package client

import (
	"context"
	"fmt"
)

// Snapshot answers POST /v1/ledger/snapshot: the index of the snapshot
// leaf, the manifest's CID and its dag-cbor (base64), the RFC 3161 tokens
// over the manifest's SHA-256 (base64; one per configured TSA that
// answered), whether the node pinned the manifest, and when.
type Snapshot struct {
	Index    uint64   `json:"index"`
	CID      string   `json:"cid"`
	Manifest string   `json:"manifest"`
	Tokens   []string `json:"tokens"`
	Pinned   bool     `json:"pinned"`
	At       int64    `json:"at"`
}

// Snapshot asks the node (operator token) to take a ledger snapshot.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	var s Snapshot
	if err := c.Do(ctx, "POST", "/v1/ledger/snapshot", "", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SnapshotProof returns the proof bundle of the snapshot leaf at index,
// an *APIError with status 503 until its epoch has closed.
func (c *Client) SnapshotProof(ctx context.Context, index uint64) ([]byte, error) {
	return c.Raw(ctx, "GET", fmt.Sprintf("/v1/ledger/snapshots/%d/proof", index), "", nil)
}
