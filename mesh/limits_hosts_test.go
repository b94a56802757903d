package mesh_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// forwardBudget is the latency a treaty partner's forward must keep under
// attack: loopback forwards take milliseconds, and the box is shared.
const forwardBudget = 5 * time.Second

// TestStreamExhaustion is the attack on real hosts: four strangers
// each open 512 /aurora/order/1.0.0 streams and leave them unfinished
// (half a frame sent). Each keeps StrangerOrderStreamsPerPeer; the rest
// are reset before a byte of the request is read. The treaty partner's
// forwards all succeed within forwardBudget.
func TestStreamExhaustion(t *testing.T) {
	const (
		fed         = "exhaust"
		identities  = 4
		perIdentity = 512
	)
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, fed, a, b)

	var streams []network.Stream
	for i := range identities {
		key := meshtest.RandomKey(t)
		priv, err := crypto.UnmarshalEd25519PrivateKey(key.Ed25519())
		if err != nil {
			t.Fatal(err)
		}
		// No resource manager on the attacker's side: it opens all it wants.
		h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics(),
			libp2p.ResourceManager(&network.NullResourceManager{}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		if err := h.Connect(t.Context(), meshtest.AddrInfo(b.Mesh)); err != nil {
			t.Fatal(err)
		}
		for j := range perIdentity {
			ctx, cancel := context.WithTimeout(t.Context(), forwardBudget)
			s, err := h.NewStream(ctx, b.ID(), mesh.ProtocolOrder)
			cancel()
			if err != nil {
				// Without the stranger budget, the connection stops taking
				// streams here: the node is saturated.
				t.Errorf("stranger %d could not open stream %d: %v", i, j, err)
				break
			}
			// A 100-byte frame of which one byte comes: the handler would
			// wait for the rest until its deadline.
			if _, err := s.Write([]byte{100, 0xa1}); err != nil {
				s.Reset()
				continue
			}
			streams = append(streams, s)
		}
	}
	t.Cleanup(func() {
		for _, s := range streams {
			s.Reset()
		}
	})
	refused := func() float64 {
		return meshtest.Metric(t, b.Registry, "aurora_mesh_refused_total", map[string]string{"kind": string(mesh.ProtocolOrder), "reason": mesh.RefusedPeerBudget})
	}
	const wantRefused = identities * (perIdentity - mesh.StrangerOrderStreamsPerPeer)
	meshtest.WaitFor(t, meshtest.Wait, "the strangers' streams over budget to be refused", func() bool { return refused() >= wantRefused })
	active := meshtest.Metric(t, b.Registry, "aurora_mesh_streams_active", map[string]string{"protocol": string(mesh.ProtocolOrder)})
	if active > identities*mesh.StrangerOrderStreamsPerPeer {
		t.Errorf("%v order streams held by strangers, want at most %d", active, identities*mesh.StrangerOrderStreamsPerPeer)
	}

	// The partner's forwards, 42 at once as in the wave.
	const wave = 42
	client := meshtest.RandomKey(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		worst time.Duration
		errs  []error
	)
	for range wave {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), forwardBudget)
			defer cancel()
			start := time.Now()
			_, err := a.Forward(ctx, b.DID(), id, meshtest.Order(t, client, time.Now()))
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			worst = max(worst, d)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d partner forwards failed under attack, first: %v", len(errs), wave, errs[0])
	}
	t.Logf("%d partner forwards under %d held stranger streams (%v refused): slowest %s", wave, len(streams), refused(), worst)
}

// TestSybils: fresh keys with no treaty publish reputation reports that a
// partner and a provider fail everything, floods of proposals naming the
// node, and bursts of anchors. No score moves, no sybil gains a lane or
// partnership, their reports are ignored, their proposals past the bound
// are ignored, and their gossip past the rate is ignored.
func TestSybils(t *testing.T) {
	const (
		fed       = "sybil"
		sybils    = 8
		proposals = 2 * mesh.MaxProposalsPerSigner
		anchors   = 48
	)
	rep, err := providers.NewReputation(providers.ReputationConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rep.Track("sim-eu")
	var mu sync.Mutex
	delivered := map[treaty.DID]int{}
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		if i == 1 {
			c.OnReputation = func(from treaty.DID, r *treaty.ReputationReport) {
				mu.Lock()
				delivered[from]++
				mu.Unlock()
				rep.Blend(r, 0.25) // the old stranger trust: the mesh must not deliver
			}
		}
	}})
	a, b := nodes[0], nodes[1]
	meshtest.Activate(t, fed, a, b)
	now := time.Now()
	epoch := b.ReputationEpochOf(now)
	topics := mesh.Topics(fed)
	var sybilDIDs []treaty.DID
	for range sybils {
		s := newAttacker(t, fed)
		s.connect(t, b)
		sybilDIDs = append(sybilDIDs, s.key.DID())
		r := &treaty.ReputationReport{V: treaty.Version, Reporter: s.key.DID(), Federation: fed, Epoch: epoch, At: now.Unix(),
			Providers: []treaty.ProviderStat{{Name: "sim-eu", Launched: 1000, Failed: 1000}},
			Peers:     []treaty.PeerStat{{DID: a.DID(), Forwarded: 1000, Filled: 0}}}
		if err := treaty.Sign(r, s.key); err != nil {
			t.Fatal(err)
		}
		s.publish(t, topics[1], encode(t, r))
		for seq := range proposals {
			tr := meshtest.Bilateral(t, fed, s.key.DID(), b.DID(), nil)
			tr.Seq = int64(seq + 1)
			if err := treaty.SignTreaty(tr, s.key); err != nil {
				t.Fatal(err)
			}
			s.publish(t, topics[0], envelope(t, "treaty", encode(t, tr)))
		}
		origin := fmt.Sprintf("aurora/%s/%s", fed, s.h.ID())
		for size := range anchors {
			s.publish(t, topics[2], encode(t, &treaty.Anchor{V: 1, Origin: origin, Checkpoint: fmt.Sprintf("%s\n%d\nAAAA\n\n— o sig\n", origin, size+1), TSA: [][]byte{}}))
		}
	}
	refused := func(kind, reason string) float64 {
		return meshtest.Metric(t, b.Registry, "aurora_mesh_refused_total", map[string]string{"kind": kind, "reason": reason})
	}
	meshtest.WaitFor(t, meshtest.Wait, "the sybils' gossip to be judged", func() bool {
		return refused("reputation", mesh.RefusedNotMember) >= sybils && refused("treaty", mesh.RefusedProposals) >= sybils*(proposals-mesh.MaxProposalsPerSigner) &&
			refused("anchor", mesh.RefusedRate) >= 1
	})

	// No score moved.
	if got := rep.PeerScore(a.DID()); got != rep.Prior() {
		t.Errorf("the partner's score moved to %d", got)
	}
	if got := rep.Score("sim-eu"); got != rep.Prior() {
		t.Errorf("provider sim-eu's score moved to %d", got)
	}
	mu.Lock()
	for _, d := range sybilDIDs {
		if delivered[d] > 0 {
			t.Errorf("a sybil's report reached OnReputation")
		}
	}
	mu.Unlock()
	// They gained nothing: no partnership, no lane, a bounded book share.
	perSybil := map[treaty.DID]int{}
	for _, info := range b.List() {
		for _, d := range info.Signed {
			perSybil[d]++
		}
		if info.State == treaty.StateActive && len(info.Signed) < 2 {
			t.Errorf("a proposal is active: %s", info.CID)
		}
	}
	for _, d := range sybilDIDs {
		if b.IsPartner(d) {
			t.Errorf("sybil %s is a partner", d.Short())
		}
		if perSybil[d] > mesh.MaxProposalsPerSigner {
			t.Errorf("sybil %s has %d proposals in the book, limit %d", d.Short(), perSybil[d], mesh.MaxProposalsPerSigner)
		}
	}
	if !b.IsPartner(a.DID()) {
		t.Error("the real partner is not a partner")
	}
	for _, p := range b.PeersFor(&treaty.Order{}) {
		if p.DID != a.DID() {
			t.Errorf("PeersFor lists %s", p.DID.Short())
		}
	}
}
