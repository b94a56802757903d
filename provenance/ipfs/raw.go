package ipfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// MaxRawBlockSize bounds a block stored and fetched whole with PutRaw and
// GetRaw: what one bitswap message over libp2p carries (go-libp2p's
// network.MessageSizeMax, 4 MiB, which boxo's reader enforces), less room
// for the message's own framing. Policy modules travel this way: a module
// is named by the sha2-256 of its exact bytes (a raw CIDv1), so it cannot
// be split into a DAG of smaller blocks and keep its name.
const MaxRawBlockSize = 4<<20 - 64<<10

// ErrTooLarge is wrapped by the *BlockError of a raw block over its limit.
var ErrTooLarge = errors.New("ipfs: block too large")

// PutRaw stores data as one raw block (CIDv1, raw codec, sha2-256) of up to
// MaxRawBlockSize bytes and returns its CID; members that asked for it are
// sent it. Unlike Put, the block may be larger than MaxBlockSize. Storing
// the same bytes again is a no-op.
func (n *Node) PutRaw(ctx context.Context, data []byte) (cid.Cid, error) {
	if n.closed.Load() {
		return cid.Undef, ErrClosed
	}
	if len(data) > MaxRawBlockSize {
		return cid.Undef, &BlockError{Rule: fmt.Sprintf("%d bytes, limit %d", len(data), MaxRawBlockSize), Err: ErrTooLarge}
	}
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: -1}.Sum(data)
	if err != nil {
		return cid.Undef, fmt.Errorf("ipfs: %w", err)
	}
	if err := n.online.Add(ctx, c, bytes.Clone(data)); err != nil {
		return cid.Undef, fmt.Errorf("ipfs: put %s: %w", c, err)
	}
	return c, nil
}

// GetRaw returns the raw block c (CIDv1, raw codec, sha2-256) from the local
// store or, failing that, from members over bitswap, waiting until ctx's
// deadline (or FetchTimeout if it has none); a *MissingBlocksError says
// nobody sent it in time. A block over limit bytes (at most
// MaxRawBlockSize; 0 means MaxRawBlockSize) is refused with a *BlockError
// wrapping ErrTooLarge, and one fetched for this call is not kept (bitswap
// stores what it receives): a member cannot make the node keep blocks
// bigger than it asked for. Bitswap checks a fetched block against its CID; a
// block read from the local store is not re-hashed, so callers that must
// trust the bytes verify them. The caller owns the returned slice.
func (n *Node) GetRaw(ctx context.Context, c cid.Cid, limit int) ([]byte, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	if limit <= 0 || limit > MaxRawBlockSize {
		limit = MaxRawBlockSize
	}
	if err := checkCID(c); err != nil {
		return nil, &BlockError{CID: c, Rule: err.Error()}
	}
	if c.Prefix().Codec != cid.Raw {
		return nil, &BlockError{CID: c, Rule: fmt.Sprintf("codec %#x, want raw (0x55)", c.Prefix().Codec)}
	}
	had, err := n.local.Has(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("ipfs: %s: %w", c, err)
	}
	ctx, cancel := n.fetchContext(ctx)
	defer cancel()
	got, err := n.getRawRetrying(ctx, c, limit)
	if errors.Is(err, ErrTooLarge) && !had {
		if derr := n.local.Delete(context.WithoutCancel(ctx), c); derr != nil {
			n.log.LogAttrs(ctx, slog.LevelError, "oversized block not removed", slog.String("cid", c.String()), slog.String("error", derr.Error()))
		}
	}
	return got, err
}

// getRawRetrying is GetRaw's fetch.
func (n *Node) getRawRetrying(ctx context.Context, c cid.Cid, limit int) ([]byte, error) {
	// A member that did not count us as one when we asked (a treaty
	// becomes active on each side when that side learns it) dropped our
	// want, and bitswap would not send it again for a minute: ask anew, at
	// doubling intervals, until ctx ends.
	for wait := rawRetryMin; ; wait *= 2 {
		actx, acancel := context.WithTimeout(ctx, wait)
		got, found, err := n.getRaw(actx, c, limit)
		acancel()
		switch {
		case found:
			return got, nil
		case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
			return nil, err
		case ctx.Err() != nil:
			return nil, &MissingBlocksError{Root: c, Missing: []cid.Cid{c}, Count: 1, Err: ctx.Err()}
		}
	}
}

// rawRetryMin is GetRaw's first wait before it asks members again.
const rawRetryMin = 500 * time.Millisecond

func (n *Node) getRaw(ctx context.Context, c cid.Cid, limit int) ([]byte, bool, error) {
	var got []byte
	found := false
	err := n.online.GetMany(ctx, []cid.Cid{c}, func(_ cid.Cid, data []byte) error {
		if len(data) > limit {
			return &BlockError{CID: c, Rule: fmt.Sprintf("%d bytes, limit %d", len(data), limit), Err: ErrTooLarge}
		}
		// The datastore may hand out its own slice: keep a copy.
		got, found = append([]byte{}, data...), true
		return nil
	})
	return got, found, err
}
