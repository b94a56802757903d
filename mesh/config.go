package mesh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// Stream protocol IDs.
const (
	ProtocolOrder   protocol.ID = "/aurora/order/1.0.0"
	ProtocolWitness protocol.ID = "/aurora/witness/1.0.0"
	ProtocolSync    protocol.ID = "/aurora/sync/1.0.0"
	// ProtocolOrderQuery asks a peer what became of a forwarded order
	// whose answer was lost (docs/TREATY_PROTOCOL.md).
	ProtocolOrderQuery protocol.ID = "/aurora/order-query/1.0.0"
	// ProtocolCancel relays a tenant's signed Cancel of a forwarded job to
	// the treaty peer that runs it.
	ProtocolCancel protocol.ID = "/aurora/cancel/1.0.0"
)

// Resource-manager service names the stream handlers account to.
const (
	ServiceOrder   = "aurora.order"
	ServiceWitness = "aurora.witness"
	ServiceSync    = "aurora.sync"
)

// DHTPrefix is the Kademlia protocol prefix: Aurora's DHT is separate from
// the public IPFS (Amino) DHT.
const DHTPrefix = "/aurora"

// Named limits. Peer input is hostile: every frame and list is bounded.
const (
	// MaxOrderRequestFrame bounds an order request frame: one order record
	// plus the treaty CID and traceparent.
	MaxOrderRequestFrame = treaty.MaxRecordSize + 1024
	// MaxOrderResponseFrame bounds an order response: one Ack or Denial.
	MaxOrderResponseFrame = treaty.MaxRecordSize + 1024
	// MaxWitnessRequestFrame bounds a witness request: one C2SP
	// add-checkpoint body.
	MaxWitnessRequestFrame = provenance.MaxAddCheckpointSize + 64
	// MaxWitnessResponseFrame bounds a witness response (cosignature lines
	// or an error).
	MaxWitnessResponseFrame = 16 << 10
	// MaxSyncIDs bounds the ids one sync list response carries.
	MaxSyncIDs = 8192
	// MaxSyncFetch bounds the ids of one fetch request (and so the records
	// of its response).
	MaxSyncFetch = 32
	// MaxSyncRequestFrame bounds a sync request.
	MaxSyncRequestFrame = MaxSyncFetch*64 + 256
	// MaxSyncResponseFrame bounds a sync response: MaxSyncIDs CIDs or
	// MaxSyncFetch records.
	MaxSyncResponseFrame = MaxSyncFetch*(treaty.MaxRecordSize+16) + 1024
	// MaxSyncRequestsPerStream bounds the requests one sync stream serves.
	MaxSyncRequestsPerStream = 1 + MaxSyncIDs/MaxSyncFetch
	// MaxGossipMessage bounds a pubsub message on Aurora topics.
	MaxGossipMessage = treaty.MaxRecordSize + 64
	// MaxErrorMessageLen bounds the message of an error frame.
	MaxErrorMessageLen = 512
	// MaxErrorCodeLen bounds the code of an error frame.
	MaxErrorCodeLen = 64
	// MaxTraceparentLen bounds the W3C traceparent of an order frame
	// (version 00 is 55 bytes; later versions may append fields).
	MaxTraceparentLen = 256
)

// Clock tells the time. Treaty lifecycles, revocations and report
// staleness depend on it; stream deadlines always use the real clock.
type Clock func() time.Time

// OrderHandler takes an order a treaty peer forwarded under treatyCID and
// returns the signed dag-cbor of our Ack or Denial. An error that has an
// ErrorCode() string method is sent to the peer with that code (and its
// message); any other error is sent as code "internal" without details.
type OrderHandler func(ctx context.Context, from treaty.DID, treatyCID treaty.Link, order []byte) (reply []byte, err error)

// QueryHandler answers a treaty peer asking what became of an order it
// forwarded (by CID) after losing the answer: the signed Ack or Denial we
// gave it, or a signed Denial withdrawing an order we never received.
// Errors are sent like OrderHandler's.
type QueryHandler func(ctx context.Context, from treaty.DID, treatyCID treaty.Link, order cid.Cid) (reply []byte, err error)

// CancelHandler applies a tenant's signed Cancel (dag-cbor) that the treaty
// peer from relayed under treatyCID, and returns the canceled job's record
// (dag-cbor). Errors with an ErrorCode reach the peer with their code and
// message.
type CancelHandler func(ctx context.Context, from treaty.DID, treatyCID treaty.Link, cancel []byte) (record []byte, err error)

// WitnessHandler takes a C2SP add-checkpoint body from a peer and returns
// the cosignature lines (provenance.Witness.AddCheckpoint). Errors are
// mapped to C2SP status codes with provenance.StatusCode.
type WitnessHandler func(ctx context.Context, from treaty.DID, body []byte) ([]byte, error)

// AnchorHandler judges an anchor received from a peer (gossip or sync): it
// verifies the checkpoint note and records it. nil accepts and relays the
// anchor; an error wrapping ErrIgnore drops it without penalizing the peer
// (cannot judge: unknown log); any other error rejects it (the sender is
// penalized). It must be idempotent: sync may hand the same anchor again.
type AnchorHandler func(ctx context.Context, from treaty.DID, a *treaty.Anchor) error

// ReputationHandler receives a verified, fresh reputation report signed by
// from.
type ReputationHandler func(from treaty.DID, r *treaty.ReputationReport)

// Config configures a Mesh. The zero value of every field but Key and
// Federation works; defaults are documented per field.
type Config struct {
	// Key is the operator key: the libp2p identity (peer ID) and the DID
	// that signs treaties. Required.
	Key *treaty.PrivateKey
	// Federation names the federation (a lowercase name): it scopes the
	// topics and treaties. Required.
	Federation string

	// ListenAddrs are multiaddrs to listen on. Default
	// /ip4/0.0.0.0/tcp/4001 and /ip4/0.0.0.0/udp/4001/quic-v1.
	ListenAddrs []string
	// Announce, when set, are the addresses the node announces to peers
	// (identify, the DHT) instead of the ones it listens on: a public
	// address, or a NAT router's port forwarded to the listen port, so
	// that partners can dial it. Default: the listen addresses as the
	// host sees them.
	Announce []string
	// Bootstrap are full multiaddrs (with /p2p/<peer ID>) dialled at start
	// and kept connected by the reconnect loop. Default none.
	Bootstrap []string
	// MDNS enables LAN discovery (testnets). Default off.
	MDNS bool
	// DHT runs a Kademlia DHT under the /aurora prefix (server mode) for
	// finding treaty peers whose addresses changed. Default off.
	DHT bool
	// PSK, when set, makes this a private network: 32 raw bytes, or the
	// contents of a swarm.key file (/key/swarm/psk/1.0.0/, base16 or
	// base64). QUIC cannot carry a PSK, so QUIC listen addresses are
	// dropped and only TCP is used. Default none.
	PSK []byte
	// Members, when not empty, is the federation allow-list: connections
	// to or from any other peer are refused by the connection gater.
	// Default: anyone may connect.
	Members []treaty.DID

	// Datastore persists the treaty book, known peer addresses and the
	// latest anchors. Default: an in-memory store (nothing survives Close).
	Datastore datastore.Batching
	// MaxTreaties bounds the treaty book; when it is full, new treaties
	// that do not name us as a party are ignored. Default 4096.
	MaxTreaties int

	// Clock is the time source for lifecycles and staleness. Default
	// time.Now.
	Clock Clock
	// Logger receives the mesh's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the mesh's metrics (and loses them at Close).
	// Default: not registered.
	Registerer prometheus.Registerer

	// OnOrder handles forwarded orders. Default: every order is refused
	// with code "unavailable".
	OnOrder OrderHandler
	// OnQuery answers /aurora/order-query/1.0.0. Default: every query is
	// refused with code "unavailable".
	OnQuery QueryHandler
	// OnCancel answers /aurora/cancel/1.0.0 (treaty partners only).
	// Default: every cancel is refused with code "unavailable".
	OnCancel CancelHandler
	// OnWitness handles cosigning requests. Default: refused (404).
	OnWitness WitnessHandler
	// OnAnchor judges received anchors. Default: well-formed anchors are
	// accepted.
	OnAnchor AnchorHandler
	// OnReputation receives verified reputation reports by treaty
	// partners (parties to an active treaty with us; strangers' reports
	// are ignored and not relayed). Default: dropped after validation.
	OnReputation ReputationHandler
	// OnEquivocation is told of evidence of an equivocating log that the
	// mesh verified and stored by itself: received from a peer (gossip,
	// sync) or found in two anchors of one log at one size. Default: kept
	// and relayed only.
	OnEquivocation EquivocationHandler
	// OnTreaty, if set, is called after a treaty or a revocation changed
	// the book (gossip, sync or API), with the treaty's new state. It is
	// called synchronously from the goroutine that made the change, never
	// with a lock held, and may be called concurrently.
	OnTreaty func(TreatyInfo)
	// PeerScore is gossipsub's application-specific score of a peer (P5),
	// called under the router's lock on every score read: it must be an
	// O(1) read of a precomputed snapshot, without I/O. The result is
	// clamped to [-1000, 100]. Default 0 for everyone.
	PeerScore func(peer.ID) float64

	// SyncInterval is how often the node runs anti-entropy with a few
	// connected peers (it also syncs with every newly connected peer).
	// Default 30s; testnets use 2s.
	SyncInterval time.Duration
	// ReconnectInterval is how often the node redials disconnected
	// bootstrap and remembered peers (treaty partners have dial loops of
	// their own: Redial). Default 10s.
	ReconnectInterval time.Duration
	// Redial configures the treaty partners' dial loops and how long a
	// request waits for one. The zero value works.
	Redial RedialConfig
	// StreamTimeout is the deadline of every stream exchange (order,
	// witness, sync) and bounds OnOrder and OnWitness. Default 10s.
	StreamTimeout time.Duration
	// DialTimeout bounds one reconnect attempt. Default 5s.
	DialTimeout time.Duration
	// ReputationEpoch is the length of a reputation epoch: a report for
	// epoch e covers [e·ReputationEpoch, (e+1)·ReputationEpoch) in unix
	// time. Default 1 minute.
	ReputationEpoch time.Duration
	// ReputationMaxAge is how many epochs behind the current one a report
	// may be and still be accepted. Default 2.
	ReputationMaxAge int64
	// SLAWindow is the sliding window over which each lane's fill ratio
	// and forward RTT p95 are measured (at most the last MaxSLASamples
	// observations of a lane). Default 5 minutes.
	SLAWindow time.Duration
}

func (c *Config) validate() error {
	if c.Key == nil {
		return errors.New("mesh: config: Key is required")
	}
	if err := checkName(c.Federation); err != nil {
		return fmt.Errorf("mesh: config: Federation: %w", err)
	}
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}
	}
	for i, a := range c.ListenAddrs {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return fmt.Errorf("mesh: config: ListenAddrs[%d] %q: %w", i, a, err)
		}
	}
	for i, a := range c.Announce {
		m, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return fmt.Errorf("mesh: config: Announce[%d] %q: %w", i, a, err)
		}
		if _, err := m.ValueForProtocol(multiaddr.P_P2P); err == nil {
			return fmt.Errorf("mesh: config: Announce[%d] %q: want an address without /p2p/<peer ID>", i, a)
		}
	}
	for i, a := range c.Bootstrap {
		if _, err := peer.AddrInfoFromString(a); err != nil {
			return fmt.Errorf("mesh: config: Bootstrap[%d] %q: want a multiaddr ending in /p2p/<peer ID>: %w", i, a, err)
		}
	}
	if c.PSK != nil && len(c.PSK) != 32 {
		psk, err := pnet.DecodeV1PSK(bytes.NewReader(c.PSK))
		if err != nil || len(psk) != 32 {
			return fmt.Errorf("mesh: config: PSK is neither 32 bytes nor a /key/swarm/psk/1.0.0/ file (%d bytes): %v", len(c.PSK), err)
		}
		c.PSK = psk
	}
	for i, d := range c.Members {
		if _, err := d.PublicKey(); err != nil {
			return fmt.Errorf("mesh: config: Members[%d]: %w", i, err)
		}
	}
	if c.Datastore == nil {
		c.Datastore = dssync.MutexWrap(datastore.NewMapDatastore())
	}
	if c.MaxTreaties == 0 {
		c.MaxTreaties = 4096
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = 30 * time.Second
	}
	if c.ReconnectInterval == 0 {
		c.ReconnectInterval = 10 * time.Second
	}
	if c.StreamTimeout == 0 {
		c.StreamTimeout = 10 * time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.ReputationEpoch == 0 {
		c.ReputationEpoch = time.Minute
	}
	if c.ReputationEpoch < time.Second {
		return fmt.Errorf("mesh: config: ReputationEpoch %s is under 1s", c.ReputationEpoch)
	}
	if c.ReputationMaxAge == 0 {
		c.ReputationMaxAge = 2
	}
	if c.SLAWindow == 0 {
		c.SLAWindow = 5 * time.Minute
	}
	if err := c.Redial.validate(); err != nil {
		return err
	}
	for name, d := range map[string]time.Duration{"SyncInterval": c.SyncInterval, "ReconnectInterval": c.ReconnectInterval,
		"StreamTimeout": c.StreamTimeout, "DialTimeout": c.DialTimeout, "SLAWindow": c.SLAWindow} {
		if d < 0 {
			return fmt.Errorf("mesh: config: %s is negative", name)
		}
	}
	if c.MaxTreaties < 0 || c.ReputationMaxAge < 0 {
		return errors.New("mesh: config: MaxTreaties and ReputationMaxAge must not be negative")
	}
	return nil
}

// checkName checks a lowercase identifier: [a-z0-9][a-z0-9._-]*, at most
// treaty.MaxNameLen bytes (the treaty package's rule for federation names).
func checkName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > treaty.MaxNameLen {
		return fmt.Errorf("%d bytes, limit %d", len(s), treaty.MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || i > 0 && (b == '-' || b == '.' || b == '_')) {
			return fmt.Errorf("%q is not a lowercase name ([a-z0-9][a-z0-9._-]*)", s)
		}
	}
	return nil
}

// Topics returns the gossipsub topics of a federation, in this order:
// treaty, reputation, anchor and evidence (/aurora/<federation>/<kind>/1).
// The slice is the caller's.
func Topics(federation string) []string {
	out := make([]string, 0, numKinds)
	for _, k := range kindNames {
		out = append(out, "/aurora/"+federation+"/"+k+"/1")
	}
	return out
}
