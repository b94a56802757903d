package c2sp_test

import (
	"testing"

	"github.com/aurora-federation/aurora/provenance/c2sp"
	"github.com/aurora-federation/aurora/provenance/c2sp/c2sptest"
	"github.com/aurora-federation/aurora/provenance/rfc3161"
	"github.com/aurora-federation/aurora/provenance/trust"
)

// fixtureOptions are what a verifier of the fixture trusts, as
// aurora-verify --policy builds them.
func fixtureOptions(tb testing.TB, f *c2sptest.Fixture) c2sp.VerifyOptions {
	tb.Helper()
	logV, err := c2sp.ParseLogKey(f.LogKey)
	if err != nil {
		tb.Fatal(err)
	}
	pol, err := trust.Parse([]byte("log " + f.LogKey + "\nwitness w1 " + f.WitnessKey + "\ngroup partners any w1\nquorum partners\n"))
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := rfc3161.CertPoolFromPEM(f.Roots)
	if err != nil {
		tb.Fatal(err)
	}
	return c2sp.VerifyOptions{Origin: c2sptest.Origin, LogKey: logV, WitnessKeys: pol.WitnessKeys(), Quorum: pol.Quorum(),
		TSAVerifier: rfc3161.Verifier{Opts: rfc3161.VerifyOptions{Roots: pool}}}
}

// TestVerifyFixture: the benchmark's bundle verifies completely (every
// check but the optional consistency ran and passed), and a flipped byte in
// its proof fails the inclusion check.
func TestVerifyFixture(t *testing.T) {
	f := c2sptest.New(t, 1000)
	opts := fixtureOptions(t, f)
	b, err := c2sp.ParseBundle(f.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c2sp.VerifyBundle(b, opts)
	if err != nil || !r.Complete() {
		t.Fatalf("verify: %v, complete %v: %+v", err, r.Complete(), r.Verdicts)
	}
	b.Proof[0][0] ^= 1
	if _, err := c2sp.VerifyBundle(b, opts); err == nil {
		t.Fatal("a tampered proof verified")
	} else if ve, ok := err.(*c2sp.VerifyError); !ok || ve.Check != c2sp.LinkInclusion {
		t.Fatalf("tampered proof: %v, want an inclusion failure", err)
	}
}

// BenchmarkVerifyBundle is in-process verification of one bundle from a
// 1000-leaf log: parse the bundle, then every check (record, leaf hash, log
// signature, 10-hash inclusion proof, a witness cosignature under a quorum,
// two RFC 3161 tokens with their chains). The budget is 1 ms an op.
func BenchmarkVerifyBundle(b *testing.B) {
	f := c2sptest.New(b, 1000)
	opts := fixtureOptions(b, f)
	b.ReportAllocs()
	for b.Loop() {
		bundle, err := c2sp.ParseBundle(f.Bundle)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c2sp.VerifyBundle(bundle, opts); err != nil {
			b.Fatal(err)
		}
	}
}
