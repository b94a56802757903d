// Package proofverify is the offline proof verifier's command line without
// a command framework: its flags on a pflag.FlagSet and Run. The small
// aurora-verify binary parses its arguments with it directly (no cobra:
// every package it links costs start-up time), and cmd/internal/verifycmd
// wraps it as the cobra command `aurora proof verify`.
package proofverify

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/internal/boundedio"
	"github.com/aurora-federation/aurora/provenance/c2sp"
	"github.com/aurora-federation/aurora/provenance/rfc3161"
	"github.com/aurora-federation/aurora/provenance/trust"
)

// Limits on the files the verifier reads.
const (
	maxRootsPEM       = 1 << 20
	maxCheckpointFile = c2sp.MaxNoteSize
	maxProofFile      = 64 * 64
)

// NewerFetcher fetches what `--newer URL` needs from the API of a node at
// base: a newer signed checkpoint of the log origin (the latest, or failing
// accept, which applies the witness policy, the newest epoch checkpoint
// accept takes) and the consistency proof to it from the bundle's size
// (none if the checkpoint is smaller). It says what it fetched on out.
type NewerFetcher func(ctx context.Context, out io.Writer, base, origin string, size uint64, accept func(signed []byte) error) (signed []byte, proof [][]byte, err error)

// Short and Long describe the command for help texts.
const (
	Short = "Verify a proof bundle offline and print one verdict per check"
	Long  = `Verify a proof bundle (a c2sp.org/tlog-proof with Aurora's extra data) offline:
the job record, its leaf hash and inclusion proof, the log's signature on the
checkpoint, the witness cosignatures against --witness-key/--min-witnesses,
the RFC 3161 tokens against --tsa-roots (skipped without it; tokens count
only from distinct TSAs, at least --min-tokens of them), and, with --newer
and --consistency, that a newer checkpoint still contains it. (aurora proof
verify also takes --newer URL, a node's API: it fetches the node's latest
checkpoint and the consistency proof, and applies the witness policy to that
checkpoint too.)

It prints one line per check (ok, FAIL or skip), then what was checked and
what was not. It exits non-zero if any check fails, and also if the witness
or TSA check was skipped, unless --partial-ok is given: then it prints
"partially verified" and exits 0.`
)

// Verifier is the command's state: the flags' values once AddFlags'
// FlagSet has parsed the arguments. Use one Verifier for one run.
type Verifier struct {
	// Record checks the bundle's leaf; nil means c2sp.DecodeJobLeaf (the
	// record's shape, DIDs and statuses). `aurora proof verify` sets
	// provenance.CheckJobLeaf (treaty's schema and field rules).
	Record c2sp.RecordChecker

	fetch NewerFetcher

	logKey, origin, tsaRoots, newer, consistency, policyFile string
	witnessKeys                                              []string
	minWitnesses, minTokens                                  int
	partialOK                                                bool
}

// New returns a Verifier; with fetch, --newer also takes a node's API URL,
// from which fetch gets the newer checkpoint and the consistency proof
// (nil: the verifier is offline and --newer takes a file).
func New(fetch NewerFetcher) *Verifier { return &Verifier{fetch: fetch} }

// AddFlags defines the verifier's flags on f.
func (v *Verifier) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&v.policyFile, "policy", "", "trust-policy file: logs, witnesses, quorum and TSA roots (replaces the other trust flags)")
	f.StringVar(&v.logKey, "log-key", "", "the log operator's DID (did:key:…) or the log's C2SP verifier key (required without --policy)")
	f.StringVar(&v.origin, "origin", "", "the log's origin, aurora/<federation>/<peer ID> (required without --policy)")
	f.StringArrayVar(&v.witnessKeys, "witness-key", nil, "a trusted witness: NAME+did:key:… or a C2SP verifier key NAME+HASH+BASE64 (repeatable)")
	f.IntVar(&v.minWitnesses, "min-witnesses", 0, "how many trusted witnesses must have cosigned (default 1 when --witness-key is given)")
	f.StringVar(&v.tsaRoots, "tsa-roots", "", "PEM file of trusted TSA root certificates (without it the TSA check is skipped)")
	f.IntVar(&v.minTokens, "min-tokens", 2, "how many distinct TSAs (signer keys chaining to --tsa-roots) must have timestamped the checkpoint")
	f.BoolVar(&v.partialOK, "partial-ok", false, "accept a verification that skipped the witness or TSA check (prints \"partially verified\" and exits 0)")
	if v.fetch != nil {
		f.StringVar(&v.newer, "newer", "", "a newer signed checkpoint of the same log (a file), or a node's API URL to fetch the latest checkpoint and the consistency proof from")
	} else {
		f.StringVar(&v.newer, "newer", "", "a newer signed checkpoint of the same log")
	}
	f.StringVar(&v.consistency, "consistency", "", "file with the consistency proof to --newer, one base64 hash per line")
}

// Run verifies the bundle in file with the flags fs parsed (fs is the set
// AddFlags defined the flags on: Run asks it which were given) and writes
// the report to out. It returns a *c2sp.VerifyError for a failed check, a
// *PartialError for a verification that skipped the witness or TSA check
// without --partial-ok, and other errors for bad input.
func (v *Verifier) Run(ctx context.Context, out io.Writer, fs *pflag.FlagSet, file string) error {
	data, err := boundedio.ReadFile(file, c2sp.MaxBundleSize)
	if err != nil {
		return err
	}
	b, err := c2sp.ParseBundle(data)
	if err != nil {
		return err
	}
	opts := c2sp.VerifyOptions{Origin: v.origin, Record: v.Record, MinWitnesses: v.minWitnesses, MinTokens: v.minTokens, Now: time.Now()}
	var roots []*x509.Certificate
	if v.policyFile != "" {
		if len(v.witnessKeys) > 0 || fs.Changed("min-witnesses") {
			return errors.New("proof verify: --policy names the witnesses and the quorum: drop --witness-key and --min-witnesses")
		}
		pol, polRoots, err := loadPolicy(v.policyFile)
		if err != nil {
			return err
		}
		if opts.Origin == "" {
			opts.Origin = checkpointOrigin(b.Checkpoint)
		}
		l, ok := pol.Log(opts.Origin)
		if !ok && v.logKey == "" {
			return fmt.Errorf("proof verify: %s lists no log with origin %q", v.policyFile, opts.Origin)
		}
		opts.LogKey = l.Verifier
		if q := pol.Quorum(); q != nil {
			opts.WitnessKeys, opts.Quorum = pol.WitnessKeys(), q
		} else {
			opts.SkipWitnesses = "the policy requires no cosignature (quorum none)"
		}
		if pol.TSA.MinTokens > 0 && !fs.Changed("min-tokens") {
			opts.MinTokens = pol.TSA.MinTokens
		}
		roots = polRoots
	} else if v.logKey == "" || v.origin == "" {
		return errors.New("proof verify: give --policy FILE, or --origin and --log-key")
	}
	v.origin = opts.Origin
	if v.logKey != "" {
		if opts.LogKey, err = parseLogKey(opts.Origin, v.logKey); err != nil {
			return err
		}
	}
	for _, wk := range v.witnessKeys {
		wv, err := c2sp.ParseWitnessKey(wk)
		if err != nil {
			return err
		}
		opts.WitnessKeys = append(opts.WitnessKeys, wv)
	}
	if v.tsaRoots != "" {
		certs, err := readCertificates(v.tsaRoots)
		if err != nil {
			return err
		}
		roots = append(roots, certs...)
	}
	if len(roots) > 0 {
		opts.TSAVerifier = rfc3161.Verifier{Opts: rfc3161.VerifyOptions{Roots: rfc3161.CertPool(roots...)}}
	}
	newerURL := strings.HasPrefix(v.newer, "http://") || strings.HasPrefix(v.newer, "https://")
	switch {
	case newerURL && v.consistency != "":
		return errors.New("proof verify: --newer URL fetches the consistency proof from the node: drop --consistency")
	case newerURL && v.fetch == nil:
		return errors.New("proof verify: --newer URL needs the network: this verifier is offline (give --newer FILE --consistency FILE, or use aurora proof verify)")
	case !newerURL && (v.newer == "") != (v.consistency == ""):
		return errors.New("proof verify: --newer FILE and --consistency FILE go together")
	}
	if newerURL {
		// The bundle's checkpoint, for its size; VerifyBundle
		// checks it again, and reports it if it does not verify.
		if cp, _, err := c2sp.CheckWitnessPolicy(b.Checkpoint, c2sp.VerifyOptions{Origin: opts.Origin, LogKey: opts.LogKey}); err == nil {
			accept := func(signed []byte) error {
				_, _, err := c2sp.CheckWitnessPolicy(signed, opts)
				return err
			}
			if opts.Newer, opts.Consistency, err = v.fetch(ctx, out, v.newer, opts.Origin, cp.Size, accept); err != nil {
				return fmt.Errorf("proof verify: --newer %s: %w", v.newer, err)
			}
			opts.NewerWitnesses = true
		}
	} else if v.newer != "" {
		if opts.Newer, err = boundedio.ReadFile(v.newer, maxCheckpointFile); err != nil {
			return err
		}
		raw, err := boundedio.ReadFile(v.consistency, maxProofFile)
		if err != nil {
			return err
		}
		if opts.Consistency, err = c2sp.ParseHashLines(raw); err != nil {
			return fmt.Errorf("proof verify: %s: %w", v.consistency, err)
		}
	}
	report, verr := c2sp.VerifyBundle(b, opts)
	if _, err := report.WriteTo(out); err != nil {
		return err
	}
	if verr != nil {
		return verr
	}
	checked := strings.Join(report.Checked(), ", ")
	skipped := report.Skipped()
	if len(skipped) == 0 {
		fmt.Fprintf(out, "verified: leaf %d of %s (checked: %s)\n", b.Index, v.origin, checked)
		return nil
	}
	var names, why []string
	for _, sk := range skipped {
		names = append(names, sk.Check)
		why = append(why, sk.Check+": "+sk.Detail)
	}
	if v.partialOK {
		fmt.Fprintf(out, "partially verified: leaf %d of %s (checked: %s; NOT checked: %s)\n", b.Index, v.origin, checked, strings.Join(why, "; "))
		return nil
	}
	fmt.Fprintf(out, "NOT fully verified: leaf %d of %s (checked: %s; NOT checked: %s)\n", b.Index, v.origin, checked, strings.Join(why, "; "))
	return &PartialError{Skipped: names}
}

// PartialError is returned when checks that establish trust were skipped
// (no witness policy, no TSA roots) and --partial-ok was not given.
type PartialError struct {
	Skipped []string // the skipped checks, e.g. "witnesses", "tsa"
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("proof verify: not fully verified: %s skipped (a trust policy with a witness quorum and TSA roots, or the --witness-key and --tsa-roots flags, verifies fully; --partial-ok accepts a partial verification)",
		strings.Join(e.Skipped, " and "))
}

// loadPolicy reads and parses a trust policy and its TSA roots: the
// tsa-roots files (relative to the policy's directory) and the inline roots,
// which the policy parsed already.
func loadPolicy(path string) (*trust.Policy, []*x509.Certificate, error) {
	data, err := boundedio.ReadFile(path, trust.MaxPolicySize)
	if err != nil {
		return nil, nil, err
	}
	pol, err := trust.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var roots []*x509.Certificate
	for _, f := range pol.TSA.RootFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(path), f)
		}
		certs, err := readCertificates(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: tsa-roots: %w", path, err)
		}
		roots = append(roots, certs...)
	}
	return pol, append(roots, pol.TSA.Roots...), nil
}

// LoadPolicy reads and parses a trust policy and the PEM of its TSA roots,
// for the other commands (aurora monitor).
func LoadPolicy(path string) (*trust.Policy, []byte, error) {
	pol, roots, err := loadPolicy(path)
	if err != nil {
		return nil, nil, err
	}
	var b []byte
	for _, c := range roots {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return pol, b, nil
}

// readCertificates reads a PEM file of TSA roots, bounded and strict
// (rfc3161.ParseCertificatesPEM).
func readCertificates(path string) ([]*x509.Certificate, error) {
	b, err := boundedio.ReadFile(path, maxRootsPEM)
	if err != nil {
		return nil, err
	}
	certs, err := rfc3161.ParseCertificatesPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// checkpointOrigin is the first line of a note ("" if none).
func checkpointOrigin(note []byte) string {
	line, _, _ := strings.Cut(string(note), "\n")
	return line
}

// parseLogKey accepts a DID (the node's key signs its log) or a C2SP
// verifier key.
func parseLogKey(origin, s string) (note.Verifier, error) {
	if strings.HasPrefix(s, "did:key:") {
		pub, err := c2sp.DIDPublicKey(s)
		if err != nil {
			return nil, err
		}
		return c2sp.LogVerifier(origin, pub)
	}
	return c2sp.ParseLogKey(s)
}
