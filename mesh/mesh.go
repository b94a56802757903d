package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// Mesh is an Aurora node's presence on the federation's libp2p network:
// the host, the gossip topics, the treaty book and the order, witness and
// sync protocols. It is safe for concurrent use. Close stops every
// goroutine it started.
type Mesh struct {
	cfg     Config
	log     *slog.Logger
	me      treaty.DID
	id      peer.ID
	host    host.Host
	dht     *dht.IpfsDHT
	ps      *pubsub.PubSub
	topics  [numKinds]joined
	book    *book
	anchors *anchorStore
	// evidence keeps verified equivocation evidence.
	evidence *evidenceStore
	// sla measures our lanes' fill ratio and RTT against their treaty's SLA.
	sla     *slaMeter
	metrics *metrics
	mdns    interface{ Close() error }
	events  event.Subscription
	boot    []peer.AddrInfo

	// ctx is the mesh's lifetime: cancelled first by Close.
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup

	mu       sync.Mutex // protects closed and handlers.Add
	closed   bool
	handlers sync.WaitGroup
	once     sync.Once
	closeErr error

	kick  chan struct{}
	found chan peer.AddrInfo
	syncQ chan peer.ID

	scores atomic.Pointer[map[peer.ID]float64]

	limiter gossipLimiter // strangers' gossip rate

	repMu   sync.Mutex // protects repSeen
	repSeen map[treaty.DID]int64

	statsMu sync.Mutex // protects stats
	stats   map[treaty.DID]*peerStats

	storeMu sync.Mutex // protects stored
	stored  map[peer.ID]string

	listen []multiaddr.Multiaddr // bound by Start

	// direct and dialed are owned by the reconnect loop.
	direct map[peer.ID]bool
	dialed map[peer.ID]time.Time // last reconnect attempt

	// redial runs one dial loop per treaty partner (redial.go).
	redial *redialer
	// allow exempts partners' addresses from the connection rate limit
	// (connlimit.go).
	allow *connAllow

	seenMu  sync.Mutex // protects seenIPs
	seenIPs map[peer.ID]map[netip.Addr]bool
}

// The node's order pipeline uses the mesh through its Forwarder,
// PeerSource and Lanes interfaces (the order package); mesh cannot import
// node, so the guards restate them.
var (
	_ interface {
		Forward(ctx context.Context, peer treaty.DID, treatyCID treaty.Link, order []byte) (reply []byte, err error)
		Query(ctx context.Context, peer treaty.DID, treatyCID treaty.Link, order cid.Cid) (reply []byte, err error)
	} = (*Mesh)(nil)
	_ interface {
		PeersFor(o *treaty.Order) []providers.PeerOption
	} = (*Mesh)(nil)
	_ interface {
		Lane(ctx context.Context, treatyCID treaty.Link, from treaty.DID) (*treaty.Treaty, treaty.Lane, error)
	} = (*Mesh)(nil)
)

// New builds and starts a mesh (Build, then Start).
func New(ctx context.Context, cfg Config) (*Mesh, error) {
	m, err := Build(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Build makes a mesh that does not listen yet: it loads the book from the
// datastore, creates the host with its stream handlers bound and joins the
// federation's topics. Nothing reaches the handlers before Start, so a
// caller can finish wiring what they call (the order core) in between.
// ctx bounds the build only.
func Build(ctx context.Context, cfg Config) (_ *Mesh, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	m := &Mesh{
		cfg: cfg, log: cfg.Logger, me: cfg.Key.DID(), metrics: met,
		kick: make(chan struct{}, 1), found: make(chan peer.AddrInfo, 16), syncQ: make(chan peer.ID, 64),
		repSeen: map[treaty.DID]int64{}, stats: map[treaty.DID]*peerStats{}, stored: map[peer.ID]string{}, direct: map[peer.ID]bool{},
		dialed: map[peer.ID]time.Time{}, allow: newConnAllow(), seenIPs: map[peer.ID]map[netip.Addr]bool{},
	}
	m.book = newBook(&m.cfg, m.log)
	m.book.refused = func(reason string) { met.refused.WithLabelValues(kindNames[kindTreaty], reason).Inc() }
	m.anchors = newAnchorStore(cfg.Datastore, m.log)
	m.evidence = newEvidenceStore(cfg.Datastore, m.log)
	m.sla = newSLAMeter(m.book, m.cfg.Clock, m.cfg.SLAWindow)
	if err := met.add(m.sla); err != nil {
		met.unregister()
		return nil, err
	}
	if err := m.book.load(ctx); err != nil {
		met.unregister()
		return nil, err
	}
	if err := m.anchors.load(ctx); err != nil {
		met.unregister()
		return nil, err
	}
	if err := m.evidence.load(ctx); err != nil {
		met.unregister()
		return nil, err
	}
	met.bookSize.Set(float64(m.book.size()))
	for _, b := range cfg.Bootstrap {
		ai, _ := peer.AddrInfoFromString(b) // checked by validate
		m.boot = append(m.boot, *ai)
	}
	parts, err := newHost(&m.cfg, m.isPartner, func(kind, reason string) { met.refused.WithLabelValues(kind, reason).Inc() }, m.allow)
	if err != nil {
		met.unregister()
		return nil, err
	}
	m.host, m.dht, m.id, m.listen = parts.host, parts.dht, parts.host.ID(), parts.listen
	if len(parts.dropped) > 0 {
		m.log.Warn("QUIC cannot carry a PSK: listen addresses dropped", "addrs", parts.dropped)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.redial = newRedialer(m.ctx, m.cfg.Redial, m.cfg.DialTimeout, m.dialPartner, m.isConnected, m.log)
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if err := met.add(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aurora_mesh_partners_disconnected",
		Help: "Parties of this node's active treaties with no open connection to it (each has a dial loop redialling it).",
	}, m.partnersDisconnected)); err != nil {
		return nil, err
	}
	m.host.SetStreamHandler(ProtocolOrder, m.handleOrder)
	m.host.SetStreamHandler(ProtocolWitness, m.handleWitness)
	m.host.SetStreamHandler(ProtocolSync, m.handleSync)
	m.host.SetStreamHandler(ProtocolOrderQuery, m.handleQuery)
	m.host.SetStreamHandler(ProtocolCancel, m.handleCancel)
	if err := m.startPubsub(); err != nil {
		return nil, err
	}
	if m.events, err = m.host.EventBus().Subscribe([]any{new(event.EvtPeerConnectednessChanged), new(event.EvtPeerIdentificationCompleted)}); err != nil {
		return nil, fmt.Errorf("mesh: event bus: %w", err)
	}
	m.goLoop(m.eventLoop)
	return m, nil
}

// Start listens on the configured addresses and starts discovery,
// reconnection and sync. ctx bounds the start only.
func (m *Mesh) Start(ctx context.Context) error {
	cfg := m.cfg
	if err := m.host.Network().Listen(m.listen...); err != nil {
		return fmt.Errorf("mesh: listen: %w", err)
	}
	if err := m.loadPeers(ctx); err != nil {
		return err
	}
	for _, ai := range m.boot {
		m.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, permanentTTL)
	}
	if cfg.MDNS {
		svc := mdns.NewMdnsService(m.host, "aurora-"+cfg.Federation, mdnsNotifee{m})
		if err := svc.Start(); err != nil {
			return fmt.Errorf("mesh: mdns: %w", err)
		}
		m.mdns = svc
	}
	if m.dht != nil {
		if err := m.dht.Bootstrap(m.ctx); err != nil {
			return fmt.Errorf("mesh: dht bootstrap: %w", err)
		}
	}
	m.goLoop(m.reconnectLoop)
	m.goLoop(m.syncLoop)
	m.log.Info("mesh up", "did", string(m.me), "peer", m.id.String(), "addrs", m.host.Addrs(), "federation", cfg.Federation)
	return nil
}

func (m *Mesh) goLoop(f func()) {
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		f()
	}()
}

// enter registers a stream handler run; false when closing.
func (m *Mesh) enter() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.handlers.Add(1)
	return true
}

func (m *Mesh) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Close stops the mesh: it cancels in-flight handlers (OnOrder and
// OnWitness see their context cancelled), stops the loops, leaves the
// topics, closes the host and waits for every goroutine it started. It is
// safe to call more than once.
func (m *Mesh) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		if m.cancel != nil {
			m.cancel()
		}
		var errs []error
		if m.mdns != nil {
			errs = append(errs, m.mdns.Close())
		}
		for _, j := range m.topics {
			if j.sub != nil {
				j.sub.Cancel()
			}
		}
		for _, j := range m.topics {
			if j.topic != nil {
				// Fails once pubsub has stopped with the context: harmless.
				_ = j.topic.Close()
			}
		}
		if m.events != nil {
			errs = append(errs, m.events.Close())
		}
		if m.dht != nil {
			errs = append(errs, m.dht.Close())
		}
		if m.host != nil {
			errs = append(errs, m.host.Close())
		}
		m.loops.Wait()
		if m.redial != nil {
			m.redial.wait()
		}
		m.handlers.Wait()
		m.metrics.unregister()
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// dialPartner is one dial of a partner's loop, counted.
func (m *Mesh) dialPartner(ctx context.Context, p peer.ID) error {
	err := m.dial(ctx, p)
	res := DialOK
	if err != nil {
		res = DialFailed
	}
	m.metrics.dials.WithLabelValues(res).Inc()
	return err
}

// partnersDisconnected counts the parties of our active treaties with no
// connection.
func (m *Mesh) partnersDisconnected() float64 {
	n := 0
	for p := range m.book.current().partners {
		if p != m.id && !m.isConnected(p) {
			n++
		}
	}
	return float64(n)
}

// isConnected reports whether p has a live connection.
func (m *Mesh) isConnected(p peer.ID) bool {
	return m.host.Network().Connectedness(p) == network.Connected
}

// Host returns the libp2p host (bitswap runs on it). The mesh owns it: do
// not close it.
func (m *Mesh) Host() host.Host { return m.host }

// DID returns the operator DID (the key's).
func (m *Mesh) DID() treaty.DID { return m.me }

// ID returns the libp2p peer ID (the key's).
func (m *Mesh) ID() peer.ID { return m.id }

// Addrs returns the full multiaddrs (ending in /p2p/<peer ID>) the mesh
// listens on. The slice is the caller's.
func (m *Mesh) Addrs() []multiaddr.Multiaddr {
	p2p, err := multiaddr.NewComponent("p2p", m.id.String())
	if err != nil {
		return nil
	}
	var out []multiaddr.Multiaddr
	for _, a := range m.host.Addrs() {
		out = append(out, a.Encapsulate(p2p.Multiaddr()))
	}
	return out
}

// Connect dials a peer and remembers its addresses (in the datastore) for
// reconnecting after a restart.
func (m *Mesh) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if ai.ID == m.id {
		return errors.New("mesh: connect to self")
	}
	m.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, permanentTTL)
	if err := m.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("mesh: connect %s: %w", ai.ID, err)
	}
	m.storePeer(ctx, ai.ID, ai.Addrs)
	return nil
}

// PeerInfo describes a peer for GET /v1/peers.
type PeerInfo struct {
	DID       treaty.DID
	ID        peer.ID
	Addrs     []multiaddr.Multiaddr
	Connected bool
	// Treaties are the CIDs of our proposed and active treaties with it.
	Treaties []treaty.Link
	// Score is its gossipsub score (0 until first computed).
	Score float64
}

// Peers lists the connected peers and the parties of our proposed and
// active treaties, ordered by DID. The slice is the caller's.
func (m *Mesh) Peers() []PeerInfo {
	byID := map[peer.ID]*PeerInfo{}
	add := func(id peer.ID) *PeerInfo {
		if p := byID[id]; p != nil {
			return p
		}
		did, err := DIDOf(id)
		if err != nil {
			return nil
		}
		p := &PeerInfo{DID: did, ID: id}
		byID[id] = p
		return p
	}
	for _, id := range m.host.Network().Peers() {
		add(id)
	}
	for _, info := range m.book.list() {
		if !info.Treaty.IsParty(m.me) || (info.State != treaty.StateActive && info.State != treaty.StateProposed) {
			continue
		}
		for _, d := range info.Treaty.Parties {
			if d == m.me {
				continue
			}
			id, err := PeerIDOf(d)
			if err != nil {
				continue
			}
			if p := add(id); p != nil {
				p.Treaties = append(p.Treaties, info.CID)
			}
		}
	}
	out := make([]PeerInfo, 0, len(byID))
	for id, p := range byID {
		p.Addrs = m.host.Peerstore().Addrs(id)
		p.Connected = m.host.Network().Connectedness(id) == network.Connected
		p.Score, _ = m.gossipScore(id)
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int {
		switch {
		case a.DID < b.DID:
			return -1
		case a.DID > b.DID:
			return 1
		}
		return 0
	})
	return out
}

// IsPartner reports whether d is a party to an active treaty with this
// node: the peers that are exempt from the stranger limits and whose
// reputation reports count (a Reputation's Trust). It is an O(1) read of
// the book's snapshot.
func (m *Mesh) IsPartner(d treaty.DID) bool { return m.isPartnerDID(d) }
