package testnet

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/providers/vastai/vastaitest"
	"github.com/aurora-federation/aurora/treaty"
)

// TestCancelForwardedOnTheVastFake: on real nodes over libp2p, a job the
// origin forwarded runs at the peer on the Vast.ai fake; the tenant's
// Cancel, posted to the origin, is relayed over /aurora/cancel/1.0.0 to
// the peer, which destroys the instance at the fake. Both nodes record the
// job canceled and log the Cancel next to the canceled job leaf. A
// stranger's Cancel at the origin is refused and reaches nobody.
func TestCancelForwardedOnTheVastFake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a two-node federation: the long suite runs it")
	}
	tn, err := Start(t.Context(), Config{Nodes: 2, Dir: t.TempDir(), SimFailure: 0.0001, Epoch: 500 * time.Millisecond, Fakes: []string{"vastai"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := tn.ExchangeTreaties(ctx, treaty.TemplateBilateral, nil); err != nil {
		t.Fatal(err)
	}
	fake := tn.Fakes[0].server.(*vastaitest.Server)
	origin, peer := tn.Nodes[0], tn.Nodes[1]
	o, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "RTX 4090:1", MaxPrice: "3/h", Duration: time.Hour,
		Regions: peer.Regions, Providers: []string{"vastai"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := origin.API.Submit(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var ack treaty.Ack
	if r.Result != "ack" || treaty.DecodeJSON(r.Record, &ack) != nil || ack.Route.Kind != treaty.RoutePeer || ack.Route.Name != string(peer.Identity().DID) {
		t.Fatalf("origin answered %s %s: want an Ack forwarded to the peer", r.Result, r.Record)
	}
	if j, err := peer.API.WaitSettled(ctx, r.Job); err != nil || j.Status != treaty.StatusRunning {
		t.Fatalf("job at the peer: %+v %v", j, err)
	}
	if n := len(fake.Instances()); n != 1 {
		t.Fatalf("%d instances at the fake", n)
	}

	stranger, err := treaty.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := client.BuildCancel(stranger, r.Job, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := origin.API.Cancel(ctx, bad); err == nil {
		t.Fatal("a stranger's cancel was taken")
	}
	if len(fake.Instances()) != 1 {
		t.Fatal("a stranger's cancel destroyed the instance")
	}

	rec, err := client.BuildCancel(tn.Client, r.Job, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := origin.API.Cancel(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != treaty.StatusCanceled || got.Already {
		t.Errorf("origin's answer: %+v", got)
	}
	if n := len(fake.Instances()); n != 0 {
		t.Errorf("%d instances at the fake after the cancel", n)
	}
	for _, n := range []*Node{origin, peer} {
		j, err := n.API.Job(ctx, r.Job)
		if err != nil || j.Status != treaty.StatusCanceled {
			t.Fatalf("job at %s: %+v %v", n.Identity().DID.Short(), j, err)
		}
		leaf, err := n.Log().Leaf(ctx, j.Leaves[len(j.Leaves)-2])
		if err != nil {
			t.Fatal(err)
		}
		var e treaty.LogEntry
		if err := treaty.Decode(leaf, &e); err != nil || e.Cancel == nil || e.Cancel.Client != tn.Client.DID() {
			t.Errorf("%s: the leaf before the canceled job is %+v (%v), want the tenant's Cancel", n.Identity().DID.Short(), e, err)
		}
	}
	if again, err := origin.API.Cancel(ctx, rec); err != nil || !again.Already {
		t.Errorf("second cancel: %+v %v", again, err)
	}
}
