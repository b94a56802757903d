package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/cmd/internal/verifycmd"
	"github.com/aurora-federation/aurora/internal/boundedio"
	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance/c2sp"
	"github.com/aurora-federation/aurora/provenance/rfc3161"
	"github.com/aurora-federation/aurora/provenance/trust"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/release"
	"github.com/aurora-federation/aurora/treaty"
)

// Environment variables of `aurora release`.
const (
	envReleaseKey    = "AURORA_RELEASE_KEY"    // the secret signing key file (sign)
	envReleasePubKey = "AURORA_RELEASE_PUBKEY" // the trusted public key file (log, verify)
	envTrustPolicy   = "AURORA_TRUST_POLICY"   // the trust-policy file (sign, verify)
	envSourceEpoch   = "SOURCE_DATE_EPOCH"     // the release time (build)
)

// Names in a dev release's directory (<dist>/dev).
const (
	devDirName   = "dev"
	devKeyFile   = "release-key.asc"
	devPubFile   = "release-key.pub.asc"
	devRootsFile = "tsa-roots.pem"
	devPolicy    = "trust.policy"
)

// proofWaitPoll is how often `aurora release log` asks for the proof.
const proofWaitPoll = 500 * time.Millisecond

func newReleaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Build, sign, timestamp, log and verify a release bundle",
		Long: `Build, sign, timestamp, log and verify the release bundle
aurora-YYYYMMDD.tar.gz. The files beside it:

  SHA256SUMS                 sha256sum -c SHA256SUMS
  T.asc                      gpg --verify T.asc T
  T.tsa1.tsr, T.tsa2.tsr     openssl ts -verify -digest HEX -in T.tsa1.tsr -CAfile roots.pem
  T.tlog-proof               aurora proof verify --policy trust.policy T.tlog-proof

make release runs build, then sign and log with an operator key and node, or
dev (a throw-away key, two local dev TSAs and a throw-away log) when
RELEASE_KEY is not set.`,
	}
	cmd.AddCommand(newReleaseKeygenCmd(), newReleaseBuildCmd(), newReleaseSignCmd(), newReleaseLogCmd(), newReleaseDevCmd(), newReleaseVerifyCmd())
	return cmd
}

func newReleaseKeygenCmd() *cobra.Command {
	var out, pub, name, email string
	cmd := &cobra.Command{
		Use:   "keygen -o FILE",
		Short: "Write a new operator release signing key (OpenPGP v4 EdDSA) and its public key",
		Long: `Write a new release signing key: an OpenPGP v4 EdDSA (Ed25519) key in
ASCII armor, unencrypted, mode 0600, to FILE, and its public key to --public
(default FILE without .asc plus .pub.asc). Publish the public key and its
fingerprint; keep FILE on the build host only (sign reads it from --key or
$AURORA_RELEASE_KEY). Refuses to overwrite either file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("release keygen: -o FILE is required")
			}
			if pub == "" {
				pub = strings.TrimSuffix(out, ".asc") + ".pub.asc"
			}
			key, err := release.GenerateKey(name, email, time.Now())
			if err != nil {
				return err
			}
			fpr, err := writeKeyPair(key, out, pub)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release key %s\nsecret key: %s (mode 0600: keep it on the build host)\npublic key: %s (publish it)\n", fpr, out, pub)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write the secret key to")
	cmd.Flags().StringVar(&pub, "public", "", "file to write the public key to (default FILE without .asc plus .pub.asc)")
	cmd.Flags().StringVar(&name, "name", "Aurora release", "the key's user ID name")
	cmd.Flags().StringVar(&email, "email", "", "the key's user ID email")
	return cmd
}

func writeKeyPair(key *release.SigningKey, secret, public string) (string, error) {
	priv, err := key.MarshalPrivate()
	if err != nil {
		return "", err
	}
	pubB, err := key.MarshalPublic()
	if err != nil {
		return "", err
	}
	if err := writeNew(secret, priv, 0o600); err != nil {
		return "", err
	}
	if err := writeNew(public, pubB, 0o644); err != nil {
		return "", err
	}
	return key.Fingerprint(), nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("release: %w", err)
	}
	return f.Close()
}

func newReleaseBuildCmd() *cobra.Command {
	var src, stage, out string
	var epoch int64
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Write the deterministic release tarball and SHA256SUMS",
		Long: `Write <out>/aurora-YYYYMMDD.tar.gz and <out>/SHA256SUMS. The tarball holds
every file under --stage (the binaries and the std policy module the Makefile
built) and the shipped paths of the source tree --src (docs, schemas,
scripts, dashboard, Prometheus rules, Kubernetes base and overlays, compose
file), under one top directory aurora-YYYYMMDD/. The date and every mtime are
--epoch (default $SOURCE_DATE_EPOCH, which make release sets to the last
commit's time), so two builds of one commit are byte-identical.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("epoch") {
				v := os.Getenv(envSourceEpoch)
				if v == "" {
					return errors.New("release build: give --epoch UNIX or set SOURCE_DATE_EPOCH (make release uses the last commit's time)")
				}
				var err error
				if epoch, err = strconv.ParseInt(v, 10, 64); err != nil || epoch <= 0 {
					return fmt.Errorf("release build: SOURCE_DATE_EPOCH=%q is not a positive unix time", v)
				}
			}
			if stage == "" {
				return errors.New("release build: --stage DIR (the built binaries) is required")
			}
			path, sum, err := buildRelease(src, stage, out, time.Unix(epoch, 0))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%x  %s\n", sum, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&src, "src", ".", "the source checkout")
	cmd.Flags().StringVar(&stage, "stage", "", "directory of built files to ship at their relative paths (bin/linux-amd64/aurora, ...)")
	cmd.Flags().StringVar(&out, "out", "dist", "output directory")
	cmd.Flags().Int64Var(&epoch, "epoch", 0, "release time, unix seconds (default $SOURCE_DATE_EPOCH)")
	return cmd
}

func buildRelease(src, stage, out string, at time.Time) (string, [32]byte, error) {
	files, err := release.Collect(src, release.Sources())
	if err != nil {
		return "", [32]byte{}, err
	}
	built, err := release.Collect(stage, []string{"."})
	if err != nil {
		return "", [32]byte{}, err
	}
	files = append(files, built...)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", [32]byte{}, err
	}
	name := release.TarballName(at)
	var buf bytes.Buffer
	if err := release.WriteTarGz(&buf, release.TopDir(name), files, at); err != nil {
		return "", [32]byte{}, err
	}
	path := filepath.Join(out, name)
	if err := writePublic(path, buf.Bytes()); err != nil {
		return "", [32]byte{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	sums := release.FormatSums([]release.Sum{{Digest: sum, Name: name}})
	return path, sum, writePublic(filepath.Join(out, release.SumsFile), sums)
}

// writePublic writes a release file atomically, mode 0644.
func writePublic(path string, data []byte) error {
	if err := writeFileAtomic(path, data); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}

func newReleaseSignCmd() *cobra.Command {
	var keyFile, rootsFile, policyFile string
	var tsaURLs []string
	cmd := &cobra.Command{
		Use:   "sign TARBALL",
		Short: "Sign a release tarball (OpenPGP) and timestamp it with two TSAs (RFC 3161)",
		Long: `Write TARBALL.asc, an ASCII-armored OpenPGP detached signature by the key in
--key (default $AURORA_RELEASE_KEY), and TARBALL.tsa1.tsr, TARBALL.tsa2.tsr:
RFC 3161 tokens over the tarball's SHA-256 from each --tsa (default the
home's provenance.tsa), each verified against --tsa-roots (default the
home's provenance.tsa_roots, or the trust policy's tsa-roots with --policy)
before it is written.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				keyFile = os.Getenv(envReleaseKey)
			}
			if keyFile == "" {
				return errors.New("release sign: give --key FILE or set " + envReleaseKey + " (aurora release keygen writes one)")
			}
			key, err := readSigningKey(keyFile)
			if err != nil {
				return err
			}
			if len(tsaURLs) == 0 || rootsFile == "" {
				if home, err := homeDir(cmd); err == nil {
					if cfg, err := node.LoadConfig(home, os.Environ()); err == nil {
						if len(tsaURLs) == 0 {
							tsaURLs = cfg.Provenance.TSA
						}
						if rootsFile == "" && policyFile == "" {
							rootsFile = cfg.Provenance.TSARoots
						}
					}
				}
			}
			if len(tsaURLs) < 2 {
				return fmt.Errorf("release sign: %d TSAs given, want two independent ones (--tsa URL twice, or the home's provenance.tsa)", len(tsaURLs))
			}
			roots, err := releaseRoots(rootsFile, policyFile)
			if err != nil {
				return err
			}
			var stampers []release.Timestamper
			for _, u := range tsaURLs {
				stampers = append(stampers, &tsa.Client{URL: u, Roots: rfc3161.CertPool(roots...)})
			}
			s, err := release.SignAndTimestamp(cmd.Context(), args[0], key, stampers, time.Now())
			if err != nil {
				return err
			}
			if _, err := release.CheckTokens(s.Tokens, s.SHA256, roots, release.DefaultMinTokens); err != nil {
				return fmt.Errorf("release sign: the TSAs must be independent: %w", err)
			}
			return writeSigned(cmd.OutOrStdout(), args[0], s)
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the secret signing key (default $"+envReleaseKey+")")
	cmd.Flags().StringArrayVar(&tsaURLs, "tsa", nil, "an RFC 3161 TSA URL (give two; default the home's provenance.tsa)")
	cmd.Flags().StringVar(&rootsFile, "tsa-roots", "", "PEM file of the TSAs' roots (default the home's provenance.tsa_roots)")
	cmd.Flags().StringVar(&policyFile, "policy", "", "trust-policy file whose tsa-roots to use")
	return cmd
}

// readSigningKey reads a secret key file, refusing one that others can
// read.
func readSigningKey(path string) (*release.SigningKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("release: %s has mode %04o: a signing key must not be readable by group or others (chmod 600)", path, info.Mode().Perm())
	}
	data, err := boundedio.ReadFile(path, release.MaxKeySize)
	if err != nil {
		return nil, err
	}
	return release.ParseSigningKey(data)
}

func releaseRoots(rootsFile, policyFile string) ([]*x509.Certificate, error) {
	var pemData []byte
	switch {
	case policyFile != "":
		_, b, err := verifycmd.LoadPolicy(policyFile)
		if err != nil {
			return nil, err
		}
		pemData = b
	case rootsFile != "":
		b, err := boundedio.ReadFile(rootsFile, rfc3161.MaxPEMSize)
		if err != nil {
			return nil, err
		}
		pemData = b
	default:
		return nil, errors.New("release: no TSA roots: give --tsa-roots or --policy (or set the home's provenance.tsa_roots)")
	}
	roots, err := rfc3161.ParseCertificatesPEM(pemData)
	if err != nil {
		return nil, fmt.Errorf("release: TSA roots: %w", err)
	}
	if len(roots) == 0 {
		return nil, errors.New("release: TSA roots: no certificate")
	}
	return roots, nil
}

func writeSigned(out io.Writer, tarball string, s *release.Signed) error {
	if err := writePublic(tarball+release.SignatureSuffix, s.Signature); err != nil {
		return err
	}
	fmt.Fprintf(out, "signature %s (key %s)\n", tarball+release.SignatureSuffix, s.Signer)
	for i, tok := range s.Tokens {
		p := release.TokenFile(tarball, i+1)
		if err := writePublic(p, tok); err != nil {
			return err
		}
		fmt.Fprintf(out, "timestamp %s\n", p)
	}
	return nil
}

func newReleaseLogCmd() *cobra.Command {
	var pubFile string
	var wait time.Duration
	var index uint64
	cmd := &cobra.Command{
		Use:   "log TARBALL",
		Short: "Record a signed, timestamped release in the node's log and fetch its inclusion proof",
		Long: `Check TARBALL.asc against --key (default $AURORA_RELEASE_PUBKEY), POST the
release (name, SHA-256, signer fingerprint, the SHA-256 of each
TARBALL.tsaN.tsr) to the node's /v1/releases with the operator token (the
home's api.token), wait up to --wait for the leaf's epoch to close, and
write its proof bundle to TARBALL.tlog-proof. With --index N it only fetches
the proof of leaf N (a release logged before whose epoch had not closed).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tarball := args[0]
			if cmd.Flags().Changed("index") {
				return fetchReleaseProof(cmd, tarball, index, wait)
			}
			if pubFile == "" {
				pubFile = os.Getenv(envReleasePubKey)
			}
			if pubFile == "" {
				return errors.New("release log: give --key PUBLIC-KEY-FILE or set " + envReleasePubKey)
			}
			in, err := loadReleaseFiles(tarball)
			if err != nil {
				return err
			}
			keys, err := readPublicKeys(pubFile)
			if err != nil {
				return err
			}
			f, err := os.Open(tarball)
			if err != nil {
				return err
			}
			sig, err := release.CheckSignature(keys, f, in.Signature, time.Now())
			f.Close()
			if err != nil {
				return fmt.Errorf("release log: %s: %w", tarball+release.SignatureSuffix, err)
			}
			digest, err := release.FileSHA256(tarball)
			if err != nil {
				return err
			}
			req := node.ReleaseRequest{Name: filepath.Base(tarball), SHA256: hex.EncodeToString(digest[:]), Signer: sig.Fingerprint}
			for _, d := range release.TokenDigests(in.Tokens) {
				req.TokensSHA256 = append(req.TokensSHA256, hex.EncodeToString(d))
			}
			body, err := json.Marshal(req)
			if err != nil {
				return err
			}
			c := apiClient(cmd)
			var resp node.ReleaseResponse
			if err := c.Do(cmd.Context(), http.MethodPost, "/v1/releases", "application/json", body, &resp); err != nil {
				return fmt.Errorf("release log: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged release %s as leaf %d of %s\n", req.Name, resp.Index, c.Base)
			return fetchReleaseProof(cmd, tarball, resp.Index, wait)
		},
	}
	addAPIFlag(cmd)
	cmd.Flags().Uint64Var(&index, "index", 0, "only fetch the proof of this release leaf (logged before) into TARBALL.tlog-proof")
	cmd.Flags().StringVar(&pubFile, "key", "", "the release public key (default $"+envReleasePubKey+")")
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the leaf's epoch to close")
	return cmd
}

func fetchReleaseProof(cmd *cobra.Command, tarball string, index uint64, wait time.Duration) error {
	proof, err := waitReleaseProof(cmd.Context(), apiClient(cmd), index, wait)
	if err != nil {
		return err
	}
	if err := writePublic(tarball+release.ProofSuffix, proof); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "proof %s\n", tarball+release.ProofSuffix)
	return nil
}

func waitReleaseProof(ctx context.Context, c *client.Client, index uint64, wait time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	path := fmt.Sprintf("/v1/releases/%d/proof", index)
	for {
		b, err := c.Raw(ctx, http.MethodGet, path, "", nil)
		if err == nil {
			if _, err := c2sp.ParseBundle(b); err != nil {
				return nil, fmt.Errorf("release log: the node returned an invalid bundle: %w", err)
			}
			return b, nil
		}
		if !client.IsStatus(err, http.StatusServiceUnavailable) {
			return nil, fmt.Errorf("release log: GET %s: %w", path, err)
		}
		t := time.NewTimer(proofWaitPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("release log: leaf %d's epoch did not close within %s (fetch the proof later: aurora release log --index %d TARBALL)", index, wait, index)
		case <-t.C:
		}
	}
}

func newReleaseDevCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev TARBALL",
		Short: "DEV ONLY: sign, timestamp and log a tarball with throw-away keys, TSAs and log",
		Long: `For a clean clone without an operator key or node (make release without
RELEASE_KEY): create <dir>/dev/ beside TARBALL with a throw-away OpenPGP key,
two development TSAs (distinct keys and roots), and a throw-away in-memory
provenance log, then write TARBALL.asc, TARBALL.tsa1.tsr, TARBALL.tsa2.tsr
and TARBALL.tlog-proof, and <dir>/dev/trust.policy naming the dev log and
the dev TSA roots. aurora release verify uses <dir>/dev when given no key and
no policy, and says so. A dev release proves the chain works, not who made
it: nobody but you trusts these keys. Any earlier <dir>/dev is replaced.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return devRelease(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
	return cmd
}

func devRelease(ctx context.Context, out io.Writer, tarball string) error {
	dir := filepath.Join(filepath.Dir(tarball), devDirName)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := release.GenerateKey("Aurora DEV release throw-away key", "dev@invalid", time.Now())
	if err != nil {
		return err
	}
	if _, err := writeKeyPair(key, filepath.Join(dir, devKeyFile), filepath.Join(dir, devPubFile)); err != nil {
		return err
	}
	var stampers []release.Timestamper
	var roots []byte
	for _, n := range []string{"tsa-a", "tsa-b"} {
		d, err := tsa.NewDevTSA(filepath.Join(dir, n), nil)
		if err != nil {
			return err
		}
		stampers = append(stampers, d)
		roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Root().Raw})...)
	}
	if err := writeNew(filepath.Join(dir, devRootsFile), roots, 0o644); err != nil {
		return err
	}
	s, err := release.SignAndTimestamp(ctx, tarball, key, stampers, time.Now())
	if err != nil {
		return err
	}
	if err := writeSigned(out, tarball, s); err != nil {
		return err
	}
	dl, err := release.NewDevLog(ctx)
	if err != nil {
		return err
	}
	leaf, err := treaty.Encode(s.Entry(time.Now()))
	if err != nil {
		return err
	}
	proof, err := dl.AppendAndProve(ctx, leaf, stampers)
	if err != nil {
		return err
	}
	if err := writePublic(tarball+release.ProofSuffix, proof); err != nil {
		return err
	}
	fmt.Fprintf(out, "proof %s (DEV log %s)\n", tarball+release.ProofSuffix, release.DevOrigin)
	pol := fmt.Sprintf("# Aurora DEV release trust policy, written by aurora release dev.\n# A throw-away log key and two development TSAs: NOT FOR PRODUCTION.\nlog %s\nquorum none\ntsa-roots %s\ntsa-min 2\n", dl.VerifierKey(), devRootsFile)
	if _, err := trust.Parse([]byte(pol)); err != nil {
		return fmt.Errorf("release dev: the trust policy it wrote does not parse: %w", err)
	}
	if err := writeNew(filepath.Join(dir, devPolicy), []byte(pol), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "DEV release: throw-away key %s, dev TSAs and log in %s (trust policy %s)\n", key.Fingerprint(), dir, filepath.Join(dir, devPolicy))
	return nil
}

func newReleaseVerifyCmd() *cobra.Command {
	var pubFile, policyFile, sumsFile string
	cmd := &cobra.Command{
		Use:   "verify TARBALL",
		Short: "Verify a release: SHA-256, OpenPGP signature, RFC 3161 tokens, Merkle inclusion",
		Long: `Verify TARBALL and the files beside it, printing one line per step (ok or
FAIL with the reason) and exiting non-zero if any fails:

  sha256     TARBALL's SHA-256 is SHA256SUMS' line for it
  signature  TARBALL.asc is a good v4 signature by a key in --key
  tsa        TARBALL.tsaN.tsr are tokens over that SHA-256 from at least
             tsa-min (default 2) distinct TSAs chaining to the policy's roots
  merkle     TARBALL.tlog-proof proves the release leaf (this name, digest,
             signer and tokens) in a log the policy trusts, under its
             witness quorum and checkpoint timestamps

--key defaults to $AURORA_RELEASE_PUBKEY and --policy to $AURORA_TRUST_POLICY.
With neither, a dev release's <dir>/dev/ is used, and the output says so.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tarball := args[0]
			if pubFile == "" {
				pubFile = os.Getenv(envReleasePubKey)
			}
			if policyFile == "" {
				policyFile = os.Getenv(envTrustPolicy)
			}
			out := cmd.OutOrStdout()
			if pubFile == "" && policyFile == "" {
				dev := filepath.Join(filepath.Dir(tarball), devDirName)
				if _, err := os.Stat(filepath.Join(dev, devPolicy)); err != nil {
					return errors.New("release verify: give --key PUBLIC-KEY and --policy TRUST-POLICY (or set " + envReleasePubKey + " and " + envTrustPolicy + ")")
				}
				pubFile, policyFile = filepath.Join(dev, devPubFile), filepath.Join(dev, devPolicy)
				fmt.Fprintf(out, "trust      DEV release material from %s: a throw-away key, dev TSAs and log (proves the chain, not the publisher)\n", dev)
			}
			if pubFile == "" || policyFile == "" {
				return errors.New("release verify: --key and --policy go together")
			}
			in, err := loadReleaseFiles(tarball)
			if err != nil {
				return err
			}
			if sumsFile == "" {
				sumsFile = filepath.Join(filepath.Dir(tarball), release.SumsFile)
			}
			if in.Sums, err = boundedio.ReadFile(sumsFile, release.MaxSumsSize); err != nil {
				return err
			}
			if in.PublicKeys, err = readPublicKeys(pubFile); err != nil {
				return err
			}
			pol, rootsPEM, err := verifycmd.LoadPolicy(policyFile)
			if err != nil {
				return err
			}
			if len(rootsPEM) > 0 {
				if in.TSARoots, err = rfc3161.ParseCertificatesPEM(rootsPEM); err != nil {
					return err
				}
			}
			in.MinTokens = pol.TSA.MinTokens
			in.WitnessesOptional = pol.QuorumName == trust.None
			in.Bundle = c2sp.VerifyOptions{WitnessKeys: pol.WitnessKeys(), Quorum: pol.Quorum(), MinTokens: pol.TSA.MinTokens, Now: time.Now()}
			if len(in.TSARoots) > 0 {
				in.Bundle.TSAVerifier = rfc3161.Verifier{Opts: rfc3161.VerifyOptions{Roots: rfc3161.CertPool(in.TSARoots...)}}
			}
			if b, err := c2sp.ParseBundle(in.Proof); err == nil {
				origin, _, _ := strings.Cut(string(b.Checkpoint), "\n")
				in.Bundle.Origin = origin
				if l, ok := pol.Log(origin); ok {
					in.Bundle.LogKey = l.Verifier
				} // else Verify's merkle step fails: the log is not trusted
			}
			rep, verr := release.Verify(in)
			if _, err := rep.WriteTo(out); err != nil {
				return err
			}
			if verr != nil {
				return verr
			}
			fmt.Fprintf(out, "verified   %s\n", tarball)
			return nil
		},
	}
	cmd.Flags().StringVar(&pubFile, "key", "", "trusted release public key file (default $"+envReleasePubKey+")")
	cmd.Flags().StringVar(&policyFile, "policy", "", "trust-policy file: the operator's log, witnesses, TSA roots (default $"+envTrustPolicy+")")
	cmd.Flags().StringVar(&sumsFile, "sums", "", "the SHA256SUMS file (default beside TARBALL)")
	return cmd
}

// loadReleaseFiles reads the signature, tokens and proof beside tarball;
// absent files stay empty (Verify reports the step that needs them).
func loadReleaseFiles(tarball string) (release.VerifyInput, error) {
	in := release.VerifyInput{Tarball: tarball}
	var err error
	if in.Signature, err = readOptional(tarball+release.SignatureSuffix, release.MaxSignatureSize); err != nil {
		return in, err
	}
	for i := 1; i <= treaty.MaxReleaseTokens; i++ {
		tok, err := readOptional(release.TokenFile(tarball, i), rfc3161.MaxTokenSize)
		if err != nil {
			return in, err
		}
		if tok == nil {
			break
		}
		in.Tokens = append(in.Tokens, tok)
	}
	if in.Proof, err = readOptional(tarball+release.ProofSuffix, c2sp.MaxBundleSize); err != nil {
		return in, err
	}
	return in, nil
}

func readOptional(path string, limit int64) ([]byte, error) {
	b, err := boundedio.ReadFile(path, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func readPublicKeys(path string) (openpgp.EntityList, error) {
	b, err := boundedio.ReadFile(path, release.MaxKeySize)
	if err != nil {
		return nil, err
	}
	return release.ParsePublicKeys(b)
}
