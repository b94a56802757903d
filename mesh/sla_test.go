package mesh_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/treaty"
)

// gauge returns the value of the one series of name whose labels include
// labels, and whether there is exactly one.
func gauge(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, want := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == k && lp.GetValue() == want
				}
				if !found {
					continue next
				}
			}
			v, n = m.GetGauge().GetValue(), n+1
		}
	}
	return v, n == 1
}

// TestSLAMeasured: on real hosts, each lane's fill ratio and forward RTT
// p95 are measured from the node's own forwards (a peer that acks fills,
// one that does not answer in time does not, a Denial counts in neither)
// and from the peer's orders it settled, exported with the treaty's
// targets, and forgotten once their treaty is revoked or they leave the
// window.
func TestSLAMeasured(t *testing.T) {
	const fed = "sla"
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	nodes := meshtest.Start(t, 3, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		if i == 0 {
			c.Clock, c.SLAWindow = clock, time.Minute
		}
	}})
	a, b, c := nodes[0], nodes[1], nodes[2]
	ab := meshtest.Activate(t, fed, a, b)
	ac := meshtest.Activate(t, fed, a, c)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the meshes close
	c.Acker.SetBefore(func(ctx context.Context, _ treaty.DID) error {
		select { // answers, but only after the sender gave up
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	var denyNext atomic.Bool
	b.Acker.SetDeny(func(*treaty.Order) []string {
		if denyNext.CompareAndSwap(true, false) {
			return []string{"quota"}
		}
		return nil
	})
	client := meshtest.RandomKey(t)
	forward := func(to *meshtest.Node, id treaty.Link, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		_, err := a.Forward(ctx, to.DID(), id, meshtest.Order(t, client, time.Now()))
		return err
	}
	for range 3 {
		if err := forward(b, ab, meshtest.Wait); err != nil {
			t.Fatal(err)
		}
	}
	denyNext.Store(true)
	if err := forward(b, ab, meshtest.Wait); err != nil {
		t.Fatal(err)
	}
	const patience = 300 * time.Millisecond
	for range 2 {
		if err := forward(c, ac, patience); err == nil {
			t.Fatal("the silent peer answered in time")
		}
	}
	// A forward its caller cancelled says nothing about the peer.
	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := a.Forward(cctx, c.DID(), ac, meshtest.Order(t, client, time.Now())); err == nil {
		t.Fatal("a cancelled forward succeeded")
	}

	sent := func(peer *meshtest.Node, id treaty.Link) map[string]string {
		return map[string]string{"treaty": id.String(), "peer": string(peer.DID()), "side": mesh.SLASent}
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"aurora_treaty_sla_fill_ratio", sent(b, ab), 1},
		{"aurora_treaty_sla_samples", sent(b, ab), 3},
		{"aurora_treaty_sla_fill_target_ratio", sent(b, ab), 0.8},
		{"aurora_treaty_sla_fill_ratio", sent(c, ac), 0},
		{"aurora_treaty_sla_samples", sent(c, ac), 2},
		{"aurora_treaty_sla_rtt_target_seconds", map[string]string{"treaty": ac.String(), "peer": string(c.DID())}, 0.35},
	} {
		if got, ok := gauge(t, a.Registry, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	rttB, okB := gauge(t, a.Registry, "aurora_treaty_sla_rtt_p95_seconds", map[string]string{"peer": string(b.DID())})
	rttC, okC := gauge(t, a.Registry, "aurora_treaty_sla_rtt_p95_seconds", map[string]string{"peer": string(c.DID())})
	if !okB || !okC || rttC < patience.Seconds() || rttB >= rttC {
		t.Errorf("RTT p95: acking peer %v s (%v), silent peer %v s (%v): want the silent one ≥ %v s and the slower", rttB, okB, rttC, okC, patience.Seconds())
	}

	// The receiving side: what became of the orders it acked for a.
	b.ObserveSettled(a.DID(), ab, true)
	b.ObserveSettled(a.DID(), ab, true)
	b.ObserveSettled(a.DID(), ab, false)
	b.ObserveSettled(a.DID(), treaty.LinkTo(treaty.CIDOf([]byte("no such treaty"))), true)
	recv := map[string]string{"treaty": ab.String(), "peer": string(a.DID()), "side": mesh.SLARecv}
	if got, ok := gauge(t, b.Registry, "aurora_treaty_sla_fill_ratio", recv); !ok || got != 2.0/3 {
		t.Errorf("receiving side fill ratio = %v (found %v), want 2/3", got, ok)
	}
	if got := meshtest.Metric(t, b.Registry, "aurora_treaty_orders_filled_total", nil); got != 3 {
		t.Errorf("aurora_treaty_orders_filled_total = %v, want 3 (the unknown treaty's fill counts, its lane is not measured)", got)
	}
	if _, ok := gauge(t, b.Registry, "aurora_treaty_sla_rtt_p95_seconds", nil); ok {
		t.Error("the receiving side exports an RTT it cannot measure")
	}

	// A lane whose treaty is no longer active is forgotten.
	if err := a.Revoke(t.Context(), ac, "test"); err != nil {
		t.Fatal(err)
	}
	if _, ok := gauge(t, a.Registry, "aurora_treaty_sla_samples", sent(c, ac)); ok {
		t.Error("the revoked treaty's lane is still exported")
	}
	if _, ok := gauge(t, a.Registry, "aurora_treaty_sla_samples", sent(b, ab)); !ok {
		t.Error("the revocation dropped another treaty's lane")
	}

	// Out of the window, the lanes are forgotten.
	skew.Store(int64(2 * time.Minute))
	for _, name := range []string{"aurora_treaty_sla_fill_ratio", "aurora_treaty_sla_samples", "aurora_treaty_sla_rtt_p95_seconds"} {
		if got := meshtest.Metric(t, a.Registry, name, nil); got != 0 {
			t.Errorf("%s = %v after the window passed, want no series", name, got)
		}
		if _, ok := gauge(t, a.Registry, name, map[string]string{"peer": string(b.DID())}); ok {
			t.Errorf("%s still has a series for the acking peer after the window", name)
		}
	}
}
