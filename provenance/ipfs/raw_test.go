package ipfs_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/provenance/ipfs"
)

// TestRawBlocks: a raw block of exactly MaxRawBlockSize bytes (a policy
// module's whole bytes) travels over real bitswap between two hosts; one
// byte more is refused on the way in; a fetch with a smaller limit refuses
// the block it received; a non-member is sent nothing.
func TestRawBlocks(t *testing.T) {
	ha, hb, hc := newHost(t), newHost(t), newHost(t)
	a := newNode(t, ha, newMembers(hb).Allow)
	b := newNode(t, hb, newMembers(ha).Allow)
	c := newNode(t, hc, newMembers(ha).Allow) // a does not count c as a member
	connect(t, hb, ha)
	connect(t, hc, ha)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	big := make([]byte, ipfs.MaxRawBlockSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	id, err := a.PutRaw(ctx, big)
	if err != nil {
		t.Fatalf("PutRaw at the limit: %v", err)
	}
	if id.Prefix().Codec != cid.Raw || id.Version() != 1 {
		t.Fatalf("PutRaw CID %s: want a raw CIDv1", id)
	}
	got, err := b.GetRaw(ctx, id, 0)
	if err != nil {
		t.Fatalf("GetRaw of a %d-byte block over bitswap: %v", len(big), err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("GetRaw returned other bytes")
	}
	// Now stored at b: served locally even with a's host gone from the
	// picture (a zero deadline would fail a network fetch).
	if _, err := b.GetRaw(ctx, id, ipfs.MaxRawBlockSize); err != nil {
		t.Fatalf("GetRaw from b's own store: %v", err)
	}

	if _, err := a.PutRaw(ctx, append(big, 0)); !errors.Is(err, ipfs.ErrTooLarge) {
		t.Fatalf("PutRaw of MaxRawBlockSize+1 bytes: %v, want ErrTooLarge", err)
	}
	if _, err := b.GetRaw(ctx, id, len(big)-1); !errors.Is(err, ipfs.ErrTooLarge) {
		t.Fatalf("GetRaw with a limit one byte short: %v, want ErrTooLarge", err)
	}

	short, cancelShort := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancelShort()
	var missing *ipfs.MissingBlocksError
	if _, err := c.GetRaw(short, id, 0); !errors.As(err, &missing) {
		t.Fatalf("a non-member's GetRaw: %v, want a *MissingBlocksError", err)
	}

	dagCBOR, err := a.Put(ctx, record(t, "o", 1, 1), cid.DagCBOR)
	if err != nil {
		t.Fatal(err)
	}
	var be *ipfs.BlockError
	if _, err := a.GetRaw(ctx, dagCBOR, 0); !errors.As(err, &be) {
		t.Fatalf("GetRaw of a dag-cbor CID: %v, want a *BlockError", err)
	}
}

// TestRawAskedAgain: a member that did not count us as one when we first
// asked (and dropped the want) serves the block once it does: GetRaw asks
// again instead of waiting for bitswap's one-minute rebroadcast.
func TestRawAskedAgain(t *testing.T) {
	ha, hb := newHost(t), newHost(t)
	aMembers := newMembers() // a does not count b yet
	a := newNode(t, ha, aMembers.Allow)
	b := newNode(t, hb, newMembers(ha).Allow)
	connect(t, hb, ha)
	// Well under bitswap's one-minute rebroadcast; room for GetRaw's
	// attempt at 15.5 s, as bitswap sometimes ignores the first ones
	// after a membership change on a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	id, err := a.PutRaw(ctx, []byte("a module's bytes"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.GetRaw(ctx, id, 0)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("served before a counted b as a member: %v", err)
	case <-time.After(time.Second):
	}
	aMembers.Add(hb.ID())
	a.MembershipChanged()
	if err := <-done; err != nil {
		t.Fatalf("GetRaw after b became a member: %v", err)
	}
}

// TestRawOverLimitNotKept: over real bitswap, a block of exactly the
// fetch's limit is returned and kept; one byte more is refused and not
// left in the blockstore (bitswap stores what it receives), so a second
// fetch asks the member again and is refused again; a block the node
// already held is refused over a smaller limit but not deleted.
func TestRawOverLimitNotKept(t *testing.T) {
	ha, hb := newHost(t), newHost(t)
	a := newNode(t, ha, newMembers(hb).Allow)
	b := newNode(t, hb, newMembers(ha).Allow)
	connect(t, hb, ha)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const limit = 64 << 10
	r := rand.New(rand.NewPCG(3, 4))
	block := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	atLimit, over := block(limit), block(limit+1)
	atID, err := a.PutRaw(ctx, atLimit)
	if err != nil {
		t.Fatal(err)
	}
	overID, err := a.PutRaw(ctx, over)
	if err != nil {
		t.Fatal(err)
	}
	has := func(c cid.Cid) bool {
		t.Helper()
		ok, err := ipfs.HasLocal(ctx, b, c)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	if got, err := b.GetRaw(ctx, atID, limit); err != nil || !bytes.Equal(got, atLimit) {
		t.Fatalf("GetRaw of a block at the limit: %d bytes, %v", len(got), err)
	}
	if !has(atID) {
		t.Error("a block at the limit was not kept")
	}
	for i := range 2 {
		if _, err := b.GetRaw(ctx, overID, limit); !errors.Is(err, ipfs.ErrTooLarge) {
			t.Fatalf("fetch %d of a block one byte over the limit: %v, want ErrTooLarge", i+1, err)
		}
		if has(overID) {
			t.Fatalf("fetch %d: the refused block was kept in the blockstore", i+1)
		}
	}
	// A block the node holds (stored here directly: fetching it again over
	// bitswap right after the deletion is slow under load, see
	// TestRawAskedAgain) is left in place when refused over a smaller
	// limit.
	if _, err := b.PutRaw(ctx, over); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetRaw(ctx, overID, limit); !errors.Is(err, ipfs.ErrTooLarge) {
		t.Fatalf("a held block over a smaller limit: %v, want ErrTooLarge", err)
	}
	if !has(overID) {
		t.Error("a block the node held was deleted when refused over a smaller limit")
	}
}
