package mesh

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/x/rate"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/aurora-federation/aurora/treaty"
)

// Why treaty partners refused each other after long partitions (issue 18):
// go-libp2p v0.51.0's resource manager rate-limits new connections per
// remote IP before the peer is known. resourceManager.openConnection
// (p2p/host/resource-manager/rcmgr.go) starts with
//
//	if !r.connRateLimiter.Allow(ip) { return nil, errors.New("rate limit exceeded") }
//
// and is called for every outbound dial (tcp.go dialWithScope, quic
// transport.go Dial) and every inbound connection (upgrader listener.go,
// quic listener.go, which answers CONNECTION_REFUSED). The default limiter
// (conn_rate_limiter.go newConnRateLimiter) allows 0.2 connections per
// second with a burst of 16 per IPv4 address (/32) and per IPv6 /56 (0.5/s,
// burst 80 per /48), and exempts only 127.0.0.0/8 and ::1 — which is why no
// test on loopback saw it. A dial toward an address takes a token from the
// same bucket as connections from it, so two partners dialling each other
// through a partition drain both buckets, and afterwards each side's dial
// spends the token the other side's inbound check needed.
//
// The mesh therefore builds its resource manager with no connection rate
// limiter (rcmgr.WithConnRateLimiters with a zero rate.Limiter, which
// allows everything) and applies the same default limits itself, in
// guardedRM.OpenConnection, to every address that is not a treaty
// partner's. The check runs before any handshake, so partners are known by
// address: the IPs of the peerstore addresses and of the connections (live
// or earlier) of the parties of every treaty we signed (active or
// proposed), refreshed when
// the book changes, when a partner completes identify, and every
// ReconnectInterval. The rcmgr's other per-IP guard, the concurrent
// connection limit (conn_limiter.go: 8 per IPv4 address), still applies to
// everyone: a partner's dial loop holds one dial at a time.

// Connection rate limits for addresses that are not a treaty partner's:
// go-libp2p's defaults (rcmgr conn_rate_limiter.go), restated because the
// package does not export them.
const (
	StrangerConnRate      = 0.2 // new connections per second per IPv4 address or IPv6 /56
	StrangerConnBurst     = 16
	StrangerConnRate48    = 0.5 // per IPv6 /48
	StrangerConnBurst48   = 80
	strangerConnGraceTime = time.Minute
)

// RefusedConnRate is the aurora_mesh_refused_total reason of a new
// connection from or to an address that is not a treaty partner's, over
// StrangerConnRate (kind "connection").
const RefusedConnRate = "conn_rate"

// newStrangerConnLimiter is go-libp2p's default connection rate limiter.
func newStrangerConnLimiter() *rate.Limiter {
	return &rate.Limiter{
		NetworkPrefixLimits: []rate.PrefixLimit{
			{Prefix: netip.MustParsePrefix("127.0.0.0/8")},
			{Prefix: netip.MustParsePrefix("::1/128")},
		},
		SubnetRateLimiter: rate.SubnetLimiter{
			IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: rate.Limit{RPS: StrangerConnRate, Burst: StrangerConnBurst}}},
			IPv6SubnetLimits: []rate.SubnetLimit{
				{PrefixLength: 56, Limit: rate.Limit{RPS: StrangerConnRate, Burst: StrangerConnBurst}},
				{PrefixLength: 48, Limit: rate.Limit{RPS: StrangerConnRate48, Burst: StrangerConnBurst48}},
			},
			GracePeriod: strangerConnGraceTime,
		},
	}
}

// connAllow is the connection rate limit with treaty partners' addresses
// exempt. Safe for concurrent use.
type connAllow struct {
	limiter  *rate.Limiter
	partners atomic.Pointer[map[netip.Addr]bool]
}

func newConnAllow() *connAllow {
	c := &connAllow{limiter: newStrangerConnLimiter()}
	c.partners.Store(&map[netip.Addr]bool{})
	return c
}

// setPartners replaces the exempt addresses.
func (c *connAllow) setPartners(ips map[netip.Addr]bool) { c.partners.Store(&ips) }

// isPartner reports whether ip is a partner's address.
func (c *connAllow) isPartner(ip netip.Addr) bool { return (*c.partners.Load())[ip] }

// allow takes a token for a new connection to or from endpoint, unless it
// is a partner's address or has no IP.
func (c *connAllow) allow(endpoint multiaddr.Multiaddr) error {
	ip, err := manet.ToIP(endpoint)
	if err != nil {
		return nil
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return nil
	}
	a = a.Unmap()
	if c.isPartner(a) || c.limiter.Allow(a) {
		return nil
	}
	return fmt.Errorf("mesh: connection rate limit exceeded for %s (%v/s, burst %d, for addresses that are not a treaty partner's)", a, StrangerConnRate, StrangerConnBurst)
}

// maxSeenIPs bounds the connection addresses remembered per partner.
const maxSeenIPs = 16

// partnerAddrs returns the IPs of the peerstore addresses of peers and of
// the addresses their connections came from, now or earlier (remembered,
// at most maxSeenIPs per peer, while the peer is in peers: a partner
// behind NAT reconnects from its router's address, which its own listen
// addresses do not name).
func (m *Mesh) partnerAddrs(peers map[peer.ID]treaty.DID) map[netip.Addr]bool {
	ipOf := func(a multiaddr.Multiaddr) (netip.Addr, bool) {
		ip, err := manet.ToIP(a)
		if err != nil {
			return netip.Addr{}, false
		}
		x, ok := netip.AddrFromSlice(ip)
		return x.Unmap(), ok
	}
	out := map[netip.Addr]bool{}
	m.seenMu.Lock()
	defer m.seenMu.Unlock()
	for pid := range m.seenIPs {
		if _, ok := peers[pid]; !ok {
			delete(m.seenIPs, pid)
		}
	}
	for pid := range peers {
		if pid == m.id {
			continue
		}
		for _, a := range m.host.Peerstore().Addrs(pid) {
			if x, ok := ipOf(a); ok {
				out[x] = true
			}
		}
		seen := m.seenIPs[pid]
		for _, c := range m.host.Network().ConnsToPeer(pid) {
			x, ok := ipOf(c.RemoteMultiaddr())
			if !ok || seen[x] {
				continue
			}
			if seen == nil {
				seen = map[netip.Addr]bool{}
				m.seenIPs[pid] = seen
			}
			if len(seen) < maxSeenIPs {
				seen[x] = true
			}
		}
		for x := range seen {
			out[x] = true
		}
	}
	return out
}

// OpenConnection applies the connection rate limit for non-partners, then
// the resource manager's limits.
func (g *guardedRM) OpenConnection(dir network.Direction, usefd bool, endpoint multiaddr.Multiaddr) (network.ConnManagementScope, error) {
	if g.conns != nil {
		if err := g.conns.allow(endpoint); err != nil {
			g.refused("connection", RefusedConnRate)
			return nil, err
		}
	}
	return g.ResourceManager.OpenConnection(dir, usefd, endpoint)
}
