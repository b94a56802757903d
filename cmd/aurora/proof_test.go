package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/treaty"
)

const proofTestOrigin = "aurora/testfed/12D3KooWProofTest"

// proofFixture writes a bundle (one job, a checkpoint cosigned by one
// witness), a newer checkpoint and the consistency proof to it.
func proofFixture(t *testing.T) (dir string, logKey treaty.DID, witnessKey string) {
	t.Helper()
	ctx := context.Background()
	key, _ := treaty.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	wkey, _ := treaty.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	l, err := provenance.OpenLog(ctx, dssync.MutexWrap(datastore.NewMapDatastore()), provenance.LogConfig{Origin: proofTestOrigin, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	rec := &treaty.JobRecord{V: 1, Job: "job-1", Order: treaty.LinkTo(treaty.CIDOf([]byte("o"))), Ack: treaty.LinkTo(treaty.CIDOf([]byte("a"))),
		Operator: key.DID(), Client: wkey.DID(), Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"},
		Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: 1_780_000_000}}}
	leaf, err := treaty.Encode(&treaty.LogEntry{Job: rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, []byte("another leaf"), leaf, []byte("a third")); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := provenance.NewWitness(provenance.WitnessConfig{Key: wkey, Name: "aurora-witness/w1", Store: dssync.MutexWrap(datastore.NewMapDatastore()),
		Logs: func(string) (note.Verifier, bool) { return l.Verifier(), true }})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := w.AddCheckpoint(ctx, provenance.CosignRequest(0, nil, cp.Note))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := provenance.MergeCosignatures(cp.Note, sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpdateCosigned(ctx, merged); err != nil {
		t.Fatal(err)
	}
	b, err := l.Bundle(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	text, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Two dev TSAs timestamp the checkpoint: a bundle with both tokens,
	// and one with the first token twice.
	dir = t.TempDir()
	var roots []byte
	var tokens [][]byte
	for _, name := range []string{"tsa-a", "tsa-b"} {
		d, err := tsa.NewDevTSA(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := d.Timestamp(ctx, cp.Digest())
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
		roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Root().Raw})...)
	}
	b.TSA = tokens
	dual, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b.TSA = [][]byte{tokens[0], tokens[0]}
	dup, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, []byte("later")); err != nil {
		t.Fatal(err)
	}
	newer, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := l.ConsistencyProof(ctx, cp.Size, newer.Size)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"job.tlog-proof": text, "newer.checkpoint": newer.Note, "cons.proof": provenance.MarshalHashLines(cons),
		"dual.tlog-proof": dual, "dup.tlog-proof": dup, "roots.pem": roots,
		"tampered.tlog-proof": bytes.Replace(text, []byte("\n3\n"), []byte("\n4\n"), 1),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, key.DID(), "aurora-witness/w1+" + wkey.DID().String()
}

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestProofVerify(t *testing.T) {
	dir, did, wk := proofFixture(t)
	base := []string{"proof", "verify", "--log-key", did.String(), "--origin", proofTestOrigin, "--witness-key", wk, "--min-witnesses", "1"}
	full := append(append([]string(nil), base...), "--tsa-roots", filepath.Join(dir, "roots.pem"))
	code, out, errOut := runCLI(append(full, filepath.Join(dir, "dual.tlog-proof"),
		"--newer", filepath.Join(dir, "newer.checkpoint"), "--consistency", filepath.Join(dir, "cons.proof"))...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"ok    record", "ok    inclusion", "ok    log-signature", "ok    witnesses", "ok    tsa", "2 distinct TSAs",
		"ok    consistency", "verified: leaf 1", "checked: record, leaf-hash, log-signature, inclusion, witnesses, tsa, consistency"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(append(base, filepath.Join(dir, "tampered.tlog-proof"))...)
	if code == 0 || !strings.Contains(out, "FAIL  log-signature") {
		t.Fatalf("tampered bundle: exit %d\n%s", code, out)
	}
	code, _, _ = runCLI(append(full[:len(base)-1], "2", "--tsa-roots", filepath.Join(dir, "roots.pem"), filepath.Join(dir, "dual.tlog-proof"))...)
	if code == 0 {
		t.Fatal("a policy of 2 witnesses passed with 1 cosignature")
	}
}

// TestProofVerifyDistinctTSAs: the same token twice is one TSA, not two.
func TestProofVerifyDistinctTSAs(t *testing.T) {
	dir, did, wk := proofFixture(t)
	args := []string{"proof", "verify", filepath.Join(dir, "dup.tlog-proof"), "--log-key", did.String(), "--origin", proofTestOrigin,
		"--witness-key", wk, "--tsa-roots", filepath.Join(dir, "roots.pem")}
	code, out, _ := runCLI(args...)
	if code == 0 || !strings.Contains(out, "FAIL  tsa") || !strings.Contains(out, "2 valid tokens from 1 distinct TSAs") {
		t.Fatalf("duplicate token: exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI(append(args, "--min-tokens", "1")...); code != 0 {
		t.Fatalf("duplicate token with --min-tokens 1: exit %d\n%s", code, out)
	}
}

// TestProofVerifyPartial: skipping the witness or TSA check is not a
// verification unless --partial-ok says partial is acceptable.
func TestProofVerifyPartial(t *testing.T) {
	dir, did, wk := proofFixture(t)
	tests := []struct {
		name     string
		extra    []string
		wantCode int
		want     []string
	}{
		{"no TSA roots", []string{"--witness-key", wk}, 1, []string{"skip  tsa", "NOT fully verified", "NOT checked: tsa: no TSA roots given"}},
		{"no witness policy", []string{"--tsa-roots", filepath.Join(dir, "roots.pem")}, 1, []string{"skip  witnesses", "NOT fully verified", "NOT checked: witnesses"}},
		{"nothing but the log key", nil, 1, []string{"NOT checked: witnesses: no witness policy given; tsa: no TSA roots given"}},
		{"partial ok", []string{"--partial-ok"}, 0, []string{"partially verified: leaf 1", "checked: record, leaf-hash, log-signature, inclusion;"}},
		{"partial ok, all checked", []string{"--partial-ok", "--witness-key", wk, "--tsa-roots", filepath.Join(dir, "roots.pem")}, 0, []string{"\nverified: leaf 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"proof", "verify", filepath.Join(dir, "dual.tlog-proof"), "--log-key", did.String(), "--origin", proofTestOrigin}, tt.extra...)
			code, out, errOut := runCLI(args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tt.wantCode != 0 && !strings.Contains(errOut, "--partial-ok") {
				t.Errorf("error does not mention --partial-ok: %s", errOut)
			}
		})
	}
}

func TestProofGet(t *testing.T) {
	dir, _, _ := proofFixture(t)
	bundle, _ := os.ReadFile(filepath.Join(dir, "job.tlog-proof"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/jobs/job-1/proof":
			w.Write(bundle)
		case "/v1/jobs/bad/proof":
			w.Write([]byte("not a bundle"))
		default:
			http.Error(w, `{"error":{"code":"not_found","message":"no such job"}}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "p.tlog-proof")
	if code, _, errOut := runCLI("proof", "get", "job-1", "-o", out, "--api", srv.URL); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, bundle) {
		t.Fatal("written bundle differs")
	}
	if code, _, errOut := runCLI("proof", "get", "missing", "--api", srv.URL); code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("missing job: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI("proof", "get", "bad", "--api", srv.URL); code == 0 || !strings.Contains(errOut, "invalid bundle") {
		t.Fatalf("bad bundle: exit %d %s", code, errOut)
	}
}
