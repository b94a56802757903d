package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/provenance/c2sp/c2sptest"
)

func runVerify(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestAuroraVerify runs the binary's command in-process on a real bundle:
// fully verified with a trust policy or with the flags, partial without the
// TSA roots, refused when tampered with, and usage errors exit 2.
func TestAuroraVerify(t *testing.T) {
	f := c2sptest.New(t, 100)
	tampered := f.Path("tampered.proof")
	if err := os.WriteFile(tampered, bytes.Replace(f.Bundle, []byte("\n100\n"), []byte("\n101\n"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	policy, err := os.ReadFile(f.Path("trust.policy"))
	if err != nil {
		t.Fatal(err)
	}
	// The same witness listed, but "quorum none": the witness check is
	// skipped (PROVENANCE.md §9), not judged as "at least one of them".
	none := f.Path("none.policy")
	if err := os.WriteFile(none, bytes.Replace(policy, []byte("\nquorum partners\n"), []byte("\nquorum none\n"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	stripped, err := os.ReadFile(f.Path("job.proof"))
	if err != nil {
		t.Fatal(err)
	}
	// The bundle without its cosignature line: under "quorum none" it still
	// verifies everything else.
	uncosigned := f.Path("uncosigned.proof")
	var kept [][]byte
	for _, line := range bytes.Split(stripped, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("\u2014 aurora-witness/")) {
			kept = append(kept, line)
		}
	}
	if len(kept) == len(bytes.Split(stripped, []byte("\n"))) {
		t.Fatal("the fixture bundle has no witness cosignature line")
	}
	if err := os.WriteFile(uncosigned, bytes.Join(kept, []byte("\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings of stdout and stderr
	}{
		{"policy", []string{"--policy", f.Path("trust.policy"), f.Path("job.proof")}, 0, "verified: leaf 99 of " + c2sptest.Origin, ""},
		{"policy after the file", []string{f.Path("job.proof"), "--policy", f.Path("trust.policy")}, 0, "ok    tsa            2 tokens from 2 distinct TSAs", ""},
		{"flags", []string{f.Path("job.proof"), "--origin", c2sptest.Origin, "--log-key", string(f.LogDID), "--witness-key", f.WitnessKey,
			"--tsa-roots", f.Path("roots.pem")}, 0, "ok    witnesses      1 of 1 trusted witnesses cosigned (need 1)", ""},
		{"no TSA roots", []string{f.Path("job.proof"), "--origin", c2sptest.Origin, "--log-key", f.LogKey, "--witness-key", f.WitnessKey}, 1,
			"NOT fully verified", "tsa skipped"},
		{"partial ok", []string{f.Path("job.proof"), "--origin", c2sptest.Origin, "--log-key", f.LogKey, "--partial-ok"}, 0, "partially verified", ""},
		{"tampered", []string{"--policy", f.Path("trust.policy"), tampered}, 1, "", "log-signature"},
		{"quorum none", []string{"--policy", none, f.Path("job.proof")}, 1, "skip  witnesses      the policy requires no cosignature (quorum none)", "witnesses skipped"},
		{"quorum none, no cosignature", []string{"--policy", none, "--partial-ok", uncosigned}, 0, "partially verified", ""},
		{"quorum partners, no cosignature", []string{"--policy", f.Path("trust.policy"), uncosigned}, 1, "", "witnesses"},
		{"newer URL is offline only", []string{"--policy", f.Path("trust.policy"), "--newer", "http://127.0.0.1:1", f.Path("job.proof")}, 1, "", "needs the network"},
		{"no file", []string{"--policy", f.Path("trust.policy")}, 2, "", "want one bundle FILE"},
		{"two files", []string{"--policy", f.Path("trust.policy"), f.Path("job.proof"), f.Path("job.proof")}, 2, "", "got 2 arguments"},
		{"unknown flag", []string{"--polcy", "x", f.Path("job.proof")}, 2, "", "unknown flag: --polcy"},
		{"help", []string{"--help"}, 0, "", "Usage:\n  aurora-verify FILE [flags]"},
		{"missing file", []string{"--policy", f.Path("trust.policy"), f.Path("nothing.proof")}, 1, "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runVerify(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant %q on stdout and %q on stderr", code, tc.code, out, errOut, tc.out, tc.err)
			}
		})
	}
}

// BenchmarkAuroraVerify is the binary's work in-process, after the runtime
// started: parse the flags, read the policy (two inline-PEM roots), the
// roots and the bundle, and verify every check. The process start that
// hyperfine measures adds the runtime's start and the packages' init.
func BenchmarkAuroraVerify(b *testing.B) {
	f := c2sptest.New(b, 1000)
	args := []string{"--policy", f.Path("trust.policy"), f.Path("job.proof")}
	b.ReportAllocs()
	for b.Loop() {
		if code, out, errOut := runVerify(args...); code != 0 {
			b.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	}
}
