package main

import (
	"bytes"
	"context"
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
	dir = t.TempDir()
	for name, data := range map[string][]byte{
		"job.tlog-proof": text, "newer.checkpoint": newer.Note, "cons.proof": provenance.MarshalHashLines(cons),
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
	code, out, errOut := runCLI(append(base, filepath.Join(dir, "job.tlog-proof"),
		"--newer", filepath.Join(dir, "newer.checkpoint"), "--consistency", filepath.Join(dir, "cons.proof"))...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"ok    record", "ok    inclusion", "ok    log-signature", "ok    witnesses", "skip  tsa", "ok    consistency", "verified: leaf 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(append(base, filepath.Join(dir, "tampered.tlog-proof"))...)
	if code == 0 || !strings.Contains(out, "FAIL  log-signature") {
		t.Fatalf("tampered bundle: exit %d\n%s", code, out)
	}
	code, _, _ = runCLI(append(base[:len(base)-1], "2", filepath.Join(dir, "job.tlog-proof"))...)
	if code == 0 {
		t.Fatal("a policy of 2 witnesses passed with 1 cosignature")
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
