package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// writePolicy writes a trust policy for the proof fixture.
func writePolicy(t *testing.T, dir string, did treaty.DID, witnessKey, quorum, extra string) string {
	t.Helper()
	lk, err := provenance.LogVerifierKey(proofTestOrigin, did)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := provenance.ParseWitnessKey(witnessKey)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("# test policy\nlog %s\nwitness w1 %s\n%s\nquorum %s\ntsa-roots roots.pem\ntsa-min 2\n", lk, wv.VerifierKey(), extra, quorum)
	path := filepath.Join(dir, "trust.policy")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProofVerifyPolicy: one trust-policy file replaces --origin,
// --log-key, --witness-key, --min-witnesses and --tsa-roots.
func TestProofVerifyPolicy(t *testing.T) {
	dir, did, wk := proofFixture(t)
	pol := writePolicy(t, dir, did, wk, "w1", "")
	code, out, errOut := runCLI("proof", "verify", "--policy", pol, filepath.Join(dir, "dual.tlog-proof"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"ok    witnesses", "quorum \"w1\"", "ok    tsa", "2 distinct TSAs", "verified: leaf 1 of " + proofTestOrigin} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A quorum of two witnesses, one of which never cosigned, fails.
	other, _ := treaty.NewKeyFromSeed([]byte(strings.Repeat("o", 32)))
	ov, _ := provenance.WitnessVerifier("aurora-witness/w2", other.DID())
	pol2 := writePolicy(t, dir, did, wk, "both", "witness w2 "+ov.VerifierKey()+"\ngroup both all w1 w2")
	if code, out, _ := runCLI("proof", "verify", "--policy", pol2, filepath.Join(dir, "dual.tlog-proof")); code == 0 || !strings.Contains(out, "FAIL  witnesses") {
		t.Fatalf("quorum of 2 with 1 cosignature: exit %d\n%s", code, out)
	}
	// "any" of them passes.
	pol3 := writePolicy(t, dir, did, wk, "either", "witness w2 "+ov.VerifierKey()+"\ngroup either any w1 w2")
	if code, out, _ := runCLI("proof", "verify", "--policy", pol3, filepath.Join(dir, "dual.tlog-proof")); code != 0 {
		t.Fatalf("quorum any: exit %d\n%s", code, out)
	}
	// The dual-TSA minimum comes from the policy.
	if code, out, _ := runCLI("proof", "verify", "--policy", pol, filepath.Join(dir, "dup.tlog-proof")); code == 0 || !strings.Contains(out, "FAIL  tsa") {
		t.Fatalf("one TSA twice: exit %d\n%s", code, out)
	}
	// Flags that the policy replaces cannot be mixed with it.
	if code, _, errOut := runCLI("proof", "verify", "--policy", pol, "--witness-key", wk, filepath.Join(dir, "dual.tlog-proof")); code == 0 || !strings.Contains(errOut, "--policy") {
		t.Fatalf("--policy with --witness-key: exit %d %s", code, errOut)
	}
	// A policy for another log does not verify this one.
	lk, _ := provenance.LogVerifierKey("aurora/testfed/12D3KooWOther", did)
	os.WriteFile(filepath.Join(dir, "other.policy"), []byte("log "+lk+"\nquorum none\n"), 0o600)
	if code, _, errOut := runCLI("proof", "verify", "--policy", filepath.Join(dir, "other.policy"), filepath.Join(dir, "dual.tlog-proof")); code == 0 || !strings.Contains(errOut, "lists no log") {
		t.Fatalf("other log's policy: exit %d %s", code, errOut)
	}
	// A bad policy names its line.
	os.WriteFile(filepath.Join(dir, "bad.policy"), []byte("quorum none\nwitnes x y\n"), 0o600)
	if code, _, errOut := runCLI("proof", "verify", "--policy", filepath.Join(dir, "bad.policy"), filepath.Join(dir, "dual.tlog-proof")); code == 0 || !strings.Contains(errOut, "line 2") {
		t.Fatalf("bad policy: exit %d %s", code, errOut)
	}
	// Without --policy the flags are still required.
	if code, _, errOut := runCLI("proof", "verify", filepath.Join(dir, "dual.tlog-proof")); code == 0 || !strings.Contains(errOut, "--policy") {
		t.Fatalf("no trust at all: exit %d %s", code, errOut)
	}
}
