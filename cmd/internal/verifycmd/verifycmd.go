// Package verifycmd is the offline proof verifier's command line, shared by
// `aurora proof verify` and the small `aurora-verify` binary (which starts in
// a few milliseconds because it links no libp2p, boxo or wazero).
package verifycmd

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/trust"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/treaty"
)

// Limits on the files the verifier reads.
const (
	maxRootsPEM       = 1 << 20
	maxCheckpointFile = provenance.MaxNoteSize
	maxProofFile      = 64 * 64
)

// New returns the `proof verify` command: `aurora proof verify` and the
// standalone `aurora-verify` binary share it.
func New(use string) *cobra.Command {
	var (
		logKey, origin, tsaRoots, newer, consistency, policyFile string
		witnessKeys                                              []string
		minWitnesses, minTokens                                  int
		partialOK                                                bool
	)
	cmd := &cobra.Command{
		Use:   use,
		Short: "Verify a proof bundle offline and print one verdict per check",
		Long: `Verify a proof bundle (a c2sp.org/tlog-proof with Aurora's extra data) offline:
the job record, its leaf hash and inclusion proof, the log's signature on the
checkpoint, the witness cosignatures against --witness-key/--min-witnesses,
the RFC 3161 tokens against --tsa-roots (skipped without it; tokens count
only from distinct TSAs, at least --min-tokens of them), and, with --newer
and --consistency, that a newer checkpoint still contains it.

It prints one line per check (ok, FAIL or skip), then what was checked and
what was not. It exits non-zero if any check fails, and also if the witness
or TSA check was skipped, unless --partial-ok is given: then it prints
"partially verified" and exits 0.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(args[0], provenance.MaxBundleSize)
			if err != nil {
				return err
			}
			b, err := provenance.ParseBundle(data)
			if err != nil {
				return err
			}
			opts := provenance.VerifyOptions{Origin: origin, MinWitnesses: minWitnesses, MinTokens: minTokens, Now: time.Now()}
			var rootsPEM []byte
			if policyFile != "" {
				if len(witnessKeys) > 0 || cmd.Flags().Changed("min-witnesses") {
					return errors.New("proof verify: --policy names the witnesses and the quorum: drop --witness-key and --min-witnesses")
				}
				pol, pem, err := loadPolicy(policyFile)
				if err != nil {
					return err
				}
				if opts.Origin == "" {
					opts.Origin = checkpointOrigin(b.Checkpoint)
				}
				l, ok := pol.Log(opts.Origin)
				if !ok && logKey == "" {
					return fmt.Errorf("proof verify: %s lists no log with origin %q", policyFile, opts.Origin)
				}
				opts.LogKey = l.Verifier
				opts.WitnessKeys, opts.Quorum = pol.WitnessKeys(), pol.Quorum()
				if pol.TSA.MinTokens > 0 && !cmd.Flags().Changed("min-tokens") {
					opts.MinTokens = pol.TSA.MinTokens
				}
				rootsPEM = pem
			} else if logKey == "" || origin == "" {
				return errors.New("proof verify: give --policy FILE, or --origin and --log-key")
			}
			origin = opts.Origin
			if logKey != "" {
				if opts.LogKey, err = parseLogKey(opts.Origin, logKey); err != nil {
					return err
				}
			}
			for _, wk := range witnessKeys {
				v, err := provenance.ParseWitnessKey(wk)
				if err != nil {
					return err
				}
				opts.WitnessKeys = append(opts.WitnessKeys, v)
			}
			if tsaRoots != "" {
				pem, err := readBounded(tsaRoots, maxRootsPEM)
				if err != nil {
					return err
				}
				rootsPEM = append(append(rootsPEM, '\n'), pem...)
			}
			if len(rootsPEM) > 0 {
				if opts.TSAVerifier, err = tsaVerifier(rootsPEM); err != nil {
					return err
				}
			}
			if (newer == "") != (consistency == "") {
				return errors.New("proof verify: --newer and --consistency go together")
			}
			if newer != "" {
				if opts.Newer, err = readBounded(newer, maxCheckpointFile); err != nil {
					return err
				}
				raw, err := readBounded(consistency, maxProofFile)
				if err != nil {
					return err
				}
				if opts.Consistency, err = provenance.ParseHashLines(raw); err != nil {
					return fmt.Errorf("proof verify: %s: %w", consistency, err)
				}
			}
			report, verr := provenance.VerifyBundle(b, opts)
			out := cmd.OutOrStdout()
			if _, err := report.WriteTo(out); err != nil {
				return err
			}
			if verr != nil {
				return verr
			}
			checked := strings.Join(report.Checked(), ", ")
			skipped := report.Skipped()
			if len(skipped) == 0 {
				fmt.Fprintf(out, "verified: leaf %d of %s (checked: %s)\n", b.Index, origin, checked)
				return nil
			}
			var names, why []string
			for _, v := range skipped {
				names = append(names, v.Check)
				why = append(why, v.Check+": "+v.Detail)
			}
			if partialOK {
				fmt.Fprintf(out, "partially verified: leaf %d of %s (checked: %s; NOT checked: %s)\n", b.Index, origin, checked, strings.Join(why, "; "))
				return nil
			}
			fmt.Fprintf(out, "NOT fully verified: leaf %d of %s (checked: %s; NOT checked: %s)\n", b.Index, origin, checked, strings.Join(why, "; "))
			return &PartialError{Skipped: names}
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyFile, "policy", "", "trust-policy file: logs, witnesses, quorum and TSA roots (replaces the other trust flags)")
	f.StringVar(&logKey, "log-key", "", "the log operator's DID (did:key:…) or the log's C2SP verifier key (required without --policy)")
	f.StringVar(&origin, "origin", "", "the log's origin, aurora/<federation>/<peer ID> (required without --policy)")
	f.StringArrayVar(&witnessKeys, "witness-key", nil, "a trusted witness: NAME+did:key:… or a C2SP verifier key NAME+HASH+BASE64 (repeatable)")
	f.IntVar(&minWitnesses, "min-witnesses", 0, "how many trusted witnesses must have cosigned (default 1 when --witness-key is given)")
	f.StringVar(&tsaRoots, "tsa-roots", "", "PEM file of trusted TSA root certificates (without it the TSA check is skipped)")
	f.IntVar(&minTokens, "min-tokens", 2, "how many distinct TSAs (signer keys chaining to --tsa-roots) must have timestamped the checkpoint")
	f.BoolVar(&partialOK, "partial-ok", false, "accept a verification that skipped the witness or TSA check (prints \"partially verified\" and exits 0)")
	f.StringVar(&newer, "newer", "", "a newer signed checkpoint of the same log")
	f.StringVar(&consistency, "consistency", "", "file with the consistency proof to --newer, one base64 hash per line")
	return cmd
}

// PartialError is returned when checks that establish trust were skipped
// (no witness policy, no TSA roots) and --partial-ok was not given.
type PartialError struct {
	Skipped []string // the skipped checks, e.g. "witnesses", "tsa"
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("proof verify: not fully verified: %s skipped (give --witness-key/--min-witnesses and --tsa-roots, or --partial-ok to accept a partial verification)",
		strings.Join(e.Skipped, " and "))
}

// loadPolicy reads and parses a trust policy and the PEM of its TSA roots
// (tsa-roots files, relative to the policy's directory, and inline roots).
func loadPolicy(path string) (*trust.Policy, []byte, error) {
	data, err := readBounded(path, trust.MaxPolicySize)
	if err != nil {
		return nil, nil, err
	}
	pol, err := trust.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var roots []byte
	for _, f := range pol.TSA.RootFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(path), f)
		}
		b, err := readBounded(f, maxRootsPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: tsa-roots: %w", path, err)
		}
		roots = append(append(roots, b...), '\n')
	}
	for _, c := range pol.TSA.Roots {
		roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return pol, roots, nil
}

// LoadPolicy is loadPolicy for the other commands (aurora monitor).
func LoadPolicy(path string) (*trust.Policy, []byte, error) { return loadPolicy(path) }

// checkpointOrigin is the first line of a note ("" if none).
func checkpointOrigin(note []byte) string {
	line, _, _ := strings.Cut(string(note), "\n")
	return line
}

// parseLogKey accepts a DID (the node's key signs its log) or a C2SP
// verifier key.
func parseLogKey(origin, s string) (note.Verifier, error) {
	if strings.HasPrefix(s, "did:key:") {
		did, err := treaty.ParseDID(s)
		if err != nil {
			return nil, err
		}
		return provenance.LogVerifier(origin, did)
	}
	return provenance.ParseLogKey(s)
}

// tsaVerifier builds the RFC 3161 token verifier from a PEM bundle of
// trusted TSA roots (provenance/tsa).
func tsaVerifier(rootsPEM []byte) (provenance.TokenVerifier, error) {
	pool, err := tsa.CertPoolFromPEM(rootsPEM)
	if err != nil {
		return nil, err
	}
	return tsa.Verifier{Opts: tsa.VerifyOptions{Roots: pool}}, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}
