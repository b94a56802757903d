package mesh

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/x/rate"
	"github.com/multiformats/go-multiaddr"
)

func endpoint(t *testing.T, s string) multiaddr.Multiaddr {
	t.Helper()
	a, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// openConns opens n connection scopes from ep (each released at once, as
// a failed dial releases its own) and returns how many were allowed and
// the first refusal.
func openConns(t *testing.T, rm network.ResourceManager, ep multiaddr.Multiaddr, n int) (int, error) {
	t.Helper()
	ok := 0
	var first error
	for range n {
		s, err := rm.OpenConnection(network.DirInbound, true, ep)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		s.Done()
		ok++
	}
	return ok, first
}

// TestDefaultConnRateLimiter pins the cause of issue 18 on go-libp2p's own
// resource manager: with its defaults, the 17th new connection from one
// IPv4 address within a few seconds is refused with "rate limit exceeded",
// whatever the peer, while loopback is never limited.
func TestDefaultConnRateLimiter(t *testing.T) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits()))
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	ok, err := openConns(t, rm, endpoint(t, "/ip4/10.77.0.2/tcp/4001"), 40)
	if ok != StrangerConnBurst || err == nil || !strings.Contains(err.Error(), "rate limit exceeded") {
		t.Errorf("default resource manager: %d of 40 connections from one address allowed (%v), want %d then \"rate limit exceeded\"", ok, err, StrangerConnBurst)
	}
	if ok, err := openConns(t, rm, endpoint(t, "/ip4/127.0.0.1/tcp/4001"), 40); ok != 40 {
		t.Errorf("default resource manager: %d of 40 loopback connections allowed (%v), want all", ok, err)
	}
}

// TestPartnerConnRate: the mesh's resource manager limits new connections
// of non-partners' addresses as go-libp2p does (burst StrangerConnBurst
// per IPv4 address, refusals counted), never limits a treaty partner's
// address, and limits it again once it is no longer a partner's.
func TestPartnerConnRate(t *testing.T) {
	inner, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits()), rcmgr.WithConnRateLimiters(&rate.Limiter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	refused := map[string]int{}
	allow := newConnAllow()
	g := newGuardedRM(inner, nil, func(kind, reason string) { refused[kind+" "+reason]++ }, allow)
	partner := netip.MustParseAddr("10.77.0.3")
	allow.setPartners(map[netip.Addr]bool{partner: true})

	ok, err := openConns(t, g, endpoint(t, "/ip4/10.77.0.2/udp/4001/quic-v1"), 40)
	if ok != StrangerConnBurst || err == nil || !strings.Contains(err.Error(), "10.77.0.2") {
		t.Errorf("stranger: %d of 40 allowed (%v), want %d then a refusal naming the address", ok, err, StrangerConnBurst)
	}
	if got := refused["connection "+RefusedConnRate]; got != 40-StrangerConnBurst {
		t.Errorf("refusals counted %d, want %d", got, 40-StrangerConnBurst)
	}
	if ok, err := openConns(t, g, endpoint(t, "/ip4/10.77.0.3/tcp/4001"), 400); ok != 400 {
		t.Errorf("partner: %d of 400 allowed (%v), want all", ok, err)
	}
	// An IPv4-mapped IPv6 form of the partner's address is the partner's.
	if ok, err := openConns(t, g, endpoint(t, "/ip6/::ffff:10.77.0.3/tcp/4001"), 40); ok != 40 {
		t.Errorf("partner (IPv4-mapped): %d of 40 allowed (%v), want all", ok, err)
	}
	if ok, err := openConns(t, g, endpoint(t, "/ip4/127.0.0.1/tcp/4001"), 100); ok != 100 {
		t.Errorf("loopback: %d of 100 allowed (%v), want all", ok, err)
	}
	// The treaty ends: the address is a stranger's again.
	allow.setPartners(map[netip.Addr]bool{})
	if ok, _ := openConns(t, g, endpoint(t, "/ip4/10.77.0.3/tcp/4001"), 40); ok != StrangerConnBurst {
		t.Errorf("former partner: %d of 40 allowed, want %d", ok, StrangerConnBurst)
	}
}
