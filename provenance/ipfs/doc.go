// Package ipfs stores, pins and exchanges Aurora's provenance blocks over
// IPFS protocols, on the node's own libp2p host and datastore.
//
// A Node holds a blockstore on the given datastore (blocks under /blocks),
// bitswap (client and server) on the given host, and a pin set on the same
// datastore (under /pins). Blocks are dag-cbor (records, epoch roots) or
// raw, addressed by CIDv1 with sha2-256; other codecs and hashes are
// refused, in our blocks and in the links of peers' blocks.
//
// # Members only
//
// Bitswap talks to federation members only (Config.Allow): non-members are
// never told our wants, their messages are dropped before bitswap sees them
// (so they are neither served nor able to probe what we hold), and sends to
// them are refused. A request filter on the bitswap server backs this up.
// A non-member's fetch therefore times out. MembershipChanged re-evaluates
// Allow for connected peers; connection gating itself is the mesh's job.
//
// # Pinning epochs in constant time
//
// An epoch root links to the previous one, so the chain of roots is one
// growing DAG. Re-pinning the head, or boxo's pinner.Update, walks all of it
// every epoch. PinEpoch instead checks only the new epoch's blocks (the walk
// stops at the previous root, which is complete because it is pinned),
// pins the new root without a walk, then unpins the previous one: the cost
// per epoch depends on the epoch, not on the history. FetchEpoch does the
// same for a peer's chain, fetching the new blocks from members.
// PinRecursive never touches the network, so a dangling link fails at once;
// FetchDAG and Get wait for members until the context's deadline, or
// Config.FetchTimeout.
//
// # EpochRoot
//
// EpochRoot documents the schema of the block written when an epoch closes.
// PinEpochInfo is the provenance loop's Pin hook.
//
// # boxo
//
// boxo's upstream maintenance ended on 2026-09-30. Only boxo.go imports it,
// behind three small interfaces (local blocks, exchange, pin set); the DAG
// walk uses go-ipld-prime directly. Replacing boxo means reimplementing
// those interfaces.
package ipfs
