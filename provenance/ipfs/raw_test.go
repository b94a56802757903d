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
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
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
