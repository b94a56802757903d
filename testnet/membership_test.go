package testnet

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/treaty"
)

// outsider is a plain IPFS node (a boxo client standing in for kubo) on its
// own libp2p host, connected to target.
func outsider(t *testing.T, priv crypto.PrivKey, target *Node) *ipfs.Node {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	n, err := ipfs.New(t.Context(), ipfs.Config{Host: h, Datastore: dssync.MutexWrap(datastore.NewMapDatastore()), Allow: func(peer.ID) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	dial(t, h, target)
	return n
}

func dial(t *testing.T, h host.Host, target *Node) {
	t.Helper()
	m := target.Mesh().Host()
	if err := h.Connect(t.Context(), peer.AddrInfo{ID: m.ID(), Addrs: m.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// TestTrailServedToMembersOnly: bitswap serves a node's epoch blocks (which
// carry order contents) to parties of an active treaty and to the auditors
// named in p2p.auditors, never to a stranger or the proposer of a
// proposal-only treaty (real boxo clients standing in for kubo); revoking
// the treaty ends the partner's access to the roots made after it; the
// auditor gets the trail and nothing else (its identity is refused by the
// witness and by order forwarding).
func TestTrailServedToMembersOnly(t *testing.T) {
	const auditorIndex = 40 // meshtest.Key(40): the auditor's one key
	auditorKey, err := crypto.UnmarshalEd25519PrivateKey(meshtest.Key(t, auditorIndex).Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	auditorID, _ := peer.IDFromPrivateKey(auditorKey)
	tn, err := Start(t.Context(), Config{Nodes: 2, Dir: t.TempDir(), SimFailure: 0.0001, Epoch: 300 * time.Millisecond,
		Configure: func(i int, c *node.Config) {
			if i == 0 {
				c.P2P.Auditors = []string{auditorID.String()}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := tn.ExchangeTreaties(ctx, treaty.TemplateBilateral, nil); err != nil {
		t.Fatal(err)
	}
	n0 := tn.Nodes[0]
	o, _ := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h", Regions: n0.Regions}, time.Now())
	if _, err := n0.API.Submit(ctx, o); err != nil {
		t.Fatal(err)
	}
	// latestRoot waits for a pinned epoch root other than prev.
	latestRoot := func(prev cid.Cid) cid.Cid {
		t.Helper()
		for ctx.Err() == nil {
			if st, err := n0.Epochs().Latest(ctx); err == nil && st.Pinned && st.Root != "" {
				if c, err := cid.Decode(st.Root); err == nil && c != prev {
					return c
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal("no new epoch root")
		return cid.Undef
	}
	root := latestRoot(cid.Undef)
	getRoot := func(n *ipfs.Node, root cid.Cid) error {
		gctx, gcancel := context.WithTimeout(ctx, 3*time.Second)
		defer gcancel()
		_, err := n.GetEpochRoot(gctx, root)
		return err
	}
	get := func(n *ipfs.Node) error { return getRoot(n, root) }
	// A stranger that proposed a treaty to node0 (signed only by itself,
	// stored as proposed) still gets nothing.
	strangerKey, _, _ := crypto.GenerateEd25519Key(nil)
	raw, _ := strangerKey.Raw()
	sk, err := treaty.NewKeyFromSeed(raw[:32])
	if err != nil {
		t.Fatal(err)
	}
	prop, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "testnet", Proposer: sk.DID(), Peer: n0.Identity().DID, Now: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := treaty.SignTreaty(prop, sk); err != nil {
		t.Fatal(err)
	}
	if _, err := n0.Mesh().Submit(ctx, prop); err != nil {
		t.Fatalf("the stranger's proposal was not stored: %v", err)
	}
	if err := get(outsider(t, strangerKey, n0)); err == nil {
		t.Error("a stranger with a proposal-only treaty fetched the node's epoch root")
	}
	if err := get(outsider(t, auditorKey, n0)); err != nil {
		t.Errorf("the auditor could not fetch the epoch root: %v", err)
	}
	partner := tn.Nodes[1].Identity().DID
	if !n0.Mesh().IsPartner(partner) {
		t.Fatal("node1 is not node0's partner after the treaty exchange")
	}
	// A boxo client with the partner's identity (node1 stopped, so it is
	// the only host with that peer ID) is served while the treaty is
	// active...
	pk, err := node.LoadKey(filepath.Join(tn.Nodes[1].Home, node.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	partnerKey, err := crypto.UnmarshalEd25519PrivateKey(pk.Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Nodes[1].Close(ctx); err != nil {
		t.Fatal(err)
	}
	asPartner := outsider(t, partnerKey, n0)
	if err := get(asPartner); err != nil {
		t.Fatalf("the partner's identity could not fetch the epoch root while the treaty is active: %v", err)
	}
	// ...and refused the roots created after the treaty is revoked.
	for _, ti := range n0.Mesh().List() {
		if ti.State == treaty.StateActive {
			if err := n0.Mesh().Revoke(ctx, ti.CID, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n0.Mesh().IsPartner(partner) {
		t.Error("node1 is still a partner (and a bitswap member) after the revocation")
	}
	o2, _ := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h", Regions: n0.Regions}, time.Now())
	if _, err := n0.API.Submit(ctx, o2); err != nil {
		t.Fatal(err)
	}
	after := latestRoot(root)
	if err := getRoot(asPartner, after); err == nil {
		t.Error("the revoked partner fetched an epoch root created after the revocation")
	}
	if err := getRoot(outsider(t, auditorKey, n0), after); err != nil {
		t.Errorf("the auditor could not fetch the new epoch root: %v", err)
	}

	// The trail and nothing else: the auditor's identity on a mesh host is
	// a stranger to the witness and to order forwarding.
	am := meshtest.StartNode(t, 0, meshtest.Options{Federation: "testnet", KeyOffset: auditorIndex, NoConnect: true})
	if am.Mesh.Host().ID() != auditorID {
		t.Fatal("the auditor's mesh host has another identity")
	}
	if err := am.Mesh.Connect(ctx, peer.AddrInfo{ID: n0.Mesh().Host().ID(), Addrs: n0.Mesh().Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	origin := "aurora/testnet/" + auditorID.String()
	cp := meshtest.SignedCheckpoint(t, am.Key, origin, 1, sha256.Sum256([]byte("the auditor's log")))
	_, err = am.Mesh.RequestCosign(ctx, n0.Identity().DID, provenance.CosignRequest(0, nil, cp))
	if s := witnessStatus(err); s != 404 {
		t.Errorf("node0's witness answered the auditor's checkpoint with %d (%v), want 404", s, err)
	}
	o3, _ := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h", Regions: n0.Regions}, time.Now())
	ob, _ := treaty.Encode(o3)
	if len(n0.Mesh().List()) == 0 {
		t.Fatal("node0 holds no treaty to forward under")
	}
	for _, ti := range n0.Mesh().List() {
		if reply, err := am.Mesh.Forward(ctx, n0.Identity().DID, ti.CID, ob); err == nil {
			t.Errorf("node0 answered the auditor's forward under treaty %s: %d bytes", ti.CID, len(reply))
		}
	}
	if n0.Mesh().IsPartner(am.Key.DID()) {
		t.Error("the auditor is a partner")
	}
}
