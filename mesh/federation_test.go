package mesh_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/treaty"
)

// TestFederation3 runs three real hosts: a treaty proposed on A and
// countersigned on B becomes active on every node; an order forwarded
// A → B reaches B's handler and B's signed Ack comes back; C, with no
// lane, refuses an order with an error frame.
func TestFederation3(t *testing.T) {
	federation(t, 3)
}

// TestFederation10 is the same with ten nodes in a sparse topology.
func TestFederation10(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 10 hosts")
	}
	federation(t, 10)
}

func federation(t *testing.T, n int) {
	nodes := meshtest.Start(t, n, meshtest.Options{Federation: "fed"})
	a, b, c := nodes[0], nodes[1], nodes[2]
	id := meshtest.Activate(t, "fed", a, b)
	for _, nd := range nodes {
		meshtest.WaitFor(t, meshtest.Wait, "the treaty to be active on every node", func() bool {
			info, err := nd.Get(id)
			return err == nil && info.State == treaty.StateActive
		})
	}

	client := meshtest.RandomKey(t)
	ctx, cancel := context.WithTimeout(t.Context(), meshtest.Wait)
	defer cancel()
	order := meshtest.Order(t, client, time.Now())
	reply, err := a.Forward(ctx, b.DID(), id, order)
	if err != nil {
		t.Fatalf("Forward A → B: %v", err)
	}
	var ack treaty.Ack
	if err := treaty.Decode(reply, &ack); err != nil {
		t.Fatalf("reply is not an Ack: %v", err)
	}
	if err := treaty.Verify(&ack); err != nil || ack.Operator != b.DID() {
		t.Fatalf("Ack by %s does not verify as B's: %v", ack.Operator.Short(), err)
	}
	if !ack.Order.Equals(treaty.CIDOf(order)) {
		t.Fatalf("Ack is for order %s, want %s", ack.Order, treaty.CIDOf(order))
	}
	if got := b.Acker.Calls(); got != 1 {
		t.Errorf("B's handler ran %d times, want 1", got)
	}

	// C is not a party: the lane check refuses before C's handler runs.
	_, err = a.Forward(ctx, c.DID(), id, meshtest.Order(t, client, time.Now()))
	var fe *mesh.ForwardError
	if !errors.As(err, &fe) || fe.Code != mesh.CodeNoLane {
		t.Fatalf("Forward A → C: got %v, want a ForwardError with code %s", err, mesh.CodeNoLane)
	}
	if got := c.Acker.Calls(); got != 0 {
		t.Errorf("C's handler ran %d times, want 0", got)
	}
	for _, tc := range []struct {
		node  *meshtest.Node
		label string
		want  float64
	}{
		{a, mesh.LaneSentAck, 1}, {a, mesh.LaneSentError, 1}, {b, mesh.LaneRecvAck, 1}, {c, mesh.LaneRecvError, 1},
	} {
		if got := meshtest.Metric(t, tc.node.Registry, "aurora_treaty_orders_total", map[string]string{"lane_result": tc.label}); got != tc.want {
			t.Errorf("node %d: aurora_treaty_orders_total{lane_result=%q} = %v, want %v", tc.node.Index, tc.label, got, tc.want)
		}
	}
	if got := meshtest.Metric(t, a.Registry, "aurora_treaty_rtt_seconds", nil); got != 2 {
		t.Errorf("aurora_treaty_rtt_seconds has %v samples, want 2", got)
	}
}
