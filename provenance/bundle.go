package provenance

import (
	"context"
	"fmt"
)

// Bundle builds the proof bundle of leaf index against the latest
// checkpoint (with the cosignatures merged into it so far). It carries no
// TSA tokens or root CID: Epochs.Bundle adds those from the epoch records.
func (l *Log) Bundle(ctx context.Context, index uint64) (*Bundle, error) {
	cp, err := l.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	return l.bundleAt(ctx, index, cp)
}

func (l *Log) bundleAt(ctx context.Context, index uint64, cp Checkpoint) (*Bundle, error) {
	if index >= cp.Size {
		return nil, fmt.Errorf("%w: leaf %d is not covered by the checkpoint at size %d yet", ErrNotFound, index, cp.Size)
	}
	leaf, err := l.Leaf(ctx, index)
	if err != nil {
		return nil, err
	}
	p, err := l.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return nil, err
	}
	return &Bundle{Index: index, Proof: p, Checkpoint: cp.Note, Leaf: leaf, TSA: [][]byte{}}, nil
}
