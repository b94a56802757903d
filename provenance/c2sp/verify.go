package c2sp

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// The links (checks) of VerifyBundle, in order. Each yields one Verdict.
const (
	LinkRecord       = "record"        // the leaf decodes as a LogEntry holding a valid job record (or release, if the checker accepts it)
	LinkLeafHash     = "leaf-hash"     // the RFC 6962 leaf hash of the exact leaf bytes
	LinkLogSignature = "log-signature" // the checkpoint is signed by the log's key for the origin
	LinkInclusion    = "inclusion"     // the inclusion proof reaches the checkpoint's root
	LinkWitnesses    = "witnesses"     // cosignatures by trusted witnesses meet the policy
	LinkTSA          = "tsa"           // RFC 3161 tokens over SHA-256(checkpoint body)
	LinkConsistency  = "consistency"   // the checkpoint is consistent with a newer one
)

// VerifyOptions says what VerifyBundle trusts and requires.
type VerifyOptions struct {
	// Origin is the log's origin ("aurora/<federation>/<peer ID>"). Required.
	Origin string
	// LogKey is the log's verifier. If nil, LogDID must be set and the
	// verifier is derived from it and Origin.
	LogKey note.Verifier
	// LogDID is the log operator's DID, did:key:z6Mk… (the node's key signs
	// checkpoints).
	LogDID string
	// Record checks the leaf and reads the job record from it; nil means
	// DecodeJobLeaf. Package provenance passes one that applies the treaty
	// schema's field rules too.
	Record RecordChecker
	// WitnessKeys are the trusted witnesses; MinWitnesses of them must have
	// cosigned (the witness policy; default 1 when keys are given). With no
	// keys and MinWitnesses 0 the check is skipped, and the report is only
	// partial (Report.Complete).
	WitnessKeys  []*CosignatureVerifier
	MinWitnesses int
	// Quorum, if set, replaces MinWitnesses: it judges the valid
	// cosignatures by WitnessKeys (a C2SP tlog-policy quorum with groups,
	// see provenance/trust).
	Quorum Quorum
	// SkipWitnesses, if set, skips the witness check with this reason,
	// whatever WitnessKeys say: a trust policy's "quorum none" lists
	// witnesses (a monitor checks their cosignatures) but requires none.
	// The report is then only partial.
	SkipWitnesses string
	// TSAVerifier verifies RFC 3161 tokens against trusted roots; nil skips
	// the TSA check (the verdict says so, and the report is only partial).
	// Tokens count only from distinct TSAs: distinct signer keys, which the
	// verifier reports through SignerVerifier (a verifier without it fails
	// the check), so the same token twice, or two tokens of one TSA, count
	// once. MinTokens distinct TSAs are required: default 2 (dual
	// timestamping).
	TSAVerifier TokenVerifier
	MinTokens   int
	// Newer is an optional newer signed checkpoint of the same log, with
	// Consistency the RFC 6962 consistency proof from the bundle's
	// checkpoint to it: proof that the record is still in the log.
	Newer       []byte
	Consistency [][]byte
	// NewerWitnesses applies the witness policy (WitnessKeys with
	// MinWitnesses, or Quorum) to Newer as well: for a newer checkpoint
	// fetched from the log itself, whose word alone it would otherwise be.
	NewerWitnesses bool
	// Now bounds cosignature timestamps (at most MaxClockSkew ahead); zero
	// skips the bound.
	Now time.Time
}

// Quorum decides whether a set of valid cosignatures satisfies a witness
// policy.
type Quorum interface {
	// Met reports whether the cosignatures (one per witness key, all
	// verified) satisfy the quorum.
	Met(cosigned []Cosignature) bool
	// String describes the rule ("2 of X-witnesses").
	String() string
}

// Verdict is the outcome of one check.
type Verdict struct {
	Check   string
	OK      bool
	Skipped bool
	Detail  string
}

// String renders "ok    check  detail", "FAIL  …" or "skip  …".
func (v Verdict) String() string {
	status := "ok"
	switch {
	case v.Skipped:
		status = "skip"
	case !v.OK:
		status = "FAIL"
	}
	return fmt.Sprintf("%-4s  %-13s  %s", status, v.Check, v.Detail)
}

// Report is the result of VerifyBundle: one verdict per check, and what was
// established.
type Report struct {
	Verdicts   []Verdict
	Job        *JobSummary // the job record, if the leaf decoded
	LeafHash   [32]byte
	Checkpoint Checkpoint // the bundle's checkpoint, if it opened
	Cosigners  []Cosignature
	TokenTimes []time.Time
	Root       string // epoch root CID (not verifiable offline)
}

// OK reports whether every check that ran passed.
func (r *Report) OK() bool {
	for _, v := range r.Verdicts {
		if !v.OK && !v.Skipped {
			return false
		}
	}
	return true
}

// optionalChecks are the checks that run only when asked for: skipping
// them leaves the verification complete.
var optionalChecks = map[string]bool{LinkConsistency: true}

// Skipped returns the verdicts of the checks that establish trust in the
// bundle (everything but the optional consistency check) and were skipped
// for want of a policy or roots: what a partial verification left out.
func (r *Report) Skipped() []Verdict {
	var out []Verdict
	for _, v := range r.Verdicts {
		if v.Skipped && !optionalChecks[v.Check] {
			out = append(out, v)
		}
	}
	return out
}

// Checked returns the names of the checks that ran and passed.
func (r *Report) Checked() []string {
	var out []string
	for _, v := range r.Verdicts {
		if v.OK && !v.Skipped {
			out = append(out, v.Check)
		}
	}
	return out
}

// Complete reports whether every check passed and none of the required
// ones was skipped: the record is signed by the log, included in its tree,
// cosigned under the witness policy and timestamped by enough distinct
// TSAs.
func (r *Report) Complete() bool { return r.OK() && len(r.Skipped()) == 0 }

// WriteTo writes one line per verdict.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, v := range r.Verdicts {
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func (r *Report) add(check string, err error, okDetail string) {
	if err != nil {
		r.Verdicts = append(r.Verdicts, Verdict{Check: check, Detail: err.Error()})
		return
	}
	r.Verdicts = append(r.Verdicts, Verdict{Check: check, OK: true, Detail: okDetail})
}

func (r *Report) skip(check, why string) {
	r.Verdicts = append(r.Verdicts, Verdict{Check: check, Skipped: true, Detail: why})
}

// VerifyError names the first broken link of a bundle.
type VerifyError struct {
	Check string // one of the Link constants
	Err   error
}

func (e *VerifyError) Error() string { return "provenance: verify: " + e.Check + ": " + e.Err.Error() }
func (e *VerifyError) Unwrap() error { return e.Err }

// VerifyBundle verifies b offline and returns a report with one verdict per
// check. It runs every check it can even after one fails, and returns a
// *VerifyError naming the first failed check (nil if all passed or were
// skipped). It needs nothing but b and opts: no network, no node.
func VerifyBundle(b *Bundle, opts VerifyOptions) (*Report, error) {
	r := &Report{Root: b.Root}
	var first *VerifyError
	fail := func(check string, err error) {
		r.add(check, err, "")
		if first == nil {
			first = &VerifyError{Check: check, Err: err}
		}
	}

	// 1. record
	check := opts.Record
	if check == nil {
		check = DecodeJobLeaf
	}
	if job, err := check(b.Leaf); err != nil {
		fail(LinkRecord, err)
	} else if rel := job.Release; rel != nil {
		r.Job = job
		r.add(LinkRecord, nil, fmt.Sprintf("release %s sha256 %x signed by %s, %d tokens", rel.Name, rel.SHA256, rel.Signer, len(rel.TokensSHA256)))
	} else if snap := job.Snapshot; snap != nil {
		r.Job = job
		r.add(LinkRecord, nil, fmt.Sprintf("ledger snapshot %s sha256 %x, %d tokens", snap.Manifest, snap.SHA256, len(snap.TokensSHA256)))
	} else if len(job.Transitions) == 0 {
		fail(LinkRecord, errors.New("the job record has no transitions"))
	} else {
		r.Job = job
		r.add(LinkRecord, nil, fmt.Sprintf("job %s by %s for %s, %d transitions, last %s",
			job.Job, shortDID(job.Operator), shortDID(job.Client), len(job.Transitions),
			job.Transitions[len(job.Transitions)-1].Status))
	}

	// 2. leaf hash
	r.LeafHash = LeafHash(b.Leaf)
	r.add(LinkLeafHash, nil, fmt.Sprintf("SHA-256(0x00 || leaf) = %x", r.LeafHash))

	// 3. log signature
	logV := opts.LogKey
	if logV == nil {
		var err error
		if logV, err = logVerifierOf(opts.Origin, opts.LogDID); err != nil {
			fail(LinkLogSignature, fmt.Errorf("no usable log key: %w", err))
		}
	}
	var cp Checkpoint
	cpOK := false
	if logV != nil {
		var err error
		if cp, err = OpenCheckpoint(b.Checkpoint, opts.Origin, logV); err != nil {
			fail(LinkLogSignature, err)
		} else {
			cpOK = true
			r.Checkpoint = cp
			r.add(LinkLogSignature, nil, fmt.Sprintf("%s size %d signed by %s+%08x", cp.Origin, cp.Size, logV.Name(), logV.KeyHash()))
		}
	}

	// 4. inclusion
	if !cpOK {
		fail(LinkInclusion, errors.New("no verified checkpoint to prove inclusion in"))
	} else if b.Index >= cp.Size {
		fail(LinkInclusion, fmt.Errorf("index %d is outside the checkpoint's tree of size %d", b.Index, cp.Size))
	} else if err := VerifyInclusion(b.Index, cp.Size, r.LeafHash, b.Proof, cp.Root); err != nil {
		fail(LinkInclusion, err)
	} else {
		r.add(LinkInclusion, nil, fmt.Sprintf("leaf %d in tree of size %d (%d hashes)", b.Index, cp.Size, len(b.Proof)))
	}

	// 5. witnesses
	if len(opts.WitnessKeys) > 0 && opts.MinWitnesses <= 0 {
		opts.MinWitnesses = 1
	}
	switch {
	case opts.SkipWitnesses != "":
		r.skip(LinkWitnesses, opts.SkipWitnesses)
	case !hasWitnessPolicy(opts):
		r.skip(LinkWitnesses, "no witness policy given")
	case !cpOK:
		fail(LinkWitnesses, errors.New("no verified checkpoint"))
	default:
		if err := checkWitnesses(r, cp, opts); err != nil {
			fail(LinkWitnesses, err)
		}
	}

	// 6. TSA tokens
	minTokens := opts.MinTokens
	if minTokens <= 0 {
		minTokens = 2
	}
	switch {
	case opts.TSAVerifier == nil:
		r.skip(LinkTSA, fmt.Sprintf("no TSA roots given (%d tokens not checked)", len(b.TSA)))
	case !cpOK:
		fail(LinkTSA, errors.New("no verified checkpoint to match tokens against"))
	default:
		if err := checkTokens(r, cp, b.TSA, opts.TSAVerifier, minTokens); err != nil {
			fail(LinkTSA, err)
		}
	}

	// 7. consistency with a newer checkpoint
	switch {
	case opts.Newer == nil:
		r.skip(LinkConsistency, "no newer checkpoint given")
	case !cpOK || logV == nil:
		fail(LinkConsistency, errors.New("no verified checkpoint"))
	default:
		newer, err := OpenCheckpoint(opts.Newer, opts.Origin, logV)
		if err != nil {
			fail(LinkConsistency, fmt.Errorf("newer checkpoint: %w", err))
		} else if newer.Size < cp.Size {
			fail(LinkConsistency, fmt.Errorf("newer checkpoint has size %d, smaller than %d: the log rolled back, or it is not the log's latest", newer.Size, cp.Size))
		} else if err := CheckConsistency(cp, newer, opts.Consistency); err != nil {
			fail(LinkConsistency, err)
		} else if !opts.NewerWitnesses || !hasWitnessPolicy(opts) {
			r.add(LinkConsistency, nil, fmt.Sprintf("size %d is consistent with size %d", cp.Size, newer.Size))
		} else if _, desc, err := witnessPolicyMet(newer, opts); err != nil {
			fail(LinkConsistency, fmt.Errorf("newer checkpoint (size %d): %w", newer.Size, err))
		} else {
			r.add(LinkConsistency, nil, fmt.Sprintf("size %d is consistent with size %d, whose checkpoint %s", cp.Size, newer.Size, desc))
		}
	}
	if first != nil {
		return r, first
	}
	return r, nil
}

func hasWitnessPolicy(opts VerifyOptions) bool {
	if opts.SkipWitnesses != "" {
		return false
	}
	return len(opts.WitnessKeys) > 0 || opts.MinWitnesses > 0 || opts.Quorum != nil
}

func checkWitnesses(r *Report, cp Checkpoint, opts VerifyOptions) error {
	cos, desc, err := witnessPolicyMet(cp, opts)
	if err != nil {
		return err
	}
	r.Cosigners = cos
	r.add(LinkWitnesses, nil, desc)
	return nil
}

// witnessPolicyMet checks cp's cosignatures against opts' witness policy
// (MinWitnesses at least 1 when keys are given) and describes the result.
func witnessPolicyMet(cp Checkpoint, opts VerifyOptions) ([]Cosignature, string, error) {
	if len(opts.WitnessKeys) > 0 && opts.MinWitnesses <= 0 {
		opts.MinWitnesses = 1
	}
	cos, err := VerifyCosignatures(cp, opts.WitnessKeys)
	if err != nil {
		return nil, "", err
	}
	if !opts.Now.IsZero() {
		for _, c := range cos {
			if c.Time.After(opts.Now.Add(MaxClockSkew)) {
				return nil, "", fmt.Errorf("cosignature by %s is dated %s, in the future", c.Witness, c.Time.Format(time.RFC3339))
			}
		}
	}
	names := make([]string, len(cos))
	for i, c := range cos {
		names[i] = c.Witness + "@" + c.Time.Format(time.RFC3339)
	}
	if opts.Quorum != nil {
		if !opts.Quorum.Met(cos) {
			return nil, "", fmt.Errorf("%d trusted cosignatures (%s) do not meet the quorum %s", len(cos), strings.Join(names, ", "), opts.Quorum)
		}
		return cos, fmt.Sprintf("%d of %d trusted witnesses cosigned, quorum %s met: %s",
			len(cos), len(opts.WitnessKeys), opts.Quorum, strings.Join(names, ", ")), nil
	}
	if len(cos) < opts.MinWitnesses {
		return nil, "", fmt.Errorf("%d trusted cosignatures, policy requires %d", len(cos), opts.MinWitnesses)
	}
	return cos, fmt.Sprintf("%d of %d trusted witnesses cosigned (need %d): %s",
		len(cos), len(opts.WitnessKeys), opts.MinWitnesses, strings.Join(names, ", ")), nil
}

// CheckWitnessPolicy opens the signed checkpoint with the log's verifier
// (opts.LogKey, or the one of opts.Origin and opts.LogDID) and checks its
// cosignatures against opts' witness policy as VerifyBundle's witnesses
// check does. It returns the checkpoint and the trusted cosignatures; with
// no witness policy in opts it only opens the checkpoint.
func CheckWitnessPolicy(signed []byte, opts VerifyOptions) (Checkpoint, []Cosignature, error) {
	logV := opts.LogKey
	if logV == nil {
		var err error
		if logV, err = logVerifierOf(opts.Origin, opts.LogDID); err != nil {
			return Checkpoint{}, nil, err
		}
	}
	cp, err := OpenCheckpoint(signed, opts.Origin, logV)
	if err != nil || !hasWitnessPolicy(opts) {
		return cp, nil, err
	}
	cos, _, err := witnessPolicyMet(cp, opts)
	return cp, cos, err
}

func checkTokens(r *Report, cp Checkpoint, tokens [][]byte, v TokenVerifier, minTokens int) error {
	sv, ok := v.(SignerVerifier)
	if !ok {
		return fmt.Errorf("the TSA verifier (%T) does not identify signers: tokens from distinct TSAs cannot be counted", v)
	}
	digest := cp.Digest()
	var (
		times    []string
		signers  []string
		distinct = map[[32]byte]bool{}
	)
	for i, tok := range tokens {
		t, id, name, err := sv.VerifyTokenSigner(tok, digest)
		if err != nil {
			return fmt.Errorf("token %d: %w", i, err)
		}
		r.TokenTimes = append(r.TokenTimes, t)
		times = append(times, t.UTC().Format(time.RFC3339))
		if !distinct[id] {
			distinct[id] = true
			signers = append(signers, fmt.Sprintf("%q", name))
		}
	}
	if len(distinct) < minTokens {
		return fmt.Errorf("%d valid tokens from %d distinct TSAs (%s), want %d distinct TSAs", len(tokens), len(distinct), strings.Join(signers, ", "), minTokens)
	}
	r.add(LinkTSA, nil, fmt.Sprintf("%d tokens from %d distinct TSAs (%s) over SHA-256(checkpoint) = %x at %s",
		len(tokens), len(distinct), strings.Join(signers, ", "), digest[:8], strings.Join(times, ", ")))
	return nil
}

// logVerifierOf is the verifier of the log origin whose operator is did.
func logVerifierOf(origin, did string) (note.Verifier, error) {
	pub, err := DIDPublicKey(did)
	if err != nil {
		return nil, err
	}
	return LogVerifier(origin, pub)
}
