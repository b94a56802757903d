package ipfs_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/treaty"
)

func mustPinned(t *testing.T, n *ipfs.Node, cs ...cid.Cid) {
	t.Helper()
	for _, c := range cs {
		ok, err := n.IsPinned(t.Context(), c)
		if err != nil || !ok {
			t.Fatalf("%s pinned: %v, %v", c, ok, err)
		}
	}
}

// TestFederationExchange runs the scenario of the design on real loopback
// hosts: A writes and pins two epochs; B and C fetch them by CID over
// bitswap and pin; C fetches from B after A goes offline; D, connected to
// everyone but a member of nobody's federation, cannot fetch.
func TestFederationExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four libp2p hosts")
	}
	ctx := t.Context()
	hA, hB, hC, hD := newHost(t), newHost(t), newHost(t), newHost(t)
	fed := newMembers(hA, hB, hC)
	a, b, c := newNode(t, hA, fed.Allow), newNode(t, hB, fed.Allow), newNode(t, hC, fed.Allow)
	d := newNode(t, hD, func(peer.ID) bool { return true }) // D would talk to anyone
	connect(t, hB, hA)
	connect(t, hC, hA)
	connect(t, hC, hB)
	connect(t, hD, hA)
	connect(t, hD, hB)
	connect(t, hD, hC)

	// Epoch 1 on A.
	root1, recs1 := writeEpoch(t, a, "aurora/test/A", 1, 5, cid.Undef)
	if err := a.PinEpoch(ctx, root1, cid.Undef); err != nil {
		t.Fatal(err)
	}
	mustPinned(t, a, append([]cid.Cid{root1}, recs1...)...)

	// B and C fetch it by CID over bitswap and pin it.
	for name, n := range map[string]*ipfs.Node{"B": b, "C": c} {
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := n.FetchDAG(fctx, root1)
		cancel()
		if err != nil {
			t.Fatalf("%s FetchDAG: %v", name, err)
		}
		mustPinned(t, n, append([]cid.Cid{root1}, recs1...)...)
		got, err := n.Get(ctx, recs1[3])
		want, _ := a.Get(ctx, recs1[3])
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s record: %v", name, err)
		}
	}

	// Epoch 2 on A; only B follows while A is up.
	root2, recs2 := writeEpoch(t, a, "aurora/test/A", 2, 5, root1)
	if err := a.PinEpoch(ctx, root2, root1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FetchEpoch(ctx, root2, ipfs.FetchOptions{Prev: root1}); err != nil {
		t.Fatal(err)
	}
	mustPinned(t, b, append(append([]cid.Cid{root2, root1}, recs1...), recs2...)...)

	// A goes offline; C gets epoch 2 from B.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := hA.Close(); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := c.FetchEpoch(fctx, root2, ipfs.FetchOptions{Prev: root1}); err != nil {
		t.Fatalf("C FetchEpoch from B: %v", err)
	}
	mustPinned(t, c, append(append([]cid.Cid{root2, root1}, recs1...), recs2...)...)
	er, err := c.GetEpochRoot(ctx, root2)
	if err != nil || er.PrevCID() != root1 || len(er.Records) != 5 {
		t.Fatalf("C's epoch 2 root: %+v, %v", er, err)
	}

	// D is connected to B and C, which hold everything, but is no member.
	dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
	defer dcancel()
	_, err = d.Get(dctx, root2)
	var miss *ipfs.MissingBlocksError
	if !errors.As(err, &miss) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("non-member Get: %v, want a MissingBlocksError at the deadline", err)
	}
}

// TestMembershipChanged: a connected peer refused while not a member is
// served once it becomes one, without reconnecting. (Wants it sent while
// refused are served from its next wantlist rebroadcast, within 30 s; the
// test fetches a DAG it has not asked for before.)
func TestMembershipChanged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts libp2p hosts")
	}
	ctx := t.Context()
	hA, hD := newHost(t), newHost(t)
	fed := newMembers(hA)
	a := newNode(t, hA, fed.Allow)
	d := newNode(t, hD, func(peer.ID) bool { return true })
	connect(t, hD, hA)
	root1, _ := writeEpoch(t, a, "aurora/test/A", 1, 3, cid.Undef)
	rootX, _ := writeEpoch(t, a, "aurora/test/X", 1, 3, cid.Undef)
	for _, r := range []cid.Cid{root1, rootX} {
		if err := a.PinRecursive(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := d.Get(short, root1); err == nil {
		t.Fatal("non-member fetched a block")
	}
	fed.Add(hD.ID())
	a.MembershipChanged()
	long, cancel2 := context.WithTimeout(ctx, 20*time.Second)
	defer cancel2()
	if err := d.FetchDAG(long, rootX); err != nil {
		t.Fatalf("new member FetchDAG: %v", err)
	}
}

func TestPut(t *testing.T) {
	n := newNode(t, newHost(t), nil)
	ctx := t.Context()
	raw, err := n.Put(ctx, []byte("raw bytes"), cid.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := n.Get(ctx, raw); err != nil || string(got) != "raw bytes" {
		t.Fatalf("Get raw: %q, %v", got, err)
	}
	rec := record(t, "o", 1, 1)
	c, err := n.Put(ctx, rec, cid.DagCBOR)
	if err != nil {
		t.Fatal(err)
	}
	if c != treaty.CIDOf(rec) {
		t.Fatalf("CID %s, want treaty.CIDOf %s", c, treaty.CIDOf(rec))
	}
	tests := []struct {
		name  string
		block []byte
		codec uint64
	}{
		{"dag-pb codec", rec, cid.DagProtobuf},
		{"not cbor", []byte{0xff, 0x00}, cid.DagCBOR},
		{"trailing bytes", append(bytes.Clone(rec), 0x01), cid.DagCBOR},
		{"unsorted keys", []byte{0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02}, cid.DagCBOR},
		{"oversize", make([]byte, ipfs.MaxBlockSize+1), cid.Raw},
		{"link to a sha1 CID", linkBlock(t, cid.NewCidV1(cid.DagCBOR, mustHash(t, 0x11))), cid.DagCBOR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := n.Put(ctx, tt.block, tt.codec)
			var be *ipfs.BlockError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want *BlockError", err)
			}
		})
	}
}

// TestPinRecursiveDanglingLink: a DAG with a link to a block nobody holds
// fails at once when pinning locally, and at the deadline when fetching,
// rather than hanging (notes §4.4, pitfall 2).
func TestPinRecursiveDanglingLink(t *testing.T) {
	n := newNode(t, newHost(t), nil)
	ctx := t.Context()
	absent := treaty.CIDOf([]byte{0xa0, 0x01}) // never stored
	root, err := n.Put(ctx, linkBlock(t, absent), cid.DagCBOR)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = n.PinRecursive(ctx, root)
	var miss *ipfs.MissingBlocksError
	if !errors.As(err, &miss) || miss.Count != 1 || miss.Missing[0] != absent {
		t.Fatalf("PinRecursive: %v, want the missing block named", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("PinRecursive took %v", time.Since(start))
	}
	fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := n.FetchDAG(fctx, root); !errors.As(err, &miss) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("FetchDAG: %v, want missing at the deadline", err)
	}
	if ok, _ := n.IsPinned(ctx, root); ok {
		t.Fatal("incomplete DAG was pinned")
	}
}

func TestPinEpochChain(t *testing.T) {
	n := newNode(t, newHost(t), nil)
	ctx := t.Context()
	var prev cid.Cid
	var roots []cid.Cid
	var allRecs []cid.Cid
	for e := 1; e <= 5; e++ {
		root, recs := writeEpoch(t, n, "o", e, 3, prev)
		if err := n.PinEpoch(ctx, root, prev); err != nil {
			t.Fatalf("epoch %d: %v", e, err)
		}
		// Idempotent: a repeat after a crash changes nothing.
		if err := n.PinEpoch(ctx, root, prev); err != nil {
			t.Fatalf("epoch %d again: %v", e, err)
		}
		roots = append(roots, root)
		allRecs = append(allRecs, recs...)
		prev = root
	}
	mustPinned(t, n, append(roots, allRecs...)...)
	// Only the head is pinned recursively: unpinning an old root fails.
	if err := n.Unpin(ctx, roots[0]); !errors.Is(err, ipfs.ErrNotPinned) {
		t.Fatalf("Unpin(old root) = %v, want ErrNotPinned", err)
	}
	// A root whose prev link is not the prev given is refused.
	other, _ := writeEpoch(t, n, "o", 9, 1, roots[1])
	var rerr *ipfs.EpochRootError
	if err := n.PinEpoch(ctx, other, roots[4]); !errors.As(err, &rerr) || rerr.Field != "prev" {
		t.Fatalf("PinEpoch with wrong prev: %v", err)
	}
	// Unpinning the head leaves nothing pinned.
	if err := n.Unpin(ctx, roots[4]); err != nil {
		t.Fatal(err)
	}
	if ok, _ := n.IsPinned(ctx, allRecs[0]); ok {
		t.Fatal("record still pinned after unpinning the head")
	}
	// A missing record makes PinEpoch fail rather than pin an incomplete DAG.
	r := &ipfs.EpochRoot{V: ipfs.EpochRootVersion, Origin: "o", Epoch: 10, Checkpoint: "cp", Count: 1,
		Records: []treaty.Link{treaty.LinkTo(treaty.CIDOf([]byte{0xa0, 0x02}))}}
	bad, err := n.PutEpochRoot(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var miss *ipfs.MissingBlocksError
	if err := n.PinEpoch(ctx, bad, cid.Undef); !errors.As(err, &miss) {
		t.Fatalf("PinEpoch with a missing record: %v", err)
	}
}

// TestPinsPersist: pins and blocks live in the datastore, so a node
// restarted on it still has them.
func TestPinsPersist(t *testing.T) {
	ds := newMapDatastore()
	h := newHost(t)
	ctx := t.Context()
	n1, err := ipfs.New(ctx, ipfs.Config{Host: h, Datastore: ds})
	if err != nil {
		t.Fatal(err)
	}
	root, recs := writeEpoch(t, n1, "o", 1, 2, cid.Undef)
	if err := n1.PinEpoch(ctx, root, cid.Undef); err != nil {
		t.Fatal(err)
	}
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Get(ctx, root); !errors.Is(err, ipfs.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	n2 := newNodeOn(t, h, ds, nil)
	mustPinned(t, n2, append([]cid.Cid{root}, recs...)...)
}

func TestConfigRequired(t *testing.T) {
	if _, err := ipfs.New(t.Context(), ipfs.Config{Datastore: newMapDatastore()}); err == nil {
		t.Error("New without a host succeeded")
	}
	if _, err := ipfs.New(t.Context(), ipfs.Config{Host: newHost(t)}); err == nil {
		t.Error("New without a datastore succeeded")
	}
}
