// Package c2sptest builds a real proof bundle and trust policy for tests and
// benchmarks of the offline verifier: a provenance log of job records, its
// checkpoint cosigned by a provenance witness, two dev TSAs' tokens over
// it, the bundle's text form and a trust-policy file naming them.
package c2sptest

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/treaty"
)

// Origin is the fixture log's origin.
const Origin = "aurora/testfed/12D3KooWFixtureLog"

// Fixture is a verifiable bundle and what a verifier trusts for it.
type Fixture struct {
	// Dir holds job.proof (the bundle), trust.policy (log, witness,
	// quorum, TSA roots inline) and roots.pem.
	Dir string
	// Bundle is job.proof's content; Index its leaf.
	Bundle []byte
	Index  uint64
	// LogKey and WitnessKey are C2SP verifier keys; Roots the TSA roots'
	// PEM.
	LogKey, WitnessKey string
	Roots              []byte
	// LogDID is the log operator's DID.
	LogDID treaty.DID
}

// New builds a fixture with leaves job records in the log (at least 1);
// the bundle proves the last one. The log and witness keys are fixed, the
// TSAs new in a temp dir.
func New(tb testing.TB, leaves int) *Fixture {
	tb.Helper()
	ctx := context.Background()
	key, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	wkey, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	l, err := provenance.OpenLog(ctx, dssync.MutexWrap(datastore.NewMapDatastore()), provenance.LogConfig{Origin: Origin, Key: key})
	if err != nil {
		tb.Fatal(err)
	}
	batch := make([][]byte, 0, leaves)
	for i := range leaves {
		rec := &treaty.JobRecord{V: treaty.Version, Job: fmt.Sprintf("job-%06d", i),
			Order: treaty.LinkTo(treaty.CIDOf(fmt.Appendf(nil, "order %d", i))), Ack: treaty.LinkTo(treaty.CIDOf(fmt.Appendf(nil, "ack %d", i))),
			Operator: key.DID(), Client: wkey.DID(), Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"}, Price: 1_500_000,
			Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: 1_780_000_000}, {Status: treaty.StatusRunning, At: 1_780_000_003}}}
		leaf, err := treaty.Encode(&treaty.LogEntry{Job: rec})
		if err != nil {
			tb.Fatal(err)
		}
		batch = append(batch, leaf)
	}
	if _, err := l.AppendEach(ctx, batch); err != nil {
		tb.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := provenance.NewWitness(provenance.WitnessConfig{Key: wkey, Name: "aurora-witness/fixture", Store: dssync.MutexWrap(datastore.NewMapDatastore()),
		Logs: func(string) (note.Verifier, bool) { return l.Verifier(), true }})
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := w.AddCheckpoint(ctx, provenance.CosignRequest(0, nil, cp.Note))
	if err != nil {
		tb.Fatal(err)
	}
	merged, err := provenance.MergeCosignatures(cp.Note, sig)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := l.UpdateCosigned(ctx, merged); err != nil {
		tb.Fatal(err)
	}
	f := &Fixture{Dir: tb.TempDir(), Index: uint64(leaves - 1), LogDID: key.DID(), WitnessKey: w.Verifier().VerifierKey()}
	b, err := l.Bundle(ctx, f.Index)
	if err != nil {
		tb.Fatal(err)
	}
	for _, name := range []string{"tsa-a", "tsa-b"} {
		d, err := tsa.NewDevTSA(filepath.Join(f.Dir, name), nil)
		if err != nil {
			tb.Fatal(err)
		}
		tok, err := d.Timestamp(ctx, cp.Digest())
		if err != nil {
			tb.Fatal(err)
		}
		b.TSA = append(b.TSA, tok)
		f.Roots = append(f.Roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Root().Raw})...)
	}
	if f.Bundle, err = b.Marshal(); err != nil {
		tb.Fatal(err)
	}
	if f.LogKey, err = provenance.LogVerifierKey(Origin, key.DID()); err != nil {
		tb.Fatal(err)
	}
	policy := fmt.Sprintf("log %s\nwitness w1 %s\ngroup partners any w1\nquorum partners\ntsa-roots roots.pem\ntsa-min 2\n", f.LogKey, f.WitnessKey)
	for name, data := range map[string][]byte{"job.proof": f.Bundle, "trust.policy": []byte(policy), "roots.pem": f.Roots} {
		if err := os.WriteFile(filepath.Join(f.Dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// Path returns the path of one of the fixture's files.
func (f *Fixture) Path(name string) string { return filepath.Join(f.Dir, name) }
