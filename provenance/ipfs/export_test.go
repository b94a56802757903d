package ipfs

import (
	"context"

	"github.com/ipfs/go-cid"
)

// PinWithoutWalk records a recursive pin without checking the DAG: the
// benchmarks use it to restore the state before a PinEpoch cheaply.
func PinWithoutWalk(ctx context.Context, n *Node, c cid.Cid) error {
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	return n.pins.Pin(ctx, c)
}

// HasLocal reports whether n's blockstore holds c.
func HasLocal(ctx context.Context, n *Node, c cid.Cid) (bool, error) { return n.local.Has(ctx, c) }
