package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/cmd/internal/verifycmd"
	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// newerFixture is a log whose checkpoint at size 3 is in a bundle
// (cosigned by witness w1), and what a node serving that log, or a forked
// or rolled-back copy of it, answers at /v1/checkpoints/latest,
// /v1/log/consistency and /v1/epochs.
type newerFixture struct {
	key, wkey  *treaty.PrivateKey
	uncosigned []byte // the latest checkpoint before w1 cosigned it
	bundle     string // path of the bundle file
	witness    *provenance.Witness
	log        *provenance.Log

	mu       sync.Mutex // protects following
	latest   []byte     // the note /v1/checkpoints/latest serves
	serving  *provenance.Log
	tamper   bool
	body     []byte // if set, /v1/log/consistency answers this instead
	epochs   []node.EpochView
	requests []string
}

func newLog(t *testing.T, key *treaty.PrivateKey, leaves ...string) *provenance.Log {
	t.Helper()
	l, err := provenance.OpenLog(t.Context(), dssync.MutexWrap(datastore.NewMapDatastore()), provenance.LogConfig{Origin: proofTestOrigin, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, lf := range leaves {
		if _, err := l.Append(t.Context(), []byte(lf)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// cosign has w1 cosign l's latest checkpoint (from old, the size w1 saw
// last), stores the cosigned note and returns it and the note before.
func (f *newerFixture) cosign(t *testing.T, l *provenance.Log, old uint64) (merged, bare []byte) {
	t.Helper()
	ctx := t.Context()
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := l.ConsistencyProof(ctx, old, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := f.witness.AddCheckpoint(ctx, provenance.CosignRequest(old, cons, cp.Note))
	if err != nil {
		t.Fatal(err)
	}
	merged, err = provenance.MergeCosignatures(cp.Note, sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpdateCosigned(ctx, merged); err != nil {
		t.Fatal(err)
	}
	return merged, cp.Note
}

func newNewerFixture(t *testing.T) (*newerFixture, *httptest.Server) {
	t.Helper()
	ctx := t.Context()
	key, _ := treaty.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	wkey, _ := treaty.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	f := &newerFixture{key: key, wkey: wkey}
	rec := &treaty.JobRecord{V: 1, Job: "job-1", Order: treaty.LinkTo(treaty.CIDOf([]byte("o"))), Ack: treaty.LinkTo(treaty.CIDOf([]byte("a"))),
		Operator: key.DID(), Client: wkey.DID(), Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"},
		Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: 1_780_000_000}}}
	leaf, err := treaty.Encode(&treaty.LogEntry{Job: rec})
	if err != nil {
		t.Fatal(err)
	}
	f.log = newLog(t, key, "first")
	if _, err := f.log.Append(ctx, leaf, []byte("third")); err != nil {
		t.Fatal(err)
	}
	f.witness, err = provenance.NewWitness(provenance.WitnessConfig{Key: wkey, Name: "aurora-witness/w1", Store: dssync.MutexWrap(datastore.NewMapDatastore()),
		Logs: func(string) (note.Verifier, bool) { return f.log.Verifier(), true }})
	if err != nil {
		t.Fatal(err)
	}
	f.cosign(t, f.log, 0)
	b, err := f.log.Bundle(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	text, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.bundle = filepath.Join(t.TempDir(), "job.tlog-proof")
	if err := os.WriteFile(f.bundle, text, 0o600); err != nil {
		t.Fatal(err)
	}
	// The log grows and w1 cosigns it again.
	if _, err := f.log.Append(ctx, []byte("fourth"), []byte("fifth")); err != nil {
		t.Fatal(err)
	}
	f.latest, f.uncosigned = f.cosign(t, f.log, 3)
	f.serving = f.log

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, r.URL.RequestURI())
		switch r.URL.Path {
		case "/v1/checkpoints/latest":
			w.Write(f.latest)
		case "/v1/epochs":
			json.NewEncoder(w).Encode(map[string]any{"epochs": f.epochs})
		case "/v1/log/consistency":
			if f.body != nil {
				w.Write(f.body)
				return
			}
			first, _ := strconv.ParseUint(r.URL.Query().Get("first"), 10, 64)
			second, _ := strconv.ParseUint(r.URL.Query().Get("second"), 10, 64)
			p, err := f.serving.ConsistencyProof(r.Context(), first, second)
			if err != nil {
				http.Error(w, `{"error":{"code":"bad_query","message":"`+err.Error()+`","field":"second"}}`, http.StatusBadRequest)
				return
			}
			if f.tamper && len(p) > 0 {
				p[0] = bytes.Clone(p[0])
				p[0][5] ^= 1
			}
			json.NewEncoder(w).Encode(node.ConsistencyView{First: first, Second: second, Proof: p})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *newerFixture) set(latest []byte, serving *provenance.Log, tamper bool, epochs ...node.EpochView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latest, f.serving, f.tamper, f.epochs, f.requests, f.body = latest, serving, tamper, epochs, nil, nil
}

// TestProofVerifyNewerURL: --newer URL fetches the node's latest
// checkpoint and the consistency proof to it, checks the checkpoint's
// signature and cosignatures, and the proof; a tampered proof, a
// rolled-back log (a smaller checkpoint), a fork (an inconsistent bigger
// tree, or another tree of the same size) all fail the consistency check.
func TestProofVerifyNewerURL(t *testing.T) {
	f, srv := newNewerFixture(t)
	wk := "aurora-witness/w1+" + f.wkey.DID().String()
	verify := func(extra ...string) (int, string, string) {
		args := append([]string{"proof", "verify", f.bundle, "--origin", proofTestOrigin, "--log-key", f.key.DID().String(),
			"--witness-key", wk, "--partial-ok", "--newer", srv.URL}, extra...)
		return runCLI(args...)
	}
	honest := f.latest

	code, out, errOut := verify()
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"fetch  the latest checkpoint: size 5, and the consistency proof from 3 (",
		"ok    consistency    size 3 is consistent with size 5, whose checkpoint 1 of 1 trusted witnesses cosigned (need 1): aurora-witness/w1@",
		"partially verified: leaf 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := strings.Join(f.requests, " "); got != "/v1/checkpoints/latest /v1/log/consistency?first=3&second=5" {
		t.Errorf("requests %s", got)
	}

	fail := func(name, want string) {
		t.Helper()
		code, out, errOut := verify()
		if code == 0 || !strings.Contains(out, "FAIL  consistency") || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, want FAIL consistency with %q\n%s%s", name, code, want, out, errOut)
		}
	}
	f.set(honest, f.log, true)
	fail("tampered proof", "consistency proof from size 3 to 5")

	rolledBack := newLog(t, f.key, "first", "second")
	rb, err := rolledBack.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.set(rb.Note, rolledBack, false)
	fail("rolled back", "newer checkpoint has size 2, smaller than 3: the log rolled back")
	if strings.Contains(strings.Join(f.requests, " "), "consistency") {
		t.Errorf("a proof was asked of a smaller checkpoint: %v", f.requests)
	}

	fork := newLog(t, f.key, "first", "not the job", "third", "4", "5", "6")
	fk, err := fork.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.set(fk.Note, fork, false)
	fail("fork", "equivocated: checkpoint at size 3 is inconsistent with checkpoint at size 6")

	sameSize := newLog(t, f.key, "first", "not the job", "third")
	ss, err := sameSize.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.set(ss.Note, sameSize, false)
	fail("fork at the same size", "two different roots at size 3")

	// The latest checkpoint is not cosigned yet: the newest epoch
	// checkpoint that is serves instead; with none, the policy fails.
	uncosigned := f.uncosigned
	f.set(uncosigned, f.log, false, node.EpochView{Epoch: 8, Checkpoint: string(uncosigned)}, node.EpochView{Epoch: 7, Checkpoint: string(honest)})
	if code, out, errOut := verify(); code != 0 || !strings.Contains(out, "fetch  epoch 7's checkpoint (the latest: ") || !strings.Contains(out, "ok    consistency") {
		t.Errorf("uncosigned latest, cosigned epoch 7: exit %d\n%s%s", code, out, errOut)
	}
	f.set(uncosigned, f.log, false)
	fail("no cosigned checkpoint", "newer checkpoint (size 5): 0 trusted cosignatures, policy requires 1")
	// Without a witness policy the latest is taken as it is.
	if code, out, errOut := runCLI("proof", "verify", f.bundle, "--origin", proofTestOrigin, "--log-key", f.key.DID().String(), "--partial-ok", "--newer", srv.URL); code != 0 ||
		!strings.Contains(out, "ok    consistency    size 3 is consistent with size 5\n") {
		t.Errorf("no witness policy: exit %d\n%s%s", code, out, errOut)
	}

	otherCP, _ := provenance.OpenLog(t.Context(), dssync.MutexWrap(datastore.NewMapDatastore()), provenance.LogConfig{Origin: "aurora/testfed/12D3KooWOther", Key: f.key})
	ocp, err := otherCP.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.set(ocp.Note, otherCP, false)
	if code, _, errOut := verify(); code == 0 || !strings.Contains(errOut, `serves the log "aurora/testfed/12D3KooWOther"`) {
		t.Errorf("another log: exit %d %s", code, errOut)
	}

	// What the node answers is bounded: the proof's hashes, its body, the
	// checkpoint, each at and beyond its limit.
	hashes := func(n int) []byte {
		p := make([][]byte, n)
		for i := range p {
			p[i] = make([]byte, 32)
		}
		b, _ := json.Marshal(node.ConsistencyView{First: 3, Second: 5, Proof: p})
		return b
	}
	padded := func(b []byte, size int) []byte { return append(b, bytes.Repeat([]byte(" "), size-len(b))...) }
	for _, tc := range []struct {
		name   string
		body   []byte
		latest []byte
		want   string // in stderr; "" for a proof that is read and fails to verify
	}{
		{name: "63 hashes", body: hashes(provenance.MaxProofHashes)},
		{name: "64 hashes", body: hashes(provenance.MaxProofHashes + 1), want: "with 64 hashes"},
		{name: "a body at 16 KiB", body: padded(hashes(2), 16<<10)},
		{name: "a body over 16 KiB", body: padded(hashes(2), 16<<10+1), want: "larger than 16384 bytes"},
		{name: "another pair of sizes", body: []byte(`{"first":2,"second":5,"proof":[]}`), want: "a proof from 2 to 5"},
		{name: "an unknown field", body: []byte(`{"first":3,"second":5,"proof":[],"x":1}`), want: "unknown field"},
		{name: "a checkpoint over the note limit", latest: padded(bytes.Clone(honest), provenance.MaxNoteSize+1), want: "larger than"},
	} {
		latest := honest
		if tc.latest != nil {
			latest = tc.latest
		}
		f.set(latest, f.log, false)
		f.body = tc.body
		code, out, errOut := verify()
		switch {
		case tc.want == "" && (code == 0 || !strings.Contains(out, "FAIL  consistency")):
			t.Errorf("%s: exit %d, want FAIL consistency\n%s%s", tc.name, code, out, errOut)
		case tc.want != "" && (code == 0 || !strings.Contains(errOut, tc.want)):
			t.Errorf("%s: exit %d, want an error with %q\n%s%s", tc.name, code, tc.want, out, errOut)
		}
	}
	f.set(honest, f.log, false)

	if code, _, errOut := verify("--consistency", f.bundle); code == 0 || !strings.Contains(errOut, "drop --consistency") {
		t.Errorf("--newer URL with --consistency: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI("proof", "verify", f.bundle, "--origin", proofTestOrigin, "--log-key", f.key.DID().String(), "--newer", "http://127.0.0.1:1"); code == 0 ||
		!strings.Contains(errOut, "--newer http://127.0.0.1:1") {
		t.Errorf("unreachable node: exit %d %s", code, errOut)
	}
	// aurora-verify is offline.
	offline := verifycmd.New("aurora-verify FILE")
	offline.SetArgs([]string{f.bundle, "--origin", proofTestOrigin, "--log-key", f.key.DID().String(), "--newer", srv.URL})
	offline.SetOut(&bytes.Buffer{})
	offline.SetErr(&bytes.Buffer{})
	if err := offline.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "offline") {
		t.Errorf("aurora-verify --newer URL: %v", err)
	}
}

// TestProofVerifyNewerFromNode: against a real node, --newer URL checks
// that a bundle's checkpoint is in the node's latest tree; the same node
// restored from an older backup (same key, a rolled-back log) fails the
// check for a bundle it signed after that backup, and passes it for one
// from before.
func TestProofVerifyNewerFromNode(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.Backup.Interval = 0
	cfg.P2P.Listen = []string{}
	cfg.Provenance.Epoch = node.Duration(150 * time.Millisecond)
	cfg.Store = node.StoreConfig{ReserveBytes: 64 << 20, CheckInterval: node.Duration(time.Second)}
	dir := t.TempDir()
	home := filepath.Join(dir, "n1")
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	start := func(home string) *node.Node {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, APIListener: ln})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close(context.Background()) })
		return n
	}
	n1 := start(home)
	api := "http://" + n1.APIAddr()
	origin := "aurora/testnet/" + n1.Identity().PeerID.String()
	did := n1.Identity().DID.String()
	k, _ := treaty.GenerateKey(nil)
	// order submits an order and returns its proof bundle's path, once the
	// job's epoch has closed.
	order := func(name string) string {
		t.Helper()
		o, err := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r, err := client.New(api, "").Submit(t.Context(), o)
		if err != nil || r.Result != "ack" {
			t.Fatalf("submit: %v %+v", err, r)
		}
		path := filepath.Join(dir, name)
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, _, errOut := runCLI("proof", "get", r.Job, "-o", path, "--api", api)
			if code == 0 {
				return path
			}
			if time.Now().After(deadline) {
				t.Fatalf("no proof of %s: %s", r.Job, errOut)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	verify := func(bundle, api string) (int, string) {
		t.Helper()
		code, out, errOut := runCLI("proof", "verify", bundle, "--origin", origin, "--log-key", did, "--partial-ok", "--newer", api)
		return code, out + errOut
	}
	before := order("before.proof")
	if out, errs, code := runAurora(t, "ledger", "backup", "--home", home, "--api", api, "-o", filepath.Join(dir, "b.bak")); code != 0 {
		t.Fatalf("backup: %s %s", out, errs)
	}
	after := order("after.proof")
	for _, b := range []string{before, after} {
		if code, out := verify(b, api); code != 0 || !strings.Contains(out, "fetch  the latest checkpoint: size") || !regexp.MustCompile(`ok    consistency    size \d+ is consistent with size \d+\n`).MatchString(out) {
			t.Fatalf("%s against the live node: exit %d\n%s", b, code, out)
		}
	}
	n1.Close(context.Background())

	// The same node (its key) restored from the backup taken in between.
	home2 := filepath.Join(dir, "n2")
	if _, err := node.InitHome(home2, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{node.KeyFile, node.TokenFile} {
		b, err := os.ReadFile(filepath.Join(home, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home2, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, errs, code := runAurora(t, "ledger", "restore", "--home", home2, filepath.Join(dir, "b.bak")); code != 0 {
		t.Fatalf("restore: %s %s", out, errs)
	}
	n2 := start(home2)
	api = "http://" + n2.APIAddr()
	if code, out := verify(after, api); code == 0 || !strings.Contains(out, "FAIL  consistency") {
		t.Fatalf("a bundle newer than the rolled-back node's log: exit %d\n%s", code, out)
	} else {
		t.Logf("rolled-back node: %s", out[strings.Index(out, "FAIL  consistency"):])
	}
	if code, out := verify(before, api); code != 0 {
		t.Fatalf("a bundle from before the backup, against the restored node: exit %d\n%s", code, out)
	}
}
