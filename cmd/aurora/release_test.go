package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/provenance/c2sp"
	"github.com/aurora-federation/aurora/release"
)

// stageDir is a stand-in for the Makefile's stage (the cross-built
// binaries): the builder ships whatever it holds.
func stageDir(t *testing.T) string {
	t.Helper()
	stage := t.TempDir()
	for name, body := range map[string]string{"bin/linux-amd64/aurora": "ELF amd64", "bin/linux-arm64/aurora": "ELF arm64", "policy/std/std.wasm": "\x00asm"} {
		p := filepath.Join(stage, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return stage
}

const testEpoch = "1796644800" // 2026-12-07T12:00:00Z

// TestReleaseDevFlow is make release's dev path through the CLI: two
// builds of the repository's shipped paths are byte-identical, `release
// dev` signs, timestamps and logs with throw-away material, `release
// verify` passes all four steps with no flags, `proof verify` verifies the
// release leaf, and a tampered tarball fails at the SHA-256 step with a
// non-zero exit.
func TestReleaseDevFlow(t *testing.T) {
	stage := stageDir(t)
	outA, outB := t.TempDir(), t.TempDir()
	t.Setenv(envSourceEpoch, testEpoch)
	for _, out := range []string{outA, outB} {
		if o, e, code := runAurora(t, "release", "build", "--src", "../..", "--stage", stage, "--out", out); code != 0 {
			t.Fatalf("release build: exit %d\n%s%s", code, o, e)
		}
	}
	name := "aurora-20261207.tar.gz"
	a, b := mustReadFile(t, filepath.Join(outA, name)), mustReadFile(t, filepath.Join(outB, name))
	if !bytes.Equal(a, b) || !bytes.Equal(mustReadFile(t, filepath.Join(outA, release.SumsFile)), mustReadFile(t, filepath.Join(outB, release.SumsFile))) {
		t.Fatal("two release builds differ")
	}
	tarball := filepath.Join(outA, name)
	if o, e, code := runAurora(t, "release", "dev", tarball); code != 0 || !strings.Contains(o, "DEV release") {
		t.Fatalf("release dev: exit %d\n%s%s", code, o, e)
	}
	t.Setenv(envReleasePubKey, "")
	t.Setenv(envTrustPolicy, "")
	out, errs, code := runAurora(t, "release", "verify", tarball)
	if code != 0 {
		t.Fatalf("release verify: exit %d\n%s%s", code, out, errs)
	}
	for _, step := range []string{"ok   sha256", "ok   signature", "ok   tsa", "ok   merkle", "trust      DEV release material", "verified   "} {
		if !strings.Contains(out, step) {
			t.Errorf("release verify output lacks %q:\n%s", step, out)
		}
	}
	t.Logf("\n%s", out)
	pol := filepath.Join(outA, "dev", "trust.policy")
	if out, errs, code := runAurora(t, "proof", "verify", "--policy", pol, "--partial-ok", tarball+release.ProofSuffix); code != 0 || !strings.Contains(out, "release "+name+" sha256") || !strings.Contains(out, "partially verified") {
		t.Fatalf("proof verify of the release leaf: exit %d\n%s%s", code, out, errs)
	}

	// Tampered: one byte of the tarball.
	a[len(a)/3] ^= 0x40
	if err := os.WriteFile(tarball, a, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = runAurora(t, "release", "verify", tarball)
	if code == 0 || !strings.Contains(out, "FAIL sha256") || !strings.Contains(errs, "release: verify: sha256") {
		t.Fatalf("tampered tarball: exit %d\n%s%s", code, out, errs)
	}
}

// TestReleaseOperatorFlow is the production path: `release keygen`, `release
// sign` with two RFC 3161 TSAs over HTTP (dev TSAs with distinct keys),
// `release log` on a real node (its operator token from the home), then
// `federation policy` for the node's trust policy and `release verify`
// with the operator's public key and that policy.
func TestReleaseOperatorFlow(t *testing.T) {
	dir := t.TempDir()
	urls, _, rootsFile := httpDevTSAs(t, dir)

	home := filepath.Join(dir, "n1")
	cfg := node.DefaultConfig()
	cfg.Backup.Interval = 0
	cfg.P2P.Listen = []string{}
	cfg.Provenance.Epoch = node.Duration(200 * time.Millisecond)
	cfg.Provenance.TSA = urls
	cfg.Provenance.TSARoots = rootsFile
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, APIListener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	api := "http://" + n.APIAddr()

	key := filepath.Join(dir, "release-key.asc")
	out, errs, code := runAurora(t, "release", "keygen", "-o", key, "--email", "ops@example.org")
	fpr, _, _ := strings.Cut(strings.TrimPrefix(out, "release key "), "\n")
	if code != 0 || len(fpr) != 40 {
		t.Fatalf("keygen: exit %d, want the fingerprint printed\n%s%s", code, out, errs)
	}
	if info, err := os.Stat(key); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file: %v %v", err, info.Mode())
	}
	if _, errs, code := runAurora(t, "release", "keygen", "-o", key); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("keygen over an existing key: exit %d %s", code, errs)
	}
	pub := filepath.Join(dir, "release-key.pub.asc")

	stage := stageDir(t)
	dist := filepath.Join(dir, "dist")
	if out, errs, code := runAurora(t, "release", "build", "--src", "../..", "--stage", stage, "--out", dist, "--epoch", testEpoch); code != 0 {
		t.Fatalf("build: exit %d\n%s%s", code, out, errs)
	}
	tarball := filepath.Join(dist, "aurora-20261207.tar.gz")
	// One TSA twice is not two independent timestamps: nothing is written.
	if _, errs, code := runAurora(t, "release", "sign", "--key", key, "--tsa", urls[0], "--tsa", urls[0], "--tsa-roots", rootsFile, tarball); code == 0 || !strings.Contains(errs, "1 distinct TSAs") {
		t.Fatalf("sign with one TSA twice: exit %d %s", code, errs)
	}
	if _, err := os.Stat(tarball + release.SignatureSuffix); err == nil {
		t.Fatal("a refused sign wrote the signature")
	}
	// The home's config names the two TSAs and their roots.
	if out, errs, code := runAurora(t, "release", "sign", "--home", home, "--key", key, tarball); code != 0 {
		t.Fatalf("sign: exit %d\n%s%s", code, out, errs)
	}
	os.Chmod(key, 0o644)
	if _, errs, code := runAurora(t, "release", "sign", "--home", home, "--key", key, tarball); code == 0 || !strings.Contains(errs, "chmod 600") {
		t.Fatalf("sign with a world-readable key: exit %d %s", code, errs)
	}
	if out, errs, code := runAurora(t, "release", "log", "--home", home, "--api", api, "--key", pub, "--wait", "30s", tarball); code != 0 {
		t.Fatalf("log: exit %d\n%s%s", code, out, errs)
	}
	// --index fetches the proof of the same leaf again.
	first, err := c2sp.ParseBundle(mustReadFile(t, tarball+release.ProofSuffix))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(tarball + release.ProofSuffix)
	if out, errs, code := runAurora(t, "release", "log", "--api", api, "--index", strconv.FormatUint(first.Index, 10), tarball); code != 0 {
		t.Fatalf("log --index: exit %d\n%s%s", code, out, errs)
	}
	again, err := c2sp.ParseBundle(mustReadFile(t, tarball+release.ProofSuffix))
	if err != nil || again.Index != first.Index || !bytes.Equal(again.Leaf, first.Leaf) {
		t.Fatalf("log --index fetched leaf %d (%v), want %d", again.Index, err, first.Index)
	}
	pol := filepath.Join(dir, "trust.policy")
	if out, errs, code := runAurora(t, "federation", "policy", "--api", api, "-o", pol); code != 0 {
		t.Fatalf("federation policy: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = runAurora(t, "release", "verify", "--key", pub, "--policy", pol, tarball)
	if code != 0 || strings.Contains(out, "DEV") || !strings.Contains(out, "signature by "+fpr) {
		t.Fatalf("release verify: exit %d\n%s%s\npolicy:\n%s", code, out, errs, mustReadFile(t, pol))
	}
	t.Logf("\n%s", out)

	// A signature by another key fails at the signature step.
	other := filepath.Join(dir, "other.asc")
	if _, errs, code := runAurora(t, "release", "keygen", "-o", other); code != 0 {
		t.Fatal(errs)
	}
	out, _, code = runAurora(t, "release", "verify", "--key", filepath.Join(dir, "other.pub.asc"), "--policy", pol, tarball)
	if code == 0 || !strings.Contains(out, "FAIL signature") || !strings.Contains(out, "ok   sha256") {
		t.Fatalf("verify with another key: exit %d\n%s", code, out)
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
