package release_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/provenance/c2sp"
	"github.com/aurora-federation/aurora/provenance/rfc3161"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/release"
	"github.com/aurora-federation/aurora/treaty"
)

var releaseTime = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// writeTree writes a small source tree: a doc, an executable script and a
// nested file, with the given mtime and file mode bits.
func writeTree(t *testing.T, dir string, mtime time.Time, perm os.FileMode) {
	t.Helper()
	files := map[string]string{"README.md": "# Aurora\n", "docs/OPERATIONS.md": "ops\n", "ops/k8s/base/a.yaml": "a: 1\n", "scripts/run.sh": "#!/bin/sh\necho hi\n", "ops/skip_test.go": "package ops\n"}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := perm
		if strings.HasSuffix(name, ".sh") {
			mode |= 0o111
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func buildTar(t *testing.T, src string) []byte {
	t.Helper()
	files, err := release.Collect(src, []string{"README.md", "docs", "ops", "scripts"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := release.WriteTarGz(&b, release.TopDir(release.TarballName(releaseTime)), files, releaseTime); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestTarballReproducible builds the bundle from two copies of a tree that
// differ in mtimes, permissions and creation order, and requires identical
// bytes; then checks what tar lists (order, owners, modes, mtimes) with
// the system's tar when present.
func TestTarballReproducible(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeTree(t, a, time.Unix(1e9, 0), 0o644)
	writeTree(t, b, time.Unix(1.7e9, 0), 0o600)
	ta, tb := buildTar(t, a), buildTar(t, b)
	if !bytes.Equal(ta, tb) {
		t.Fatalf("two builds differ: %d and %d bytes", len(ta), len(tb))
	}
	if bytes.Contains(ta[:10], []byte("aurora")) || ta[3]&0x08 != 0 {
		t.Fatal("gzip header carries a file name")
	}
	if mt := ta[4:8]; !bytes.Equal(mt, []byte{0, 0, 0, 0}) {
		t.Fatalf("gzip header mtime %x, want 0", mt)
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed: the listing is not checked")
	}
	p := filepath.Join(t.TempDir(), "x.tar.gz")
	if err := os.WriteFile(p, ta, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tar", "--numeric-owner", "--utc", "-tvzf", p).CombinedOutput()
	if err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	want := []string{
		"drwxr-xr-x 0/0 0 2026-12-07 12:00 aurora-20261207/",
		"-rw-r--r-- 0/0 9 2026-12-07 12:00 aurora-20261207/README.md",
		"drwxr-xr-x 0/0 0 2026-12-07 12:00 aurora-20261207/docs/",
		"-rw-r--r-- 0/0 4 2026-12-07 12:00 aurora-20261207/docs/OPERATIONS.md",
		"drwxr-xr-x 0/0 0 2026-12-07 12:00 aurora-20261207/ops/",
		"drwxr-xr-x 0/0 0 2026-12-07 12:00 aurora-20261207/ops/k8s/",
		"drwxr-xr-x 0/0 0 2026-12-07 12:00 aurora-20261207/ops/k8s/base/",
		"-rw-r--r-- 0/0 5 2026-12-07 12:00 aurora-20261207/ops/k8s/base/a.yaml",
		"drwxr-xr-x 0/0 0 2026-12-07 12:00 aurora-20261207/scripts/",
		"-rwxr-xr-x 0/0 18 2026-12-07 12:00 aurora-20261207/scripts/run.sh",
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tar -tv:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWriteTarGzRejects(t *testing.T) {
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		files []release.File
		want  string
	}{
		{"absolute", []release.File{{Name: "/etc/passwd", Source: src}}, "not clean and relative"},
		{"dot-dot", []release.File{{Name: "../x", Source: src}}, "not clean and relative"},
		{"unclean", []release.File{{Name: "a//b", Source: src}}, "not clean and relative"},
		{"twice", []release.File{{Name: "a", Source: src}, {Name: "a", Source: src}}, "listed twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := release.WriteTarGz(&bytes.Buffer{}, "top", tt.files, releaseTime)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteTarGz = %v, want %q", err, tt.want)
			}
		})
	}
	dir := t.TempDir()
	if err := os.Symlink(src, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := release.Collect(dir, []string{"."}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Collect with a symlink = %v", err)
	}
	if _, err := release.Collect(dir, []string{"missing"}); err == nil {
		t.Fatal("Collect of a missing path succeeded")
	}
}

// fixture is a complete signed, timestamped and logged dev release in a
// directory, with the trust material to verify it.
type fixture struct {
	dir, tarball string
	key          *release.SigningKey
	pub          []byte
	tsas         []*tsa.DevTSA
	roots        []*x509.Certificate
	in           release.VerifyInput
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{dir: t.TempDir()}
	src := t.TempDir()
	writeTree(t, src, time.Unix(1e9, 0), 0o644)
	f.tarball = filepath.Join(f.dir, release.TarballName(releaseTime))
	if err := os.WriteFile(f.tarball, buildTar(t, src), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.key, err = release.GenerateKey("Aurora Test Operator", "ops@example.org", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if f.pub, err = f.key.MarshalPublic(); err != nil {
		t.Fatal(err)
	}
	var stampers []release.Timestamper
	for i := range 2 {
		d, err := tsa.NewDevTSA(filepath.Join(t.TempDir(), fmt.Sprint("tsa", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		f.tsas = append(f.tsas, d)
		f.roots = append(f.roots, d.Root())
		stampers = append(stampers, d)
	}
	s, err := release.SignAndTimestamp(ctx, f.tarball, f.key, stampers, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dl, err := release.NewDevLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := treaty.Encode(s.Entry(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	proof, err := dl.AppendAndProve(ctx, leaf, stampers)
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := c2sp.ParseLogKey(dl.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := release.ParsePublicKeys(f.pub)
	if err != nil {
		t.Fatal(err)
	}
	sums := release.FormatSums([]release.Sum{{Digest: s.SHA256, Name: s.Name}})
	f.writeAll(t, sums, s.Signature, s.Tokens, proof)
	f.in = release.VerifyInput{
		Tarball: f.tarball, Sums: sums, Signature: s.Signature, PublicKeys: keys, Tokens: s.Tokens,
		TSARoots: f.roots, Proof: proof, WitnessesOptional: true,
		Bundle: c2sp.VerifyOptions{Origin: release.DevOrigin, LogKey: logKey, TSAVerifier: tsaVerifier(f.roots)},
	}
	return f
}

func (f *fixture) writeAll(t *testing.T, sums, sig []byte, tokens [][]byte, proof []byte) {
	t.Helper()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(f.dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Base(f.tarball)
	write(release.SumsFile, sums)
	write(base+release.SignatureSuffix, sig)
	for i, tok := range tokens {
		write(filepath.Base(release.TokenFile(f.tarball, i+1)), tok)
	}
	write(base+release.ProofSuffix, proof)
	write("release-key.asc", f.pub)
	var roots []byte
	for _, c := range f.roots {
		roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	write("roots.pem", roots)
}

func TestVerifyChain(t *testing.T) {
	f := newFixture(t)
	rep, err := release.Verify(f.in)
	var out bytes.Buffer
	rep.WriteTo(&out)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 lines, got:\n%s", out.String())
	}
	for i, step := range []string{"sha256", "signature", "tsa", "merkle"} {
		if !strings.HasPrefix(lines[i], "ok   "+step) {
			t.Errorf("line %d = %q, want ok %s", i+1, lines[i], step)
		}
	}
	t.Logf("\n%s", out.String())
}

// TestVerifyTampered breaks one link at a time and requires Verify to
// fail at that step (and name it first).
func TestVerifyTampered(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	otherDigest := sha256.Sum256([]byte("another tarball"))
	otherToken, err := f.tsas[0].Timestamp(ctx, otherDigest)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := release.GenerateKey("Mallory", "m@example.org", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := otherKey.MarshalPublic()
	if err != nil {
		t.Fatal(err)
	}
	otherKeys, err := release.ParsePublicKeys(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		mutate   func(t *testing.T, in *release.VerifyInput)
		wantStep string
		wantErr  string
	}{
		{"tampered tarball", func(t *testing.T, in *release.VerifyInput) {
			p := filepath.Join(t.TempDir(), filepath.Base(in.Tarball))
			b, _ := os.ReadFile(in.Tarball)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o644)
			in.Tarball = p
		}, release.StepSHA256, "SHA256SUMS says"},
		{"tarball missing from SHA256SUMS", func(t *testing.T, in *release.VerifyInput) {
			in.Sums = []byte(strings.Repeat("0", 64) + "  other.tar.gz\n")
		}, release.StepSHA256, "has no line for"},
		{"tampered signature", func(t *testing.T, in *release.VerifyInput) {
			in.Signature = tamperArmor(t, in.Signature)
		}, release.StepSignature, ""},
		{"signature by an untrusted key", func(t *testing.T, in *release.VerifyInput) {
			in.PublicKeys = otherKeys
		}, release.StepSignature, ""},
		{"token over another digest", func(t *testing.T, in *release.VerifyInput) {
			in.Tokens = [][]byte{otherToken, in.Tokens[1]}
		}, release.StepTSA, "token 1"},
		{"one TSA twice", func(t *testing.T, in *release.VerifyInput) {
			in.Tokens = [][]byte{in.Tokens[0], in.Tokens[0]}
		}, release.StepTSA, "1 distinct TSAs, want at least 2"},
		{"untrusted TSA root", func(t *testing.T, in *release.VerifyInput) {
			in.TSARoots = in.TSARoots[:1]
		}, release.StepTSA, "token 2"},
		{"wrong leaf", func(t *testing.T, in *release.VerifyInput) {
			in.Proof, in.Bundle.LogKey = otherLeafProof(t, ctx, f, otherDigest)
		}, release.StepMerkle, "the leaf records sha256"},
		{"proof from another log", func(t *testing.T, in *release.VerifyInput) {
			in.Proof, _ = otherLeafProof(t, ctx, f, sha256.Sum256(mustRead(t, f.tarball)))
		}, release.StepMerkle, "log-signature"},
		{"tampered proof leaf", func(t *testing.T, in *release.VerifyInput) {
			b, err := c2sp.ParseBundle(in.Proof)
			if err != nil {
				t.Fatal(err)
			}
			b.Index++
			in.Proof, err = b.Marshal()
			if err != nil {
				t.Fatal(err)
			}
		}, release.StepMerkle, "inclusion"},
		{"no proof", func(t *testing.T, in *release.VerifyInput) { in.Proof = nil }, release.StepMerkle, "no proof bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := f.in
			tt.mutate(t, &in)
			rep, err := release.Verify(in)
			var out bytes.Buffer
			rep.WriteTo(&out)
			var se *release.StepError
			if !errors.As(err, &se) || se.Step != tt.wantStep {
				t.Fatalf("Verify = %v, want a failure at %s\n%s", err, tt.wantStep, out.String())
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Verify = %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), "FAIL "+tt.wantStep) || rep.OK() {
				t.Fatalf("report does not show the failure:\n%s", out.String())
			}
		})
	}
}

// otherLeafProof logs a release entry for digest in a new dev log and
// returns its bundle and that log's key.
func otherLeafProof(t *testing.T, ctx context.Context, f *fixture, digest [32]byte) ([]byte, note.Verifier) {
	t.Helper()
	dl, err := release.NewDevLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &release.Signed{Name: filepath.Base(f.tarball), SHA256: digest, Signer: f.key.Fingerprint(), Tokens: f.in.Tokens}
	leaf, err := treaty.Encode(s.Entry(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var st []release.Timestamper
	for _, d := range f.tsas {
		st = append(st, d)
	}
	proof, err := dl.AppendAndProve(ctx, leaf, st)
	if err != nil {
		t.Fatal(err)
	}
	key, err := c2sp.ParseLogKey(dl.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return proof, key
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tsaVerifier(roots []*x509.Certificate) rfc3161.Verifier {
	return rfc3161.Verifier{Opts: rfc3161.VerifyOptions{Roots: rfc3161.CertPool(roots...)}}
}

// tamperArmor flips one bit of the signature packet inside the armor and
// re-armors it (with a valid checksum), so only the signature is wrong.
func tamperArmor(t *testing.T, armored []byte) []byte {
	t.Helper()
	blk, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(blk.Body)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)-5] ^= 0x01 // inside the EdDSA signature's S value
	var b bytes.Buffer
	w, err := armor.Encode(&b, blk.Type, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	w.Close()
	return b.Bytes()
}
