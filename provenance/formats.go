package provenance

import (
	"errors"
	"time"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/provenance/c2sp"
	"github.com/aurora-federation/aurora/treaty"
)

// The formats of the trail (signed notes, checkpoints, cosignatures, Merkle
// proofs, bundles, evidence) and the offline verifier live in
// provenance/c2sp, which a verifier links without the log's storage,
// metrics or treaty (cmd/aurora-verify starts in a few milliseconds). This
// file re-exports them unchanged; c2sp documents each.

// Limits, as in c2sp. MaxNoteSize, MaxLeafSize, MaxTSATokens,
// MaxTSATokenSize and MaxClockSkew equal treaty's (TestLimitsMatchTreaty).
const (
	MaxNoteSize         = c2sp.MaxNoteSize
	MaxNoteSignatures   = c2sp.MaxNoteSignatures
	MaxKeyNameLen       = c2sp.MaxKeyNameLen
	MaxOriginLen        = c2sp.MaxOriginLen
	MaxExtensionLines   = c2sp.MaxExtensionLines
	MaxExtensionLineLen = c2sp.MaxExtensionLineLen
	MaxTreeSize         = c2sp.MaxTreeSize
	MaxProofHashes      = c2sp.MaxProofHashes
	MaxLeafSize         = c2sp.MaxLeafSize
	MaxBundleSize       = c2sp.MaxBundleSize
	MaxEvidenceSize     = c2sp.MaxEvidenceSize
	MaxTSATokens        = c2sp.MaxTSATokens
	MaxTSATokenSize     = c2sp.MaxTSATokenSize
	MaxCIDLen           = c2sp.MaxCIDLen
	MaxClockSkew        = c2sp.MaxClockSkew
)

// BundleHeader is c2sp.BundleHeader.
const BundleHeader = c2sp.BundleHeader

// The links (checks) of VerifyBundle, in order, as in c2sp.
const (
	LinkRecord       = c2sp.LinkRecord
	LinkLeafHash     = c2sp.LinkLeafHash
	LinkLogSignature = c2sp.LinkLogSignature
	LinkInclusion    = c2sp.LinkInclusion
	LinkWitnesses    = c2sp.LinkWitnesses
	LinkTSA          = c2sp.LinkTSA
	LinkConsistency  = c2sp.LinkConsistency
)

// Types of package c2sp.
type (
	NoteSignature       = c2sp.NoteSignature
	NoteError           = c2sp.NoteError
	SignatureError      = c2sp.SignatureError
	CosignatureVerifier = c2sp.CosignatureVerifier
	Checkpoint          = c2sp.Checkpoint
	CheckpointError     = c2sp.CheckpointError
	OriginError         = c2sp.OriginError
	Cosignature         = c2sp.Cosignature
	ProofError          = c2sp.ProofError
	Bundle              = c2sp.Bundle
	BundleError         = c2sp.BundleError
	Evidence            = c2sp.Evidence
	EvidenceError       = c2sp.EvidenceError
	EquivocationError   = c2sp.EquivocationError
	TokenVerifier       = c2sp.TokenVerifier
	SignerVerifier      = c2sp.SignerVerifier
	Quorum              = c2sp.Quorum
	Verdict             = c2sp.Verdict
	Report              = c2sp.Report
	VerifyError         = c2sp.VerifyError
)

// Sentinel errors of package c2sp.
var (
	ErrNoCosignature     = c2sp.ErrNoCosignature
	ErrTooManySignatures = c2sp.ErrTooManySignatures
	ErrNoLogSignature    = c2sp.ErrNoLogSignature
	ErrNotEquivocation   = c2sp.ErrNotEquivocation
)

// ParseWitnessKey is c2sp.ParseWitnessKey.
func ParseWitnessKey(s string) (*CosignatureVerifier, error) { return c2sp.ParseWitnessKey(s) }

// ParseLogKey is c2sp.ParseLogKey.
func ParseLogKey(vkey string) (note.Verifier, error) { return c2sp.ParseLogKey(vkey) }

// CosignatureTime is c2sp.CosignatureTime.
func CosignatureTime(s NoteSignature) (time.Time, error) { return c2sp.CosignatureTime(s) }

// VerifyCosignature is c2sp.VerifyCosignature.
func VerifyCosignature(signedNote []byte, w *CosignatureVerifier) (time.Time, error) {
	return c2sp.VerifyCosignature(signedNote, w)
}

// MergeCosignatures is c2sp.MergeCosignatures.
func MergeCosignatures(signedNote, sigLines []byte) ([]byte, error) {
	return c2sp.MergeCosignatures(signedNote, sigLines)
}

// ParseCheckpointBody is c2sp.ParseCheckpointBody.
func ParseCheckpointBody(body []byte) (Checkpoint, error) { return c2sp.ParseCheckpointBody(body) }

// OpenCheckpoint is c2sp.OpenCheckpoint.
func OpenCheckpoint(signed []byte, origin string, log note.Verifier) (Checkpoint, error) {
	return c2sp.OpenCheckpoint(signed, origin, log)
}

// VerifyCosignatures is c2sp.VerifyCosignatures.
func VerifyCosignatures(c Checkpoint, witnesses []*CosignatureVerifier) ([]Cosignature, error) {
	return c2sp.VerifyCosignatures(c, witnesses)
}

// VerifyInclusion is c2sp.VerifyInclusion.
func VerifyInclusion(index, size uint64, leafHash [32]byte, hashes [][]byte, root [32]byte) error {
	return c2sp.VerifyInclusion(index, size, leafHash, hashes, root)
}

// VerifyConsistency is c2sp.VerifyConsistency.
func VerifyConsistency(size1, size2 uint64, hashes [][]byte, root1, root2 [32]byte) error {
	return c2sp.VerifyConsistency(size1, size2, hashes, root1, root2)
}

// ParseHashLines is c2sp.ParseHashLines.
func ParseHashLines(b []byte) ([][]byte, error) { return c2sp.ParseHashLines(b) }

// MarshalHashLines is c2sp.MarshalHashLines.
func MarshalHashLines(hashes [][]byte) []byte { return c2sp.MarshalHashLines(hashes) }

// ParseBundle is c2sp.ParseBundle.
func ParseBundle(data []byte) (*Bundle, error) { return c2sp.ParseBundle(data) }

// ParseEvidence is c2sp.ParseEvidence.
func ParseEvidence(b []byte) (Evidence, error) { return c2sp.ParseEvidence(b) }

// VerifyEvidence is c2sp.VerifyEvidence.
func VerifyEvidence(e Evidence, log note.Verifier) (*EquivocationError, error) {
	return c2sp.VerifyEvidence(e, log)
}

// CheckConsistency is c2sp.CheckConsistency.
func CheckConsistency(a, b Checkpoint, hashes [][]byte) error {
	return c2sp.CheckConsistency(a, b, hashes)
}

// LogVerifier returns the verifier of the log named origin whose key is the
// Ed25519 key of did. It interoperates with golang.org/x/mod/sumdb/note.
func LogVerifier(origin string, did treaty.DID) (note.Verifier, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	pub, err := did.PublicKey()
	if err != nil {
		return nil, err
	}
	return c2sp.LogVerifier(origin, pub)
}

// LogVerifierKey returns the C2SP verifier key text of a log
// ("<origin>+<key ID hex>+<base64(0x01 || key)>"), which
// note.NewVerifier and other implementations accept.
func LogVerifierKey(origin string, did treaty.DID) (string, error) {
	if err := checkOrigin(origin); err != nil {
		return "", err
	}
	pub, err := did.PublicKey()
	if err != nil {
		return "", err
	}
	return c2sp.LogVerifierKey(origin, pub)
}

// WitnessVerifier returns the cosignature verifier of the witness named name
// whose key is the Ed25519 key of did.
func WitnessVerifier(name string, did treaty.DID) (*CosignatureVerifier, error) {
	if !validKeyName(name) {
		return c2sp.WitnessVerifier(name, nil) // the name's error
	}
	pub, err := did.PublicKey()
	if err != nil {
		return nil, err
	}
	return c2sp.WitnessVerifier(name, pub)
}

// VerifyOptions says what VerifyBundle trusts and requires: c2sp's
// VerifyOptions with the log operator's DID as a treaty.DID. Record
// defaults to CheckJobLeaf (the full treaty schema).
type VerifyOptions struct {
	Origin         string
	LogKey         note.Verifier
	LogDID         treaty.DID
	Record         c2sp.RecordChecker
	WitnessKeys    []*CosignatureVerifier
	MinWitnesses   int
	Quorum         Quorum
	TSAVerifier    TokenVerifier
	MinTokens      int
	Newer          []byte
	Consistency    [][]byte
	NewerWitnesses bool
	Now            time.Time
}

func (o VerifyOptions) c2sp() c2sp.VerifyOptions {
	if o.Record == nil {
		o.Record = CheckJobLeaf
	}
	return c2sp.VerifyOptions{
		Origin: o.Origin, LogKey: o.LogKey, LogDID: string(o.LogDID), Record: o.Record,
		WitnessKeys: o.WitnessKeys, MinWitnesses: o.MinWitnesses, Quorum: o.Quorum,
		TSAVerifier: o.TSAVerifier, MinTokens: o.MinTokens,
		Newer: o.Newer, Consistency: o.Consistency, NewerWitnesses: o.NewerWitnesses, Now: o.Now,
	}
}

// VerifyBundle is c2sp.VerifyBundle, with the job record checked against
// the treaty schema by default.
func VerifyBundle(b *Bundle, opts VerifyOptions) (*Report, error) {
	return c2sp.VerifyBundle(b, opts.c2sp())
}

// CheckWitnessPolicy is c2sp.CheckWitnessPolicy.
func CheckWitnessPolicy(signed []byte, opts VerifyOptions) (Checkpoint, []Cosignature, error) {
	return c2sp.CheckWitnessPolicy(signed, opts.c2sp())
}

// CheckJobLeaf is the record check VerifyBundle applies by default: the leaf
// decodes as a treaty.LogEntry (canonical, no unknown or missing fields)
// holding a job record that passes treaty's field rules.
func CheckJobLeaf(leaf []byte) (*c2sp.JobSummary, error) {
	var entry treaty.LogEntry
	if err := treaty.Decode(leaf, &entry); err != nil {
		return nil, err
	}
	if err := entry.Validate(); err != nil {
		return nil, err
	}
	if entry.Job == nil {
		return nil, errors.New("leaf is not a job record entry")
	}
	j := entry.Job
	s := &c2sp.JobSummary{Job: j.Job, Operator: string(j.Operator), Client: string(j.Client)}
	for _, t := range j.Transitions {
		s.Transitions = append(s.Transitions, c2sp.Transition{Status: t.Status, At: t.At})
	}
	return s, nil
}

// CheckLeaf is CheckJobLeaf that also accepts a release leaf (a LogEntry
// holding a ReleaseEntry that passes treaty's field rules), reported in
// JobSummary.Release, and a ledger snapshot leaf, in JobSummary.Snapshot. `aurora proof verify` and `aurora release verify` use
// it; the light verifier (c2sp.DecodeJobLeaf) takes job leaves only.
func CheckLeaf(leaf []byte) (*c2sp.JobSummary, error) {
	var entry treaty.LogEntry
	if err := treaty.Decode(leaf, &entry); err != nil {
		return nil, err
	}
	if err := entry.Validate(); err != nil {
		return nil, err
	}
	if r := entry.Release; r != nil {
		s := &c2sp.ReleaseSummary{Name: r.Name, SHA256: [32]byte(r.SHA256), Signer: r.Signer, At: r.At}
		for _, d := range r.TokensSHA256 {
			s.TokensSHA256 = append(s.TokensSHA256, [32]byte(d))
		}
		return &c2sp.JobSummary{Release: s}, nil
	}
	if e := entry.Snapshot; e != nil {
		s := &c2sp.SnapshotSummary{Manifest: e.Manifest.String(), SHA256: [32]byte(e.SHA256), At: e.At}
		for _, d := range e.TokensSHA256 {
			s.TokensSHA256 = append(s.TokensSHA256, [32]byte(d))
		}
		return &c2sp.JobSummary{Snapshot: s}, nil
	}
	return CheckJobLeaf(leaf)
}

// Unexported helpers of the formats, for the log, the witness and the
// epoch loop.
type signedNote = c2sp.Note

func parseNote(msg []byte) (*signedNote, error) { return c2sp.ParseNote(msg) }
func verifyNoteSigs(n *signedNote, known ...note.Verifier) ([]NoteSignature, error) {
	return c2sp.VerifyNoteSigs(n, known...)
}
func parseSigLines(b []byte) ([]NoteSignature, error)  { return c2sp.ParseSigLines(b) }
func validKeyName(name string) bool                    { return c2sp.ValidKeyName(name) }
func checkOrigin(origin string) error                  { return c2sp.CheckOrigin(origin) }
func keyHash(name string, alg byte, key []byte) uint32 { return c2sp.KeyHash(name, alg, key) }
func cosignedMessage(t uint64, body []byte) []byte     { return c2sp.CosignedMessage(t, body) }
func parseDecimal(s string) (uint64, error)            { return c2sp.ParseDecimal(s) }
func decodeHash(s string) ([32]byte, error)            { return c2sp.DecodeHash(s) }
func emptyRoot() [32]byte                              { return c2sp.EmptyRoot() }
func truncate(s string) string                         { return c2sp.Truncate(s) }
func provesInconsistent(a, b Checkpoint, h [][]byte) ([][]byte, bool) {
	return c2sp.ProvesInconsistent(a, b, h)
}

// The dag-cbor modes of the epoch records: treaty's canonical encoding and
// a strict decoder without tags.
var (
	evEncMode = treaty.DagCBOREncMode()
	evDecMode = mustDec()
)

func mustDec() cbor.DecMode {
	dm, err := treaty.NewStrictDecMode(treaty.DecodeLimits{MaxNestedLevels: 4, MaxArrayElements: MaxProofHashes + 1, MaxMapPairs: 32, ForbidTags: true})
	if err != nil {
		panic("provenance: cbor dec mode: " + err.Error())
	}
	return dm
}

const (
	algEd25519      = c2sp.AlgEd25519
	algCosignature  = c2sp.AlgCosignature
	cosignatureSize = c2sp.CosignatureSize
)
