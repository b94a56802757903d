package mesh_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/treaty"
)

// fakeClock is a settable time source.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// TestLifecycle drives a treaty through the book: proposed, active (its
// CID changes; the proposal's CID stays an alias), superseded by a higher
// seq, revoked by a party, expired by the clock; lanes and PeersFor follow.
func TestLifecycle(t *testing.T) {
	const fed = "life"
	clock := &fakeClock{}
	clock.Set(time.Now())
	var mu sync.Mutex
	var seen []treaty.State
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		c.Clock = clock.Now
		if i == 0 {
			c.OnTreaty = func(info mesh.TreatyInfo) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, info.State)
			}
		}
	}})
	a, b := nodes[0], nodes[1]
	ctx := t.Context()

	t1 := meshtest.Bilateral(t, fed, a.DID(), b.DID(), map[string]string{"regions": "eu-west,us-east"})
	t1.NotBefore, t1.NotAfter = clock.Now().Add(-time.Minute).Unix(), clock.Now().Add(time.Hour).Unix()
	proposal, err := a.Propose(ctx, t1)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := a.Get(proposal); info.State != treaty.StateProposed || !slices.Equal(info.Signed, []treaty.DID{a.DID()}) {
		t.Fatalf("after Propose: %s signed by %v", info.State, info.Signed)
	}
	order := &treaty.Order{Constraints: treaty.Constraints{Regions: []string{"eu-west"}}}
	if got := a.PeersFor(order); len(got) != 0 {
		t.Fatalf("PeersFor before activation = %v, want none", got)
	}
	meshtest.WaitFor(t, meshtest.Wait, "B to see the proposal", func() bool { _, err := b.Get(proposal); return err == nil })
	if err := b.Countersign(ctx, proposal); err != nil {
		t.Fatal(err)
	}
	var active treaty.Link
	meshtest.WaitFor(t, meshtest.Wait, "activation at A", func() bool {
		info, err := a.Get(proposal)
		active = info.CID
		return err == nil && info.State == treaty.StateActive
	})
	if active.Equals(proposal.Cid) {
		t.Fatal("the countersigned treaty kept the proposal's CID")
	}
	if _, err := a.Get(active); err != nil {
		t.Fatalf("Get(final CID): %v", err)
	}

	// Lanes and peer options.
	opts := a.PeersFor(order)
	if len(opts) != 1 || opts[0].DID != b.DID() || !opts[0].Treaty.Equals(active.Cid) || !slices.Equal(opts[0].Regions, []string{"eu-west"}) {
		t.Fatalf("PeersFor(eu-west) = %+v, want B under %s in eu-west", opts, active)
	}
	if got := a.PeersFor(&treaty.Order{Constraints: treaty.Constraints{Regions: []string{"ap-south"}}}); len(got) != 0 {
		t.Fatalf("PeersFor(ap-south) = %+v, want none: the treaty is eu-west and us-east only", got)
	}
	if _, lane, err := b.Lane(ctx, proposal, a.DID()); err != nil || lane.From != a.DID() || lane.To != b.DID() {
		t.Fatalf("Lane by the proposal's CID = %+v, %v", lane, err)
	}
	var le *mesh.LaneError
	if _, _, err := b.Lane(ctx, active, meshtest.RandomKey(t).DID()); !errors.As(err, &le) {
		t.Fatalf("Lane from a stranger = %v, want *mesh.LaneError", err)
	}

	// Superseded: seq 2 between the same parties.
	t2 := *t1
	t2.Seq, t2.Sigs = 2, nil
	id2, err := a.Propose(ctx, &t2)
	if err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "B to see seq 2", func() bool { _, err := b.Get(id2); return err == nil })
	if err := b.Countersign(ctx, id2); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "seq 1 superseded at A", func() bool {
		info, _ := a.Get(active)
		return info.State == treaty.StateSuperseded
	})
	opts = a.PeersFor(order)
	if len(opts) != 1 || opts[0].Treaty.Equals(active.Cid) {
		t.Fatalf("PeersFor after supersession = %+v, want the seq 2 treaty only", opts)
	}

	// Revoked by B, seen by A.
	if err := b.Revoke(ctx, id2, "testing"); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "the revocation at A", func() bool {
		info, _ := a.Get(id2)
		return info.State == treaty.StateRevoked
	})
	var se *mesh.StateError
	if err := a.Revoke(ctx, id2, "again"); !errors.As(err, &se) {
		t.Fatalf("revoking a revoked treaty = %v, want *mesh.StateError", err)
	}
	// With seq 2 revoked, seq 1 is active again.
	if info, _ := a.Get(active); info.State != treaty.StateActive {
		t.Fatalf("seq 1 after seq 2's revocation: %s, want active", info.State)
	}

	// Expired by the clock.
	clock.Add(2 * time.Hour)
	if info, _ := a.Get(active); info.State != treaty.StateExpired {
		t.Fatalf("after not_after: %s, want expired", info.State)
	}
	if got := a.PeersFor(order); len(got) != 0 {
		t.Fatalf("PeersFor after expiry = %+v, want none", got)
	}
	if err := a.Countersign(ctx, active); !errors.As(err, &se) {
		t.Fatalf("countersigning an expired treaty = %v, want *mesh.StateError", err)
	}

	if _, err := a.Get(treaty.LinkTo(treaty.CIDOf([]byte("nothing")))); !errors.Is(err, mesh.ErrNotFound) {
		t.Fatalf("Get(unknown) = %v, want ErrNotFound", err)
	}
	if got := len(a.List()); got != 2 {
		t.Fatalf("List has %d treaties, want 2", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(seen, treaty.StateProposed) || !slices.Contains(seen, treaty.StateActive) || !slices.Contains(seen, treaty.StateRevoked) {
		t.Errorf("OnTreaty saw %v, want proposed, active and revoked among them", seen)
	}
}

// TestPeers lists connected peers and treaty partners with their
// treaties and gossipsub scores, which include Config.PeerScore (clamped).
func TestPeers(t *testing.T) {
	pb, err := mesh.PeerIDOf(meshtest.Key(t, 1).DID())
	if err != nil {
		t.Fatal(err)
	}
	nodes := meshtest.Start(t, 3, meshtest.Options{Federation: "peers", Configure: func(i int, c *mesh.Config) {
		if i == 0 {
			c.PeerScore = func(p peer.ID) float64 {
				if p == pb {
					return 42
				}
				return -1e9
			}
		}
	}})
	a, b, c := nodes[0], nodes[1], nodes[2]
	id := meshtest.Activate(t, "peers", a, b)
	meshtest.WaitFor(t, meshtest.Wait, "A's peer list", func() bool {
		ps := a.Peers()
		if len(ps) != 2 {
			return false
		}
		for _, p := range ps {
			switch p.DID {
			case b.DID():
				if !p.Connected || len(p.Treaties) != 1 || !p.Treaties[0].Equals(id.Cid) || p.ID != b.ID() || len(p.Addrs) == 0 || p.Score < 42 {
					return false
				}
			case c.DID():
				// -1e9 is clamped: P5 cannot push a peer below -1000.
				if !p.Connected || len(p.Treaties) != 0 || p.Score > -1000 || p.Score < -1100 {
					return false
				}
			default:
				return false
			}
		}
		return true
	})
	for _, addr := range a.Addrs() {
		if _, err := addr.ValueForProtocol(0x01a5); err != nil { // /p2p
			t.Errorf("Addrs() entry %s lacks /p2p", addr)
		}
	}
}
