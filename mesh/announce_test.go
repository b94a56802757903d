package mesh_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
)

// portForward accepts on a free 127.0.0.1 port and relays each connection
// to target, as a NAT router's port forward does; it counts connections.
type portForward struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func newPortForward(t *testing.T, target string) *portForward {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &portForward{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.wg.Add(2)
			go func() { defer f.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer f.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

// TestAnnounce: a node that announces a port forward instead of its listen
// address is known to its peers by the announced address only, and a peer
// dials it through the forward.
func TestAnnounce(t *testing.T) {
	const fed = "announce"
	b := meshtest.StartNode(t, 1, meshtest.Options{Federation: fed, Configure: func(_ int, c *mesh.Config) {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	}})
	var listen string
	for _, a := range b.Host().Network().ListenAddresses() {
		if s := a.String(); strings.Contains(s, "/tcp/") {
			listen = strings.TrimPrefix(s, "/ip4/")
		}
	}
	hostPort := strings.Replace(listen, "/tcp/", ":", 1)
	fwd := newPortForward(t, hostPort)
	announced := "/ip4/127.0.0.1/tcp/" + strings.Split(fwd.ln.Addr().String(), ":")[1]
	// B again, announcing the forward (a fresh mesh on the same listen port).
	cfg := b.Config
	cfg.ListenAddrs = []string{"/ip4/" + listen}
	cfg.Announce = []string{announced}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = restart(t, b, cfg)
	if got := b.Host().Addrs(); len(got) != 1 || got[0].String() != announced {
		t.Fatalf("B announces %v, want only %s", got, announced)
	}
	a := meshtest.StartNode(t, 0, meshtest.Options{Federation: fed})
	// B dials A: A learns B's addresses from identify alone.
	meshtest.Connect(t, b.Mesh, a.Mesh)
	meshtest.WaitFor(t, meshtest.Wait, "A to learn B's announced address", func() bool {
		for _, ad := range a.Host().Peerstore().Addrs(b.ID()) {
			if ad.String() == announced {
				return true
			}
		}
		return false
	})
	for _, ad := range a.Host().Peerstore().Addrs(b.ID()) {
		if strings.Contains(ad.String(), "/tcp/") && ad.String() != announced {
			t.Errorf("A knows B by %s, which B did not announce", ad)
		}
	}
	a.Host().Network().ClosePeer(b.ID())
	meshtest.WaitFor(t, meshtest.Wait, "the connection to close", func() bool {
		return a.Host().Network().Connectedness(b.ID()) != network.Connected
	})
	before := fwd.accepted.Load()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.Host().Connect(ctx, peer.AddrInfo{ID: b.ID()}); err != nil {
		t.Fatalf("A dials B from its peerstore: %v", err)
	}
	if fwd.accepted.Load() == before {
		t.Error("A reached B without going through the announced port forward")
	}
}

func TestAnnounceConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		announce []string
		wantErr  string
	}{
		{"not a multiaddr", []string{"1.2.3.4:4001"}, "Announce[0]"},
		{"with a peer ID", []string{"/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWJKC35L1a7RSNHY37okuAQ3ua93cfvWjLsEjCL4NFqAzz"}, "without /p2p/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := meshtest.LoopbackConfig(meshtest.Key(t, 0), "announce")
			cfg.Announce = tc.announce
			m, err := mesh.New(t.Context(), cfg)
			if err == nil {
				m.Close()
				t.Fatalf("New with Announce %v succeeded, want an error", tc.announce)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New with Announce %v = %v, want it to name %q", tc.announce, err, tc.wantErr)
			}
		})
	}
}
