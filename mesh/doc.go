// Package mesh is an Aurora node's presence on its federation's libp2p
// network.
//
// A Mesh runs one libp2p host whose identity is the operator key (the peer
// ID and the operator DID name the same Ed25519 key), listening on TCP and
// QUIC (TCP only under a PSK), with a connection manager that protects
// treaty partners, a resource manager with explicit limits for Aurora's
// protocols, an optional allow-list of federation members, and discovery
// by bootstrap addresses, mDNS and an optional /aurora Kademlia DHT. Peer
// addresses are remembered in the datastore, so a restarted node finds its
// treaty partners without a bootstrap list.
//
// # Gossip
//
// Four gossipsub topics per federation carry public records:
// /aurora/<federation>/treaty/1 (treaties and revocations),
// /aurora/<federation>/reputation/1 (signed per-epoch reputation reports),
// /aurora/<federation>/anchor/1 (log checkpoints) and
// /aurora/<federation>/evidence/1 (proof that a log equivocated, kept with
// Equivocations and published with PublishEvidence). Messages are unsigned
// at the pubsub layer and identified by a content hash; inline validators
// verify the records' own signatures and reject sender faults (bad
// signature, malformed) or ignore what they cannot judge (unknown, stale,
// duplicate). Treaty partners are gossipsub direct peers.
//
// # The treaty book
//
// Every node stores every valid treaty it sees, merging the signatures of
// the versions of one treaty, and computes lifecycles with
// treaty.Lifecycle. Propose, Countersign, Revoke and Submit change the
// book and gossip; List and Get read it. PeersFor and Lane answer the order
// pipeline from a snapshot of the node's own active treaties.
//
// # Streams
//
// /aurora/order/1.0.0 forwards a signed order under a treaty and returns
// the peer's signed Ack or Denial (Forward, Config.OnOrder);
// /aurora/witness/1.0.0 carries C2SP add-checkpoint requests
// (RequestCosign, Config.OnWitness); /aurora/sync/1.0.0 is anti-entropy for
// treaties, anchors and evidence, so a node that missed gossip converges
// within one sync interval.
//
// # Lane SLAs
//
// The mesh measures each lane of its own active treaties against the
// treaty's SLA from what it observes: its forwards' answers and round
// trips (Forward) and what became of the peers' orders it acked
// (ObserveSettled), over a sliding window (Config.SLAWindow), exported as
// the aurora_treaty_sla_* gauges. Every stream carries unsigned-varint length-prefixed
// dag-cbor frames with named size limits and runs under a deadline.
//
// docs/TREATY_PROTOCOL.md specifies the wire protocol for other
// implementations.
package mesh
