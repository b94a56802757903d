package mesh

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"

	"github.com/aurora-federation/aurora/treaty"
)

// What a stranger — a peer that is not a party to an active treaty with
// this node — can make the node hold. Treaty partners are exempt from all
// of these; they meet only the resource manager's protocol limits, which
// strangers together can never fill (docs/TREATY_PROTOCOL.md, Limits).
const (
	// StrangerOrderStreams and StrangerOrderStreamsPerPeer bound the
	// inbound /aurora/order/1.0.0 and /aurora/order-query/1.0.0 streams
	// all strangers together, and one stranger, may hold open. A stranger
	// has no lane, so it only ever gets a no_lane refusal.
	StrangerOrderStreams        = 64
	StrangerOrderStreamsPerPeer = 2
	// StrangerWitnessStreams and StrangerWitnessStreamsPerPeer bound
	// strangers' /aurora/witness/1.0.0 streams.
	StrangerWitnessStreams        = 16
	StrangerWitnessStreamsPerPeer = 1
	// StrangerSyncStreams and StrangerSyncStreamsPerPeer bound strangers'
	// /aurora/sync/1.0.0 streams: treaties and anchors are public law, so
	// anyone may sync, a few at a time.
	StrangerSyncStreams        = 32
	StrangerSyncStreamsPerPeer = 2

	// StrangerGossipRate and StrangerGossipBurst bound the treaty and
	// anchor messages per second a stranger may relay to us; beyond them
	// its messages are ignored (not relayed, not stored).
	StrangerGossipRate  = 4
	StrangerGossipBurst = 32
	// MaxProposalsPerSigner bounds the treaties in the book that are not
	// yet signed by every party and carry one DID's signature (but not
	// ours): a proposer cannot fill the book.
	MaxProposalsPerSigner = 4
	// MaxProposals bounds all such proposals together.
	MaxProposals = 512
	// MaxStrangerAnchorOrigins bounds the logs of strangers (origins whose
	// operator is not a treaty partner) whose latest anchor we keep, out of
	// MaxAnchorOrigins: partners' logs always fit.
	MaxStrangerAnchorOrigins = 256
	// MaxStrangerSyncRecords bounds the records of one collection we fetch
	// from a stranger in one sync round.
	MaxStrangerSyncRecords = 256
	// maxLimited bounds the strangers whose gossip rate is tracked.
	maxLimited = 4096
)

// Reasons of aurora_mesh_refused_total.
const (
	RefusedPeerBudget     = "peer_budget"     // one stranger's stream budget on the protocol is used
	RefusedStrangerBudget = "stranger_budget" // all strangers' stream budget on the protocol is used
	RefusedRate           = "rate"            // a stranger relays gossip faster than StrangerGossipRate
	RefusedNotMember      = "not_member"      // a reputation report by a non-partner
	RefusedProposals      = "proposals"       // a proposal over MaxProposalsPerSigner or MaxProposals
	RefusedAnchorOrigins  = "anchor_origins"  // a stranger's log over MaxStrangerAnchorOrigins
	RefusedEvidenceLogs   = "evidence_logs"   // evidence about a stranger's log over MaxStrangerEvidence
)

// streamBudget is strangers' share of one protocol.
type streamBudget struct{ total, perPeer int }

// strangerBudget returns strangers' budget on an Aurora protocol (the two
// order protocols and cancel share one), and false for any other protocol.
func strangerBudget(p protocol.ID) (key protocol.ID, b streamBudget, ok bool) {
	switch p {
	case ProtocolOrder, ProtocolOrderQuery, ProtocolCancel:
		return ProtocolOrder, streamBudget{StrangerOrderStreams, StrangerOrderStreamsPerPeer}, true
	case ProtocolWitness:
		return ProtocolWitness, streamBudget{StrangerWitnessStreams, StrangerWitnessStreamsPerPeer}, true
	case ProtocolSync:
		return ProtocolSync, streamBudget{StrangerSyncStreams, StrangerSyncStreamsPerPeer}, true
	}
	return "", streamBudget{}, false
}

// isPartner reports whether p is a party to an active treaty with us: an
// O(1) read of the book's snapshot of our treaties.
func (m *Mesh) isPartner(p peer.ID) bool {
	_, ok := m.book.current().partners[p]
	return ok
}

// isPartnerDID is isPartner for a DID.
func (m *Mesh) isPartnerDID(d treaty.DID) bool {
	id, err := PeerIDOf(d)
	return err == nil && m.isPartner(id)
}

// ErrStrangerBudget is the resource manager's refusal of a stranger's
// stream over its budget; the stream is reset with
// network.StreamResourceLimitExceeded before its handler runs.
var ErrStrangerBudget = errors.New("mesh: stream budget for peers without an active treaty is used")

// guardedRM is the host's resource manager with strangers' budgets on
// Aurora's protocols. The budget is checked when the stream's protocol is
// set — after negotiation, before the handler reads a byte — from the
// peer ID alone, and a refused stream never counts against the protocol's
// limits, so strangers cannot take the streams reserved for partners.
type guardedRM struct {
	network.ResourceManager
	partner func(peer.ID) bool
	refused func(kind, reason string)
	// conns rate-limits new connections of non-partners' addresses
	// (connlimit.go); nil: none.
	conns *connAllow

	mu    sync.Mutex // protects following
	total map[protocol.ID]int
	open  map[protocol.ID]map[peer.ID]int
}

func newGuardedRM(rm network.ResourceManager, partner func(peer.ID) bool, refused func(kind, reason string), conns *connAllow) *guardedRM {
	return &guardedRM{ResourceManager: rm, partner: partner, refused: refused, conns: conns, total: map[protocol.ID]int{}, open: map[protocol.ID]map[peer.ID]int{}}
}

// OpenStream wraps inbound stream scopes.
func (g *guardedRM) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	s, err := g.ResourceManager.OpenStream(p, dir)
	if err != nil || dir != network.DirInbound {
		return s, err
	}
	return &guardedStream{StreamManagementScope: s, g: g, peer: p}, nil
}

// admit takes one of a stranger's streams on proto; the key to release
// with, or "" when proto has no budget or p is a partner.
func (g *guardedRM) admit(p peer.ID, proto protocol.ID) (protocol.ID, error) {
	key, b, ok := strangerBudget(proto)
	if !ok || g.partner(p) {
		return "", nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	per := g.open[key]
	switch {
	case per[p] >= b.perPeer:
		g.refused(string(proto), RefusedPeerBudget)
		return "", fmt.Errorf("%w: %s has %d %s streams open", ErrStrangerBudget, p, per[p], key)
	case g.total[key] >= b.total:
		g.refused(string(proto), RefusedStrangerBudget)
		return "", fmt.Errorf("%w: strangers have %d %s streams open", ErrStrangerBudget, g.total[key], key)
	}
	if per == nil {
		per = map[peer.ID]int{}
		g.open[key] = per
	}
	per[p]++
	g.total[key]++
	return key, nil
}

func (g *guardedRM) release(p peer.ID, key protocol.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	per := g.open[key]
	if per[p] <= 1 {
		delete(per, p)
	} else {
		per[p]--
	}
	g.total[key]--
}

// guardedStream holds a stranger's budget from SetProtocol to Done.
type guardedStream struct {
	network.StreamManagementScope
	g    *guardedRM
	peer peer.ID

	mu   sync.Mutex // protects held
	held protocol.ID
}

func (s *guardedStream) SetProtocol(proto protocol.ID) error {
	key, err := s.g.admit(s.peer, proto)
	if err != nil {
		return err
	}
	if err := s.StreamManagementScope.SetProtocol(proto); err != nil {
		if key != "" {
			s.g.release(s.peer, key)
		}
		return err
	}
	if key != "" {
		s.mu.Lock()
		s.held = key
		s.mu.Unlock()
	}
	return nil
}

func (s *guardedStream) Done() {
	s.StreamManagementScope.Done()
	s.mu.Lock()
	key := s.held
	s.held = ""
	s.mu.Unlock()
	if key != "" {
		s.g.release(s.peer, key)
	}
}

// gossipLimiter rate-limits strangers' gossip, per relaying peer. It
// tracks at most maxLimited strangers; when full, the ones with full
// buckets (quiet lately) are forgotten, and if none is, new strangers are
// refused until some are.
type gossipLimiter struct {
	mu      sync.Mutex // protects buckets
	buckets map[peer.ID]*rate.Limiter
}

func (l *gossipLimiter) allow(p peer.ID, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[p]
	if b == nil {
		if l.buckets == nil {
			l.buckets = map[peer.ID]*rate.Limiter{}
		}
		if len(l.buckets) >= maxLimited {
			for id, lim := range l.buckets {
				if lim.TokensAt(now) >= StrangerGossipBurst {
					delete(l.buckets, id)
				}
			}
			if len(l.buckets) >= maxLimited {
				return false
			}
		}
		b = rate.NewLimiter(StrangerGossipRate, StrangerGossipBurst)
		l.buckets[p] = b
	}
	return b.AllowN(now, 1)
}

// allowGossip reports whether a message relayed by from may be judged:
// partners (and we) always, strangers within StrangerGossipRate.
func (m *Mesh) allowGossip(kind int, from peer.ID) error {
	if from == m.id || m.isPartner(from) || m.limiter.allow(from, time.Now()) {
		return nil
	}
	m.metrics.refused.WithLabelValues(kindNames[kind], RefusedRate).Inc()
	return fmt.Errorf("%w: %s relays %s gossip faster than %d/s", ErrIgnore, from, kindNames[kind], StrangerGossipRate)
}

// originOwner returns the peer whose log an anchor origin names
// ("aurora/<federation>/<peer ID>").
func (m *Mesh) originOwner(origin string) (peer.ID, bool) {
	prefix := "aurora/" + m.cfg.Federation + "/"
	if len(origin) <= len(prefix) || origin[:len(prefix)] != prefix {
		return "", false
	}
	id, err := peer.Decode(origin[len(prefix):])
	return id, err == nil
}
