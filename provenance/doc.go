// Package provenance is a node's provenance trail: an append-only RFC 6962
// Merkle log of job records, C2SP signed checkpoints, witnessing by treaty
// peers, equivocation evidence, cross-anchoring, proof bundles and their
// offline verifier, and the epoch loop that ties them together.
//
// The package is pure logic over a go-datastore: it imports no mesh, node,
// net/http or os. Transports (the witness stream, gossip), RFC 3161 clients
// (provenance/tsa) and IPFS pinning (provenance/ipfs) plug in through small
// interfaces and func fields.
//
// # Log
//
// [OpenLog] opens one continuous log per node in a datastore namespace.
// [Log.Append] adds a batch of leaves in one transaction (leaf bytes, the
// subtree hashes they complete, the size), so a crash never leaves half a
// batch. Leaves are the canonical dag-cbor of treaty.LogEntry: job records,
// anchors (verified peer checkpoints), tsa entries (token digests) and
// release entries (a published release bundle's digest, signer and token
// digests).
// Proofs ([Log.InclusionProof], [Log.ConsistencyProof]) are built from the
// stored subtree hashes with transparency-dev/merkle and match both its
// reference tree and golang.org/x/mod/sumdb/tlog.
//
// # Checkpoints and witnesses
//
// [Log.Checkpoint] signs a C2SP tlog-checkpoint (origin
// "aurora/<federation>/<peer ID>", Ed25519 signed note whose key name is the
// origin; the key is the node's). A [Witness] implements tlog-witness
// add-checkpoint: it verifies the log's signature and a consistency proof
// against the checkpoint it stored, persists the new one atomically per
// origin, and returns a timestamped cosignature/v1 line. [StatusCode] maps
// its errors to the spec's HTTP codes for the mesh transport.
//
// # Equivocation
//
// Two signed checkpoints of one origin that cannot both be honest are an
// [EquivocationError] carrying [Evidence], which is self-contained
// (dag-cbor, [ParseEvidence]) and checkable by anyone with [VerifyEvidence].
//
// # Bundles
//
// A [Bundle] is a C2SP tlog-proof whose extra data carries the leaf, the
// RFC 3161 tokens and the epoch root CID. [VerifyBundle] checks it offline
// and reports one [Verdict] per link, naming the first broken one.
//
// # Epochs
//
// [Epochs] closes an epoch every interval: checkpoint, witness round, pin,
// gossip, with TSAs asynchronous, persisting each phase; after a crash
// [NewEpochs] checks the state against the log and the next close finishes
// the interrupted epoch. A failed pin never holds up the next checkpoint:
// it is retried in the background and epochs are pinned in order. An idle
// log closes no epoch and calls no TSA; its checkpoint is witnessed again
// every heartbeat. The pin hook streams the epoch's leaves
// ([Log.ReadLeaves]), so an epoch of any size fits in bounded memory, and
// [Log.AppendEach] splits any number of leaves into bounded transactions.
// [VerifyBundle] reports what it checked and what it skipped
// ([Report.Complete]) and counts RFC 3161 tokens from distinct TSAs only.
// docs/PROVENANCE.md documents the formats for third parties.
//
// # The light core
//
// The formats (signed notes, checkpoints, cosignatures, Merkle proofs,
// bundles, evidence) and the offline verifier live in provenance/c2sp,
// which imports no storage, metrics or treaty packages so that
// cmd/aurora-verify starts in milliseconds; this package re-exports them
// (formats.go) and checks job records against the treaty schema
// ([CheckJobLeaf]).
package provenance
