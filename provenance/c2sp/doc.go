// Package c2sp holds the formats of Aurora's provenance trail that a
// verifier needs, and the offline verifier itself: C2SP signed notes and
// their key forms, tlog-checkpoint, cosignature/v1, RFC 6962 inclusion and
// consistency proofs, proof bundles (a C2SP tlog-proof whose extra data
// carries the leaf, the RFC 3161 tokens and the epoch root CID),
// equivocation evidence, and [VerifyBundle].
//
// It is the light core under package provenance, which re-exports it next
// to the log, the witness and the epoch loop: it imports no storage,
// metrics, network or treaty packages (only the standard library,
// golang.org/x/mod/sumdb/note, transparency-dev/merkle, fxamacker/cbor and
// base58), so a verifier that links it alone (cmd/aurora-verify) starts in
// milliseconds. A test of cmd/aurora-verify guards that import set.
//
// Job records are decoded here only as far as a verifier reports them
// ([DecodeJobLeaf]: canonical dag-cbor of a LogEntry holding a job, with
// valid DIDs and statuses); [VerifyOptions.Record] lets a caller apply the
// full schema (package provenance passes treaty's decoder and field rules).
//
// Error messages keep the "provenance:" prefix: they describe the trail's
// formats, whichever package parsed them. docs/PROVENANCE.md documents the
// formats for third parties.
package c2sp
