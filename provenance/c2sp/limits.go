package c2sp

import (
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Named limits. Input is hostile: every parser checks these first. The
// values that treaty also names (record, checkpoint and token sizes, the
// clock skew) are equal to treaty's; provenance's tests check it.
const (
	// MaxNoteSize bounds a signed note (checkpoint text plus signatures).
	MaxNoteSize = 16 << 10
	// MaxNoteSignatures bounds the signature lines of a note: the log's plus
	// at most 15 cosignatures. C2SP signed-note verifiers must accept at least
	// 16 signatures, so every conforming verifier accepts our notes.
	MaxNoteSignatures = 16
	// MaxKeyNameLen bounds a signed-note key name.
	MaxKeyNameLen = 256
	// MaxOriginLen bounds a checkpoint origin line.
	MaxOriginLen = 256
	// MaxExtensionLines bounds a checkpoint's extension lines (Aurora logs
	// write none; C2SP allows them).
	MaxExtensionLines = 8
	// MaxExtensionLineLen bounds one extension line.
	MaxExtensionLineLen = 256
	// MaxTreeSize bounds tree sizes so that size arithmetic cannot overflow.
	MaxTreeSize = 1 << 48
	// MaxProofHashes bounds an inclusion or consistency proof. A consistency
	// proof has at most 2·log2(size) hashes; tlog-witness allows 63 lines.
	MaxProofHashes = 63
	// MaxLeafSize bounds one log leaf (a LogEntry's dag-cbor).
	MaxLeafSize = 64 << 10
	// MaxBundleSize bounds a proof bundle file.
	MaxBundleSize = 256 << 10
	// MaxEvidenceSize bounds an encoded Evidence record.
	MaxEvidenceSize = 2*MaxNoteSize + MaxProofHashes*40 + 256
	// MaxTSATokens bounds the RFC 3161 tokens carried for one checkpoint.
	MaxTSATokens = 4
	// MaxTSATokenSize bounds one RFC 3161 token.
	MaxTSATokenSize = 8 << 10
	// MaxCIDLen bounds a root CID's text form.
	MaxCIDLen = 128
	// MaxClockSkew is how far in the future a cosignature timestamp may be.
	MaxClockSkew = 5 * time.Minute
)

// TokenVerifier verifies an RFC 3161 token over a SHA-256 digest against
// trusted roots and returns the token's time (provenance/tsa implements it).
type TokenVerifier interface {
	VerifyToken(token []byte, digest [32]byte) (time.Time, error)
}

// SignerVerifier is the optional capability of a TokenVerifier that
// VerifyBundle needs to count tokens from distinct TSAs only: it also
// returns who signed the token, signerID the SHA-256 of the signer
// certificate's SubjectPublicKeyInfo (two certificates of one key are one
// TSA) and signer its subject for reports. provenance/tsa's Verifier
// implements it. VerifyBundle refuses to count tokens through a verifier
// without it.
type SignerVerifier interface {
	VerifyTokenSigner(token []byte, digest [32]byte) (genTime time.Time, signerID [32]byte, signer string, err error)
}

// The CBOR modes implement dag-cbor's strict subset, with the options of
// package treaty's codec: length-first sorted keys, shortest forms, no
// indefinite lengths, nil lists as empty lists; decoding rejects unknown
// and duplicate fields and invalid UTF-8. Callers re-encode to reject
// non-canonical input.
var (
	encMode = mustEncMode()
	// decMode decodes the tag-free records of this package (bundle extra
	// data, evidence).
	decMode = mustDecMode(cbor.TagsForbidden, 4, MaxProofHashes+1)
	// leafDecMode decodes a leaf generically (links are tag 42).
	leafDecMode = mustDecMode(cbor.TagsAllowed, 16, 4096)
)

func mustEncMode() cbor.EncMode {
	em, err := cbor.EncOptions{
		Sort:          cbor.SortLengthFirst,
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsEmpty,
		TagsMd:        cbor.TagsAllowed,
	}.EncMode()
	if err != nil {
		panic("provenance: cbor enc mode: " + err.Error())
	}
	return em
}

func mustDecMode(tags cbor.TagsMode, depth, elems int) cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   depth,
		MaxArrayElements:  elems,
		MaxMapPairs:       32,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		TagsMd:            tags,
	}.DecMode()
	if err != nil {
		panic("provenance: cbor dec mode: " + err.Error())
	}
	return dm
}
