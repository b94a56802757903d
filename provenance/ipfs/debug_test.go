package ipfs_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/provenance/ipfs"
)

func TestDebugMembership(t *testing.T) {
	ctx := t.Context()
	hA, hD := newHost(t), newHost(t)
	fed := newMembers(hA)
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := ipfs.New(ctx, ipfs.Config{Host: hA, Datastore: newMapDatastore(), Allow: fed.Allow, Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d, err := ipfs.New(ctx, ipfs.Config{Host: hD, Datastore: newMapDatastore(), Allow: func(peer.ID) bool { return true }, Logger: lg.With("node", "D")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	connect(t, hD, hA)
	t.Logf("A=%s D=%s", hA.ID(), hD.ID())
	root, _ := writeEpoch(t, a, "aurora/test/A", 1, 3, cid.Undef)
	if err := a.PinEpoch(ctx, root, cid.Undef); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := d.Get(short, root); err == nil {
		t.Fatal("non-member fetched a block")
	}
	fed.Add(hD.ID())
	a.MembershipChanged()
	long, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	if err := d.FetchDAG(long, root); err != nil {
		t.Fatalf("new member FetchDAG: %v", err)
	}
}
