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
// # Epochs of any size, pinned and fetched in constant history
//
// An epoch root links its records through a fan-out tree of chunks of at
// most Fanout (1,024) links (tree.go; docs/PROVENANCE.md §8 gives the layout
// byte for byte), so no block grows with the epoch. PinEpochInfo, the
// provenance loop's Pin hook, streams the epoch's leaves from the log,
// stores them in batches and builds the tree as it goes: time linear in the
// epoch, memory bounded by the fan-out. It pins the new root without a walk
// (its blocks were just stored) and unpins the previous one.
//
// An epoch root also links to the previous one, so the chain of roots is
// one growing DAG: re-pinning the head, boxo's pinner.Update, or FetchDAG
// walk all of it. PinEpoch and FetchEpoch instead walk only the epoch: the
// root, its tree, the records and the blocks the records link to directly,
// never prev nor the anchored peers' histories. FetchEpoch is the peer
// fetch for cross-anchoring: constant in every history's length, bounded
// per fetch (FetchOptions), failing with a *LimitError or a
// *MissingBlocksError. PinRecursive never touches the network, so a
// dangling link fails at once; FetchDAG, FetchEpoch and Get wait for members
// until the context's deadline, or Config.FetchTimeout. Requests to members
// go out at most 1,024 blocks at a time, the queue a boxo server keeps per
// peer.
//
// # EpochRoot
//
// EpochRoot documents the schema of the block written when an epoch closes.
//
// # boxo
//
// boxo's upstream maintenance ended on 2026-09-30. Only boxo.go imports it,
// behind three small interfaces (local blocks, exchange, pin set); the DAG
// walk uses go-ipld-prime directly. Replacing boxo means reimplementing
// those interfaces.
package ipfs
