package mesh

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/multiformats/go-multiaddr"
)

// keyPeer + peer ID holds a peer's listen addresses (a CBOR list of binary
// multiaddrs), so a restarted node finds its treaty peers without a
// bootstrap list.
const keyPeer = "/peer/"

// Address-memory bounds.
const (
	maxStoredPeers = 1024
	maxStoredAddrs = 16
)

// permanentTTL keeps remembered and bootstrap addresses in the peerstore
// for the life of the mesh.
const permanentTTL = peerstore.PermanentAddrTTL

// protectTag protects treaty partners in the connection manager.
const protectTag = "aurora-treaty"

// maxParallelDials bounds the reconnect loop's concurrent dials.
const maxParallelDials = 8

// minPeers: a node with fewer connections also redials remembered peers
// (at most this many per round), so a restarted node that is party to no
// treaty and has no bootstrap list still rejoins.
const minPeers = 4

func (m *Mesh) eventLoop() {
	for e := range m.events.Out() {
		switch ev := e.(type) {
		case event.EvtPeerConnectednessChanged:
			m.metrics.peers.Set(float64(len(m.host.Network().Peers())))
			m.redial.notify(ev.Peer)
			if ev.Connectedness == network.Connected {
				select {
				case m.syncQ <- ev.Peer:
				default:
				}
			}
		case event.EvtPeerIdentificationCompleted:
			m.storePeer(m.ctx, ev.Peer, ev.ListenAddrs)
			if v := m.book.current(); v.keep[ev.Peer] != "" {
				m.allow.setPartners(m.partnerAddrs(v.keep))
			}
		}
	}
}

// storePeer remembers a peer's addresses if they changed.
func (m *Mesh) storePeer(ctx context.Context, pid peer.ID, addrs []multiaddr.Multiaddr) {
	if pid == m.id || len(addrs) == 0 {
		return
	}
	if len(addrs) > maxStoredAddrs {
		addrs = addrs[:maxStoredAddrs]
	}
	raw := make([][]byte, len(addrs))
	var fp strings.Builder
	for i, a := range addrs {
		raw[i] = a.Bytes()
		fp.Write(raw[i])
		fp.WriteByte(0)
	}
	m.storeMu.Lock()
	defer m.storeMu.Unlock()
	old, known := m.stored[pid]
	if old == fp.String() || (!known && len(m.stored) >= maxStoredPeers) {
		return
	}
	b, err := encodeFrame(raw)
	if err == nil {
		err = m.cfg.Datastore.Put(ctx, datastore.NewKey(keyPeer+pid.String()), b)
	}
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("remember peer addresses", "peer", pid, "err", err)
		}
		return
	}
	m.stored[pid] = fp.String()
}

// loadPeers puts the remembered addresses into the peerstore.
func (m *Mesh) loadPeers(ctx context.Context) error {
	kvs, err := queryAll(ctx, m.cfg.Datastore, keyPeer)
	if err != nil {
		return err
	}
	m.storeMu.Lock()
	defer m.storeMu.Unlock()
	for _, kv := range kvs {
		pid, err := peer.Decode(strings.TrimPrefix(kv.Key, keyPeer))
		if err != nil {
			continue
		}
		var raw [][]byte
		if err := decodeFrame("stored addresses", kv.Value, &raw); err != nil {
			m.log.Warn("stored peer addresses do not decode; skipped", "peer", pid, "err", err)
			continue
		}
		var addrs []multiaddr.Multiaddr
		var fp strings.Builder
		for _, r := range raw {
			a, err := multiaddr.NewMultiaddrBytes(r)
			if err != nil {
				continue
			}
			addrs = append(addrs, a)
			fp.Write(r)
			fp.WriteByte(0)
		}
		m.host.Peerstore().AddAddrs(pid, addrs, permanentTTL)
		m.stored[pid] = fp.String()
	}
	return nil
}

// mdnsNotifee hands LAN discoveries to the reconnect loop.
type mdnsNotifee struct{ m *Mesh }

func (n mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == n.m.id {
		return
	}
	select {
	case n.m.found <- ai:
	default:
	}
}

// reconnectLoop keeps treaty partners direct and protected, with a dial
// loop each (redialer), and bootstrap peers connected; it also dials mDNS
// discoveries.
func (m *Mesh) reconnectLoop() {
	t := time.NewTicker(m.cfg.ReconnectInterval)
	defer t.Stop()
	m.reconcile()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
			m.reconcile()
		case <-t.C:
			m.reconcile()
		case ai := <-m.found:
			m.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
			ctx, cancel := context.WithTimeout(m.ctx, m.cfg.DialTimeout)
			if err := m.host.Connect(ctx, ai); err != nil {
				m.log.Debug("mdns peer did not answer", "peer", ai.ID, "err", err)
			}
			cancel()
		}
	}
}

func (m *Mesh) reconcile() {
	v := m.book.current()
	cm := m.host.ConnManager()
	for pid := range v.partners {
		if m.direct[pid] {
			continue
		}
		// Treaty partners are gossipsub direct peers: "explicit peering
		// agreements", every valid message forwarded unconditionally.
		if err := m.ps.AddDirectPeer(peer.AddrInfo{ID: pid, Addrs: m.host.Peerstore().Addrs(pid)}); err != nil {
			return // pubsub is stopping
		}
		cm.Protect(pid, protectTag)
		m.direct[pid] = true
	}
	for pid := range m.direct {
		if _, ok := v.partners[pid]; ok {
			continue
		}
		if err := m.ps.RemoveDirectPeer(pid); err != nil {
			return
		}
		cm.Unprotect(pid, protectTag)
		delete(m.direct, pid)
	}
	// Every party of a treaty we signed has its own dial loop, with its
	// own backoff; the rest here is redialled once per ReconnectInterval.
	keep := make(map[peer.ID]bool, len(v.keep))
	for pid := range v.keep {
		if pid != m.id {
			keep[pid] = true
		}
	}
	m.redial.set(keep)
	m.allow.setPartners(m.partnerAddrs(v.keep))
	targets := map[peer.ID]bool{}
	for _, ai := range m.boot {
		targets[ai.ID] = true
	}
	if len(m.host.Network().Peers()) < minPeers {
		m.storeMu.Lock()
		n := 0
		for pid := range m.stored { // map order: a different sample each round
			if n == minPeers {
				break
			}
			if !targets[pid] && !keep[pid] {
				targets[pid] = true
				n++
			}
		}
		m.storeMu.Unlock()
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallelDials)
	now := time.Now()
	for pid, at := range m.dialed {
		if now.Sub(at) >= m.cfg.ReconnectInterval {
			delete(m.dialed, pid)
		}
	}
	for pid := range targets {
		if pid == m.id || keep[pid] || m.host.Network().Connectedness(pid) == network.Connected {
			continue
		}
		// A peer is redialled once per interval however often the book
		// changes, and only when there is a way to find it.
		if _, recent := m.dialed[pid]; recent || (m.dht == nil && len(m.host.Peerstore().Addrs(pid)) == 0) {
			continue
		}
		m.dialed[pid] = now
		select {
		case sem <- struct{}{}:
		case <-m.ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(m.ctx, m.cfg.DialTimeout)
			defer cancel()
			if err := m.dial(ctx, pid); err != nil {
				m.log.Debug("reconnect failed", "peer", pid, "err", err)
			}
		}()
	}
	wg.Wait()
}

// dial connects to a peer from the peerstore's addresses, reaping dead
// connections and clearing the swarm's dial backoff first (the callers —
// a partner's dial loop, the bootstrap redial once per ReconnectInterval —
// keep their own schedule, and a peer that restarted answers again), and
// asks the DHT for fresh addresses when those fail. Requests (forwards,
// queries, witnessing) never call it: they wait for the partner's loop.
func (m *Mesh) dial(ctx context.Context, pid peer.ID) error {
	// A connection the peer closed may not be reaped yet; Connect would
	// take it for a live one.
	for _, c := range m.host.Network().ConnsToPeer(pid) {
		if c.IsClosed() {
			c.Close()
		}
	}
	if sw, ok := m.host.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(pid)
	}
	err := m.host.Connect(ctx, peer.AddrInfo{ID: pid})
	if err == nil || m.dht == nil || ctx.Err() != nil {
		return err
	}
	ai, ferr := m.dht.FindPeer(ctx, pid)
	if ferr != nil {
		return fmt.Errorf("%w (dht: %w)", err, ferr)
	}
	return m.host.Connect(ctx, ai)
}
