package mesh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/treaty"
)

// TestIdentity: the peer ID and the DID name the same key.
func TestIdentity(t *testing.T) {
	n := meshtest.StartNode(t, 0, meshtest.Options{NoConnect: true})
	if n.DID() != n.Key.DID() {
		t.Fatalf("DID %s, key %s", n.DID(), n.Key.DID())
	}
	id, err := mesh.PeerIDOf(n.DID())
	if err != nil || id != n.ID() {
		t.Fatalf("PeerIDOf(DID) = %s, %v; host ID %s", id, err, n.ID())
	}
	did, err := mesh.DIDOf(n.ID())
	if err != nil || did != n.DID() {
		t.Fatalf("DIDOf(peer ID) = %s, %v", did, err)
	}
	// Both transports listen.
	var tcp, quic bool
	for _, a := range n.Addrs() {
		tcp = tcp || strings.Contains(a.String(), "/tcp/")
		quic = quic || strings.Contains(a.String(), "/quic-v1")
	}
	if !tcp || !quic {
		t.Fatalf("listen addresses %v: want TCP and QUIC", n.Addrs())
	}
}

// TestPSK: nodes sharing a PSK connect over TCP (their QUIC addresses are
// dropped); a node without it cannot connect.
func TestPSK(t *testing.T) {
	psk := make([]byte, 32)
	rand.Read(psk)
	// Node 0 gets the raw key, node 1 the swarm.key file form.
	file := fmt.Appendf(nil, "/key/swarm/psk/1.0.0/\n/base16/\n%x\n", psk)
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: "psk", Configure: func(i int, c *mesh.Config) {
		c.PSK = psk
		if i == 1 {
			c.PSK = file
		}
	}})
	for _, a := range nodes[0].Addrs() {
		if strings.Contains(a.String(), "quic") {
			t.Fatalf("a PSK node listens on QUIC: %s", a)
		}
	}
	if nodes[0].Host().Network().Connectedness(nodes[1].ID()) != network.Connected {
		t.Fatal("PSK nodes are not connected")
	}
	outsider := meshtest.StartNode(t, 2, meshtest.Options{Federation: "psk"})
	ctx, cancel := context.WithTimeout(t.Context(), meshtest.StreamTimeout)
	defer cancel()
	if err := outsider.Connect(ctx, meshtest.AddrInfo(nodes[0].Mesh)); err == nil {
		t.Fatal("a node without the PSK connected to a PSK node")
	}
}

// TestMembers: with an allow-list, members connect and others are refused.
func TestMembers(t *testing.T) {
	member := meshtest.Key(t, 1)
	gated := meshtest.StartNode(t, 0, meshtest.Options{Federation: "gate", Configure: func(_ int, c *mesh.Config) {
		c.Members = []treaty.DID{member.DID()}
	}})
	ok := meshtest.StartNode(t, 1, meshtest.Options{Federation: "gate"})
	meshtest.Connect(t, ok.Mesh, gated.Mesh)
	stranger := meshtest.StartNode(t, 2, meshtest.Options{Federation: "gate"})
	ctx, cancel := context.WithTimeout(t.Context(), meshtest.StreamTimeout)
	defer cancel()
	// The stranger's dial may complete its side of the handshake before
	// the gated node refuses the secured connection; what matters is that
	// no exchange ever happens.
	_ = stranger.Connect(ctx, meshtest.AddrInfo(gated.Mesh))
	var we *mesh.WitnessError
	if _, err := stranger.RequestCosign(ctx, gated.DID(), []byte("old 0\n\nx")); err == nil || errors.As(err, &we) {
		t.Fatalf("a non-member got an answer: %v", err)
	}
	for _, p := range gated.Peers() {
		if p.ID == stranger.ID() && p.Connected {
			t.Fatal("the gated node holds a connection to a non-member")
		}
	}
	if err := gated.Connect(ctx, meshtest.AddrInfo(stranger.Mesh)); err == nil {
		t.Fatal("a gated node dialled a non-member")
	}
}

// TestMDNS: two nodes on the LAN (loopback) find each other with no
// bootstrap list.
func TestMDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for mDNS announcements")
	}
	// A unique federation: other test processes on this machine use mDNS
	// too, and the service name is per federation.
	fed := fmt.Sprintf("mdns-%x", randomBytes(4))
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed, NoConnect: true, Configure: func(_ int, c *mesh.Config) { c.MDNS = true }})
	meshtest.WaitFor(t, meshtest.Wait, "mDNS discovery", func() bool {
		return nodes[0].Host().Network().Connectedness(nodes[1].ID()) == network.Connected
	})
}

// TestDHT: with the /aurora DHT, a node connects to a peer it knows only
// by ID, through a common bootstrap node.
func TestDHT(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: DHT bootstrap")
	}
	boot := meshtest.StartNode(t, 0, meshtest.Options{Federation: "dht", Configure: func(_ int, c *mesh.Config) { c.DHT = true }})
	var bootAddrs []string
	for _, a := range boot.Addrs() {
		bootAddrs = append(bootAddrs, a.String())
	}
	opts := meshtest.Options{Federation: "dht", Configure: func(_ int, c *mesh.Config) {
		c.DHT = true
		c.Bootstrap = bootAddrs
	}}
	b := meshtest.StartNode(t, 1, opts)
	c := meshtest.StartNode(t, 2, opts)
	for _, n := range []*meshtest.Node{b, c} {
		meshtest.WaitFor(t, meshtest.Wait, "bootstrap connection", func() bool {
			return n.Host().Network().Connectedness(boot.ID()) == network.Connected
		})
	}
	var kad bool
	for _, p := range boot.Host().Mux().Protocols() {
		kad = kad || strings.HasPrefix(string(p), mesh.DHTPrefix+"/kad/")
	}
	if !kad {
		t.Fatalf("no %s/kad protocol among %v", mesh.DHTPrefix, boot.Host().Mux().Protocols())
	}
	meshtest.WaitFor(t, meshtest.Wait, "C to find B through the DHT", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), meshtest.StreamTimeout)
		defer cancel()
		return c.Connect(ctx, peer.AddrInfo{ID: b.ID()}) == nil
	})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return bytes.Clone(b)
}
