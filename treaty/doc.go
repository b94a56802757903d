// Package treaty is Aurora's data model: the records operators and clients
// exchange (Order, Ack, Denial, JobRecord, Treaty, Revocation,
// ReputationReport, Anchor), their identities (Ed25519 did:key), canonical
// encoding, signatures, validation and the treaty lifecycle.
//
// The package is pure: no I/O, no clocks (callers pass now), no globals
// beyond immutable codec tables.
//
// # Encoding
//
// Records follow the IPLD schema in schema.ipldsch (see SchemaText). They are
// encoded as canonical dag-cbor for signing, hashing, storage and the wire,
// and as dag-json for people and the HTTP API. A record's ID is the CIDv1
// (dag-cbor, sha2-256) of its encoding, so every record is also an IPFS block.
// Decode accepts only canonical input: unknown, missing or duplicate fields,
// trailing bytes and non-shortest forms are rejected, so one record has one
// encoding and one CID.
//
// # Signatures
//
// A signature is Ed25519 over "aurora/v1/<kind>\n" followed by the dag-cbor of
// the record with its signature field absent (treaties: with an empty sigs
// list). The kind in the domain keeps a signature for one kind of record from
// being replayed as another. Treaties carry one signature per party.
//
// # Validation
//
// Every limit is a named constant (MaxRecordSize, MaxClockSkew, ...). A
// failure is a *ValidationError naming the field by its dotted path and the
// rule it broke.
package treaty
