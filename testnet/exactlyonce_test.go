package testnet

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/providers/sim"
	"github.com/aurora-federation/aurora/treaty"
)

// TestForwardAnswerCutLaunchesOnce: on real libp2p hosts, every treaty peer
// commits the forwarded order and then its answer is cut (the stream is
// reset, also on the mesh's resend). The origin must not move on to the
// next peer: it asks the peer that holds the job, acks with that peer's
// Ack, and the workload is launched once across the federation.
func TestForwardAnswerCutLaunchesOnce(t *testing.T) {
	var cuts atomic.Int64
	cut := func(i int) func(context.Context, treaty.DID, []byte, error) error {
		if i == 0 {
			return nil
		}
		return func(_ context.Context, _ treaty.DID, reply []byte, err error) error {
			if err == nil {
				cuts.Add(1)
				return mesh.ErrResetStream // committed, and the answer is lost
			}
			return nil
		}
	}
	tn, err := Start(t.Context(), Config{Nodes: 3, Dir: t.TempDir(), SimFailure: 0.0001, Epoch: 500 * time.Millisecond, OrderFault: cut})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := tn.ExchangeTreaties(ctx, treaty.TemplateBilateral, nil); err != nil {
		t.Fatal(err)
	}
	peerSims := []string{"sim-" + tn.Nodes[1].Regions[0], "sim-" + tn.Nodes[2].Regions[0]}
	o, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h",
		Regions: []string{tn.Nodes[1].Regions[0], tn.Nodes[2].Regions[0]}, Providers: peerSims}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := tn.Nodes[0].API.Submit(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var ack treaty.Ack
	if r.Result != "ack" || treaty.DecodeJSON(r.Record, &ack) != nil || ack.Route.Kind != treaty.RoutePeer || len(ack.Via) != 1 {
		t.Fatalf("origin answered %s %s: want an Ack forwarded to the peer that holds the job", r.Result, r.Record)
	}
	if cuts.Load() == 0 {
		t.Fatal("no answer was cut: the test did not inject its fault")
	}
	var ran *Node
	for _, n := range tn.Nodes[1:] {
		if ack.Route.Name == string(n.Identity().DID) {
			ran = n
		}
	}
	if ran == nil {
		t.Fatalf("ack routed to %s, not a peer", ack.Route.Name)
	}
	var peerAck treaty.Ack
	if err := treaty.Decode(ack.Via[0].Ack, &peerAck); err != nil {
		t.Fatal(err)
	}
	if j, err := ran.API.WaitSettled(ctx, peerAck.Job); err != nil || j.Status != treaty.StatusRunning {
		t.Fatalf("job at the peer: %+v %v", j, err)
	}
	// The other peer may still be handed the order by a late stream: give
	// it a moment, then count every launch of every sim in the federation.
	time.Sleep(500 * time.Millisecond)
	var launched int64
	for _, n := range tn.Nodes {
		for _, name := range []string{"sim-" + n.Regions[0], "sim-" + n.Regions[0] + "-b"} {
			if p, ok := n.Provider(name).(*sim.Provider); ok {
				launched += p.Stats().Launched
			}
		}
	}
	if launched != 1 {
		t.Errorf("the order was launched %d times across the federation, want 1", launched)
	}
	if r2, err := tn.Nodes[0].API.Submit(ctx, o); err != nil || r2.CID != r.CID || !r2.Replayed {
		t.Errorf("resubmission: %+v %v, want the original Ack", r2, err)
	}
}
