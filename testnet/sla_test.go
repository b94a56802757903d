package testnet

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/treaty"
)

// laneGauge is the value of the one series of name with exactly these
// lane labels, and whether there is one.
func laneGauge(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			match := len(got) == len(labels)
			for k, v := range labels {
				match = match && got[k] == v
			}
			if match {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestTreatySLAMeasured: node0 forwards to node1, which fills, and to
// node2, which commits but answers only after node0 gave up (the forward
// timeout, 2 s). From its own observations node0 exports each lane's fill
// ratio and RTT p95 beside the treaty's targets: node1's lane meets them,
// node2's breaks both. node0's peer scores move the same way, and the
// receiving nodes measure their own fill of node0's orders.
func TestTreatySLAMeasured(t *testing.T) {
	late := func(i int) func(context.Context, treaty.DID, []byte, error) error {
		if i != 2 {
			return nil
		}
		return func(ctx context.Context, _ treaty.DID, _ []byte, _ error) error {
			select {
			case <-time.After(3 * time.Second):
			case <-ctx.Done():
			}
			return nil // the original answer, late
		}
	}
	tn, err := Start(t.Context(), Config{Nodes: 3, Dir: t.TempDir(), SimFailure: 0.0001, OrderFault: late})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	n0, n1, n2 := tn.Nodes[0], tn.Nodes[1], tn.Nodes[2]
	// Each treaty covers its peer's region only, so each order has one
	// peer to go to.
	t01 := activate(t, ctx, n0, n1, map[string]string{"regions": n1.Regions[0]})
	t02 := activate(t, ctx, n0, n2, map[string]string{"regions": n2.Regions[0]})
	prior := n0.PeerReputation(n1.Identity().DID)

	submit := func(peer *Node) {
		t.Helper()
		o, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h", Regions: peer.Regions}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r, err := n0.API.Submit(ctx, o)
		var ack treaty.Ack
		if err != nil || r.Result != "ack" || treaty.DecodeJSON(r.Record, &ack) != nil || ack.Route.Name != string(peer.Identity().DID) {
			t.Fatalf("order for %v: %+v %v, want an Ack forwarded to that peer", peer.Regions, r, err)
		}
	}
	for range 3 {
		submit(n1)
	}
	for range 2 {
		submit(n2) // 2 s timeout, then node0 asks and gets the Ack
	}

	reg := n0.Metrics().Registry
	lane := func(id treaty.Link, peer *Node, side string) map[string]string {
		l := map[string]string{"treaty": id.String(), "peer": string(peer.Identity().DID)}
		if side != "" {
			l["side"] = side
		}
		return l
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"aurora_treaty_sla_fill_ratio", lane(t01, n1, "sent"), 1},
		{"aurora_treaty_sla_samples", lane(t01, n1, "sent"), 3},
		{"aurora_treaty_sla_fill_target_ratio", lane(t01, n1, "sent"), 0.8},
		{"aurora_treaty_sla_rtt_target_seconds", lane(t01, n1, ""), 0.35},
		{"aurora_treaty_sla_fill_ratio", lane(t02, n2, "sent"), 0},
		{"aurora_treaty_sla_samples", lane(t02, n2, "sent"), 2},
		{"aurora_treaty_sla_fill_target_ratio", lane(t02, n2, "sent"), 0.8},
		{"aurora_treaty_sla_rtt_target_seconds", lane(t02, n2, ""), 0.35},
	} {
		if got, ok := laneGauge(t, reg, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("node0 %s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	fast, ok1 := laneGauge(t, reg, "aurora_treaty_sla_rtt_p95_seconds", lane(t01, n1, ""))
	slow, ok2 := laneGauge(t, reg, "aurora_treaty_sla_rtt_p95_seconds", lane(t02, n2, ""))
	if !ok1 || !ok2 || slow < 2 || fast >= slow {
		t.Errorf("node0 RTT p95: node1 %v s (%v), node2 %v s (%v): want node2's ≥ the 2 s forward timeout and above node1's", fast, ok1, slow, ok2)
	}
	// The peer scores move with the SLA: node1 above the prior, node2 below.
	if s1, s2 := n0.PeerReputation(n1.Identity().DID), n0.PeerReputation(n2.Identity().DID); !(s1 > prior && s2 < prior) {
		t.Errorf("node0's peer scores: node1 %d, node2 %d, prior %d: want node1 above and node2 below", s1, s2, prior)
	}

	// The receivers measure their own fill: every job node0 sent them runs
	// (node2's answers were late, its jobs were not).
	for _, tc := range []struct {
		n  *Node
		id treaty.Link
		k  float64
	}{{n1, t01, 3}, {n2, t02, 2}} {
		recv := lane(tc.id, n0, "recv")
		if err := waitFor(ctx, func() bool {
			v, ok := laneGauge(t, tc.n.Metrics().Registry, "aurora_treaty_sla_samples", recv)
			return ok && v == tc.k
		}); err != nil {
			t.Fatalf("the receiver never settled node0's %v jobs", tc.k)
		}
		if got, ok := laneGauge(t, tc.n.Metrics().Registry, "aurora_treaty_sla_fill_ratio", recv); !ok || got != 1 {
			t.Errorf("receiver's fill ratio of node0's orders = %v (found %v), want 1", got, ok)
		}
		// The filled-orders metric counts them.
		if got := meshtest.Metric(t, tc.n.Metrics().Registry, "aurora_treaty_orders_filled_total", nil); got != tc.k {
			t.Errorf("receiver's aurora_treaty_orders_filled_total = %v, want %v", got, tc.k)
		}
	}
	// node0's peer observations, the inputs of those scores, are counted:
	// node1's three Acks, node2's two timeouts.
	obs := func(outcome string) float64 {
		return meshtest.Metric(t, reg, "aurora_reputation_observations_total", map[string]string{"kind": "peer", "outcome": outcome})
	}
	if acked, timeout := obs("acked"), obs("timeout"); acked < 3 || timeout < 2 {
		t.Errorf("node0's aurora_reputation_observations_total{kind=peer}: acked %v, timeout %v; want ≥ 3 and ≥ 2", acked, timeout)
	}
}
