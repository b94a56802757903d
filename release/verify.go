package release

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/c2sp"
	"github.com/aurora-federation/aurora/provenance/rfc3161"
)

// The steps of Verify, in order.
const (
	StepSHA256    = "sha256"
	StepSignature = "signature"
	StepTSA       = "tsa"
	StepMerkle    = "merkle"
)

// Files beside a tarball T: T.asc, T.tsa1.tsr, T.tsa2.tsr, T.tlog-proof
// and SHA256SUMS.
const (
	SumsFile         = "SHA256SUMS"
	SignatureSuffix  = ".asc"
	ProofSuffix      = ".tlog-proof"
	DefaultMinTokens = 2
)

// TokenFile is the name of the i-th (1-based) RFC 3161 token beside
// tarball.
func TokenFile(tarball string, i int) string { return fmt.Sprintf("%s.tsa%d.tsr", tarball, i) }

// VerifyInput is what Verify checks a tarball against. The trust comes
// from PublicKeys, TSARoots and the bundle options (the log's key and
// witness policy); the other fields are the release's own files.
type VerifyInput struct {
	// Tarball is the path of the tarball.
	Tarball string
	// Sums is the SHA256SUMS file's content.
	Sums []byte
	// Signature is the armored detached signature (Tarball.asc).
	Signature []byte
	// PublicKeys are the trusted release signing keys.
	PublicKeys openpgp.EntityList
	// Tokens are the RFC 3161 tokens over the tarball's SHA-256.
	Tokens [][]byte
	// TSARoots are the trusted TSA roots; MinTokens distinct TSAs must
	// have timestamped the tarball (default 2).
	TSARoots  []*x509.Certificate
	MinTokens int
	// Proof is the release leaf's proof bundle (Tarball.tlog-proof).
	Proof []byte
	// Bundle are the options the proof bundle is verified with: the log's
	// origin and key, the witness policy and the checkpoint's TSA
	// verifier. Record is set by Verify. WitnessesOptional accepts a
	// bundle whose witness check was skipped (a policy with quorum none).
	Bundle            c2sp.VerifyOptions
	WitnessesOptional bool
	// Now is the time signatures are checked at; zero means time.Now.
	Now time.Time
}

// Step is the verdict of one link of the chain.
type Step struct {
	Name   string
	Err    error  // nil: ok
	Detail string // what was found, when ok
}

// Report is Verify's verdicts, one Step per link, in order.
type Report struct {
	Steps []Step
}

// OK reports whether every step passed.
func (r *Report) OK() bool {
	for _, s := range r.Steps {
		if s.Err != nil {
			return false
		}
	}
	return len(r.Steps) == 4
}

// WriteTo writes one line per step: "ok   NAME  DETAIL" or
// "FAIL NAME  REASON".
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, s := range r.Steps {
		if s.Err != nil {
			fmt.Fprintf(&b, "FAIL %-9s  %v\n", s.Name, s.Err)
		} else {
			fmt.Fprintf(&b, "ok   %-9s  %s\n", s.Name, s.Detail)
		}
	}
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// StepError is Verify's error: the first step that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return "release: verify: " + e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// Verify runs the chain SHA-256 → OpenPGP signature → RFC 3161 tokens →
// Merkle inclusion of the release leaf. Every step runs even after one
// fails (a later step that needs an earlier one's result says so); the
// error is a *StepError naming the first failed step.
func Verify(in VerifyInput) (*Report, error) {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	r := &Report{}
	var first *StepError
	add := func(name string, err error, detail string) {
		r.Steps = append(r.Steps, Step{Name: name, Err: err, Detail: detail})
		if err != nil && first == nil {
			first = &StepError{Step: name, Err: err}
		}
	}
	name := filepath.Base(in.Tarball)

	// 1. SHA-256 against SHA256SUMS.
	digest, err := FileSHA256(in.Tarball)
	if err != nil {
		add(StepSHA256, err, "")
	} else if err := checkSums(in.Sums, name, digest); err != nil {
		add(StepSHA256, err, "")
	} else {
		add(StepSHA256, nil, fmt.Sprintf("%x  %s matches %s", digest, name, SumsFile))
	}

	// 2. The OpenPGP signature over the tarball's bytes.
	var sig *SignatureInfo
	if len(in.PublicKeys) == 0 {
		add(StepSignature, errors.New("no trusted public key given"), "")
	} else if f, err := os.Open(in.Tarball); err != nil {
		add(StepSignature, err, "")
	} else {
		sig, err = CheckSignature(in.PublicKeys, f, in.Signature, in.Now)
		f.Close()
		if err != nil {
			add(StepSignature, err, "")
		} else {
			add(StepSignature, nil, fmt.Sprintf("good v4 %s signature by %s (%s), made %s", sig.Algorithm, sig.Fingerprint, sig.UserID, sig.Created.UTC().Format(time.RFC3339)))
		}
	}

	// 3. RFC 3161 tokens over the tarball's SHA-256.
	minTokens := in.MinTokens
	if minTokens <= 0 {
		minTokens = DefaultMinTokens
	}
	switch {
	case digest == [32]byte{}:
		add(StepTSA, errors.New("no tarball digest to check the tokens against"), "")
	case len(in.TSARoots) == 0:
		add(StepTSA, errors.New("no trusted TSA roots given"), "")
	default:
		detail, err := CheckTokens(in.Tokens, digest, in.TSARoots, minTokens)
		add(StepTSA, err, detail)
	}

	// 4. The release leaf in the operator's log.
	if digest == [32]byte{} {
		add(StepMerkle, errors.New("no tarball digest to match the release leaf against"), "")
	} else {
		detail, err := checkProof(in, name, digest, sig)
		add(StepMerkle, err, detail)
	}
	if first != nil {
		return r, first
	}
	return r, nil
}

// FileSHA256 is the SHA-256 of the file at path, read streaming.
func FileSHA256(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

func checkSums(data []byte, name string, digest [32]byte) error {
	sums, err := ParseSums(data)
	if err != nil {
		return err
	}
	for _, s := range sums {
		if s.Name == name {
			if s.Digest != digest {
				return fmt.Errorf("%s is %x, %s says %x", name, digest, SumsFile, s.Digest)
			}
			return nil
		}
	}
	return fmt.Errorf("%s has no line for %s", SumsFile, name)
}

// CheckTokens verifies each RFC 3161 token over digest against roots and
// requires at least minTokens distinct TSAs (signer keys) among them; it
// describes what it found.
func CheckTokens(tokens [][]byte, digest [32]byte, roots []*x509.Certificate, minTokens int) (string, error) {
	pool := rfc3161.CertPool(roots...)
	signers := map[[32]byte]bool{}
	var times []string
	for i, tok := range tokens {
		info, err := rfc3161.Verify(tok, digest, rfc3161.VerifyOptions{Roots: pool})
		if err != nil {
			return "", fmt.Errorf("token %d: %w", i+1, err)
		}
		signers[rfc3161.SignerID(info.Signer)] = true
		times = append(times, fmt.Sprintf("%s at %s", info.Signer.Subject.CommonName, info.GenTime.UTC().Format(time.RFC3339)))
	}
	if len(signers) < minTokens {
		return "", fmt.Errorf("%d tokens from %d distinct TSAs, want at least %d", len(tokens), len(signers), minTokens)
	}
	return fmt.Sprintf("%d tokens from %d distinct TSAs over the tarball's SHA-256 (%s)", len(tokens), len(signers), strings.Join(times, "; ")), nil
}

// checkProof verifies the proof bundle and that its leaf is this release:
// the tarball's name, SHA-256, signer and token digests.
func checkProof(in VerifyInput, name string, digest [32]byte, sig *SignatureInfo) (string, error) {
	if len(in.Proof) == 0 {
		return "", errors.New("no proof bundle (" + name + ProofSuffix + ")")
	}
	b, err := c2sp.ParseBundle(in.Proof)
	if err != nil {
		return "", err
	}
	if in.Bundle.LogKey == nil && in.Bundle.LogDID == "" {
		origin, _, _ := strings.Cut(string(b.Checkpoint), "\n")
		return "", fmt.Errorf("the proof is from the log %q, which the trust policy does not list", origin)
	}
	var rel *c2sp.ReleaseSummary
	opts := in.Bundle
	opts.Record = func(leaf []byte) (*c2sp.JobSummary, error) {
		s, err := provenance.CheckLeaf(leaf)
		if err != nil {
			return nil, err
		}
		if s.Release == nil {
			return nil, fmt.Errorf("leaf is a job record, not a release entry")
		}
		rel = s.Release
		return s, nil
	}
	report, err := c2sp.VerifyBundle(b, opts)
	if err != nil {
		return "", err
	}
	for _, sk := range report.Skipped() {
		switch {
		case sk.Check == c2sp.LinkConsistency:
		case sk.Check == c2sp.LinkWitnesses && in.WitnessesOptional:
		default:
			return "", fmt.Errorf("%s not checked: %s", sk.Check, sk.Detail)
		}
	}
	switch {
	case rel.Name != name:
		return "", fmt.Errorf("the leaf is release %s, not %s", rel.Name, name)
	case rel.SHA256 != digest:
		return "", fmt.Errorf("the leaf records sha256 %x, the tarball's is %x", rel.SHA256, digest)
	case sig == nil:
		return "", errors.New("the leaf's signer cannot be matched: the signature did not verify")
	case rel.Signer != sig.Fingerprint:
		return "", fmt.Errorf("the leaf records signer %s, the signature is by %s", rel.Signer, sig.Fingerprint)
	}
	for i, d := range TokenDigests(in.Tokens) {
		if !slices.Contains(rel.TokensSHA256, [32]byte(d)) {
			return "", fmt.Errorf("token %d (sha256 %x) is not one the leaf records", i+1, d)
		}
	}
	cp := report.Checkpoint
	return fmt.Sprintf("release leaf %d in %s at size %d (checked: %s)", b.Index, cp.Origin, cp.Size, strings.Join(report.Checked(), ", ")), nil
}

// TokenDigests are the SHA-256 of each token, as a release entry records
// them.
func TokenDigests(tokens [][]byte) [][]byte {
	out := make([][]byte, len(tokens))
	for i, t := range tokens {
		d := sha256.Sum256(t)
		out[i] = d[:]
	}
	return out
}
