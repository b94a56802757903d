package mesh

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/x/rate"
	"github.com/multiformats/go-multiaddr"

	"github.com/aurora-federation/aurora/treaty"
)

// Connection-manager watermarks: above connHigh connections the manager
// trims to connLow, never touching protected (treaty) peers. Both stay well
// under the resource manager's hard connection limits.
const (
	connLow   = 64
	connHigh  = 128
	connGrace = 30 * time.Second
)

// PeerIDOf returns the libp2p peer ID of an operator DID: both name the same
// Ed25519 key.
func PeerIDOf(d treaty.DID) (peer.ID, error) {
	raw, err := d.PublicKey()
	if err != nil {
		return "", err
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(raw)
	if err != nil {
		return "", fmt.Errorf("mesh: peer key of %s: %w", d.Short(), err)
	}
	return peer.IDFromPublicKey(pub)
}

// DIDOf returns the operator DID of a peer ID. Only Ed25519 peer IDs (which
// inline their key) have one.
func DIDOf(id peer.ID) (treaty.DID, error) {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return "", fmt.Errorf("mesh: peer %s: %w", id, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return "", fmt.Errorf("mesh: peer %s has a %s key, want Ed25519", id, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil {
		return "", fmt.Errorf("mesh: peer %s: %w", id, err)
	}
	return treaty.DIDFromPublicKey(raw), nil
}

// resourceLimits are the default autoscaled limits with explicit limits for
// Aurora's protocols and services. A busy treaty peer may hold many order
// streams at once (the default allows 68 inbound streams per peer and
// protocol); sync and witness exchanges are few.
func resourceLimits() rcmgr.ConcreteLimitConfig {
	l := rcmgr.DefaultLimits
	// The default's maps are shared package state: clone before adding.
	l.ServiceLimits = maps.Clone(l.ServiceLimits)
	l.ServicePeerLimits = maps.Clone(l.ServicePeerLimits)
	l.ProtocolLimits = maps.Clone(l.ProtocolLimits)
	l.ProtocolPeerLimits = maps.Clone(l.ProtocolPeerLimits)
	l.PeerLimits = maps.Clone(l.PeerLimits)
	libp2p.SetDefaultServiceLimits(&l)
	none := rcmgr.BaseLimitIncrease{}
	for _, p := range []struct {
		proto         protocol.ID
		svc           string
		total, perPer int
		mem, perMem   int64
	}{
		{ProtocolOrder, ServiceOrder, 2048, 512, 256 << 20, 64 << 20},
		{ProtocolWitness, ServiceWitness, 64, 8, 16 << 20, 4 << 20},
		{ProtocolSync, ServiceSync, 64, 4, 64 << 20, 16 << 20},
	} {
		total := rcmgr.BaseLimit{StreamsInbound: p.total, StreamsOutbound: p.total, Streams: 2 * p.total, Memory: p.mem}
		per := rcmgr.BaseLimit{StreamsInbound: p.perPer, StreamsOutbound: p.perPer, Streams: 2 * p.perPer, Memory: p.perMem}
		l.AddProtocolLimit(p.proto, total, none)
		l.AddProtocolPeerLimit(p.proto, per, none)
		l.AddServiceLimit(p.svc, total, none)
		l.AddServicePeerLimit(p.svc, per, none)
	}
	// Every stream also counts against its peer: room for a full order lane.
	l.PeerBaseLimit.StreamsInbound = max(l.PeerBaseLimit.StreamsInbound, 1024)
	l.PeerBaseLimit.StreamsOutbound = max(l.PeerBaseLimit.StreamsOutbound, 1024)
	l.PeerBaseLimit.Streams = max(l.PeerBaseLimit.Streams, 2048)
	return l.AutoScale()
}

// hostParts is what newHost builds besides the host.
type hostParts struct {
	host host.Host
	dht  *dht.IpfsDHT
	// dropped lists listen addresses not used (QUIC under a PSK).
	dropped []string
	// listen is what Mesh.Start listens on.
	listen []multiaddr.Multiaddr
}

// newHost builds the host. partner tells treaty partners from strangers
// for the resource manager's stranger budgets (guardedRM), conns holds
// the connection rate limit with partners' addresses exempt (connlimit.go);
// refused counts their refusals.
func newHost(cfg *Config, partner func(peer.ID) bool, refused func(kind, reason string), conns *connAllow) (*hostParts, error) {
	priv, err := crypto.UnmarshalEd25519PrivateKey(cfg.Key.Ed25519())
	if err != nil {
		return nil, fmt.Errorf("mesh: identity: %w", err)
	}
	parts := &hostParts{}
	listen := cfg.ListenAddrs
	if cfg.PSK != nil {
		listen = nil
		for _, a := range cfg.ListenAddrs {
			if strings.Contains(a, "/quic") || strings.Contains(a, "/webtransport") || strings.Contains(a, "/webrtc") {
				parts.dropped = append(parts.dropped, a)
				continue
			}
			listen = append(listen, a)
		}
		if len(listen) == 0 {
			return nil, fmt.Errorf("mesh: config: a PSK needs a TCP listen address (QUIC cannot carry a PSK); have %v", cfg.ListenAddrs)
		}
	}
	for _, a := range listen {
		m, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("mesh: listen address %q: %w", a, err)
		}
		parts.listen = append(parts.listen, m)
	}
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		return nil, fmt.Errorf("mesh: connection manager: %w", err)
	}
	// No connection rate limiter in the resource manager: guardedRM
	// applies go-libp2p's default one to non-partners only (connlimit.go).
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits()), rcmgr.WithConnRateLimiters(&rate.Limiter{}))
	if err != nil {
		return nil, fmt.Errorf("mesh: resource manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		// Start listens, once the handlers are bound.
		libp2p.NoListenAddrs,
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(newGuardedRM(rm, partner, refused, conns)),
		libp2p.UserAgent("aurora/1"),
		// libp2p's own metrics are process-global collectors: a process
		// running many meshes (tests, the testnet) cannot own them per
		// node, and the mesh exports what operators need itself.
		libp2p.DisableMetrics(),
		libp2p.Transport(tcp.NewTCPTransport),
	}
	if len(cfg.Announce) > 0 {
		var announce []multiaddr.Multiaddr
		for _, a := range cfg.Announce {
			m, err := multiaddr.NewMultiaddr(a) // checked by validate
			if err != nil {
				return nil, err
			}
			announce = append(announce, m)
		}
		opts = append(opts, libp2p.AddrsFactory(func([]multiaddr.Multiaddr) []multiaddr.Multiaddr { return slices.Clone(announce) }))
	}
	if cfg.PSK != nil {
		opts = append(opts, libp2p.PrivateNetwork(pnet.PSK(cfg.PSK)))
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	if len(cfg.Members) > 0 {
		g, err := newGater(cfg.Key.DID(), cfg.Members)
		if err != nil {
			return nil, err
		}
		opts = append(opts, libp2p.ConnectionGater(g))
	}
	if cfg.DHT {
		var boot []peer.AddrInfo
		for _, b := range cfg.Bootstrap {
			ai, err := peer.AddrInfoFromString(b)
			if err != nil {
				return nil, err
			}
			boot = append(boot, *ai)
		}
		opts = append(opts, libp2p.Routing(func(h host.Host) (routing.PeerRouting, error) {
			d, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(DHTPrefix), dht.BootstrapPeers(boot...),
				dht.DisableProviders(), dht.DisableValues())
			parts.dht = d
			return d, err
		}))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		if parts.dht != nil {
			parts.dht.Close()
		}
		return nil, fmt.Errorf("mesh: libp2p host: %w", err)
	}
	parts.host = h
	return parts, nil
}

// gater is the federation allow-list: only members (and we) connect.
type gater struct {
	allowed map[peer.ID]bool
}

func newGater(self treaty.DID, members []treaty.DID) (*gater, error) {
	g := &gater{allowed: make(map[peer.ID]bool, len(members)+1)}
	for _, d := range append([]treaty.DID{self}, members...) {
		id, err := PeerIDOf(d)
		if err != nil {
			return nil, err
		}
		g.allowed[id] = true
	}
	return g, nil
}

func (g *gater) InterceptPeerDial(p peer.ID) bool                        { return g.allowed[p] }
func (g *gater) InterceptAddrDial(p peer.ID, _ multiaddr.Multiaddr) bool { return g.allowed[p] }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool             { return true }
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allowed[p]
}
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
