package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/treaty"
)

// TestLedgerSnapshot: aurora ledger snapshot on a real node with a mesh
// and two dev TSAs over HTTP writes a manifest signed by the node, naming
// its latest cosigned checkpoint and epoch root, two RFC 3161 tokens over
// the manifest's SHA-256 (checked by Go and by openssl ts -verify), and a
// proof of the snapshot leaf that aurora proof verify accepts; the
// manifest is pinned; the endpoint takes the operator token only, no body,
// and answers 503 before any epoch closed.
func TestLedgerSnapshot(t *testing.T) {
	dir := t.TempDir()
	urls, roots, rootsFile := httpDevTSAs(t, dir)
	home := filepath.Join(dir, "n1")
	cfg := node.DefaultConfig()
	cfg.Backup.Interval = 0
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.MDNS = false
	cfg.Provenance.Epoch = node.Duration(200 * time.Millisecond)
	cfg.Provenance.TSA = urls
	cfg.Provenance.TSARoots = rootsFile
	id, err := node.InitHome(home, cfg, false, nil)
	if err != nil {
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
	tok, err := node.LoadToken(home)
	if err != nil {
		t.Fatal(err)
	}
	op := client.New(api, string(tok))

	// An idle log has closed no epoch: nothing to snapshot yet.
	var ae *client.APIError
	if _, err := op.Snapshot(t.Context()); !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != "no_epoch" {
		t.Fatalf("before any epoch: %v", err)
	}
	// A leaf, so that an epoch closes.
	rel, _ := json.Marshal(node.ReleaseRequest{Name: "aurora-20261207.tar.gz", SHA256: strings.Repeat("ab", 32), Signer: strings.Repeat("cd", 20),
		TokensSHA256: []string{strings.Repeat("01", 32)}})
	if err := op.Do(t.Context(), "POST", "/v1/releases", "application/json", rel, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := n.Epochs().Latest(t.Context())
		if err == nil && st.Pinned {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pinned epoch: epoch %d pinned %v, %v", st.Epoch, st.Pinned, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct {
		name  string
		c     *client.Client
		body  []byte
		code  int
		field string
	}{
		{"no token", client.New(api, ""), nil, http.StatusUnauthorized, ""},
		{"wrong token", client.New(api, "nope"), nil, http.StatusForbidden, ""},
		{"a body", op, []byte("{}"), http.StatusBadRequest, "body"},
	} {
		err := tc.c.Do(t.Context(), "POST", "/v1/ledger/snapshot", "application/json", tc.body, nil)
		if !errors.As(err, &ae) || ae.Status != tc.code || ae.Field != tc.field {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.code)
		}
	}

	out := filepath.Join(dir, "snap")
	stdout, stderr, code := runAurora(t, "ledger", "snapshot", "--home", home, "--api", api, "-o", out, "--wait-proof", "20s")
	if code != 0 || !strings.Contains(stdout, "2 TSA tokens, pinned true") {
		t.Fatalf("ledger snapshot: exit %d\n%s%s", code, stdout, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "manifest.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	var m treaty.SnapshotManifest
	if err := treaty.Decode(data, &m); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.Operator != id.DID {
		t.Fatalf("manifest by %s, the node is %s", m.Operator, id.DID)
	}
	if err := treaty.Verify(&m); err != nil {
		t.Fatalf("the manifest's signature: %v", err)
	}
	cp, err := provenance.OpenCheckpoint(m.Checkpoint, m.Origin, n.Log().Verifier())
	if err != nil || int64(cp.Size) != m.Size || m.EpochRoot == "" || m.Epoch < 1 {
		t.Fatalf("manifest checkpoint %+v (%v): size %d, epoch %d root %q", cp, err, m.Size, m.Epoch, m.EpochRoot)
	}
	digest := sha256.Sum256(data)
	pool, err := tsa.CertPoolFromPEM(roots)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tsa-1.tsr", "tsa-2.tsr"} {
		token, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (tsa.Verifier{Opts: tsa.VerifyOptions{Roots: pool}}).VerifyToken(token, digest); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := exec.LookPath("openssl"); err == nil {
			cmd := exec.Command("openssl", "ts", "-verify", "-digest", hex.EncodeToString(digest[:]), "-in", filepath.Join(out, f), "-CAfile", rootsFile)
			if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "Verification: OK") {
				t.Fatalf("openssl ts -verify %s: %v\n%s", f, err, b)
			}
		}
	}
	var s client.Snapshot
	js, _ := os.ReadFile(filepath.Join(out, "snapshot.json"))
	if err := json.Unmarshal(js, &s); err != nil || !s.Pinned {
		t.Fatalf("snapshot.json %s: %v", js, err)
	}
	stdout, stderr, code = runAurora(t, "proof", "verify", filepath.Join(out, "snapshot.proof"), "--origin", m.Origin, "--log-key", string(id.DID),
		"--tsa-roots", rootsFile, "--partial-ok")
	if code != 0 || !strings.Contains(stdout, "ledger snapshot "+s.CID) {
		t.Fatalf("proof verify: exit %d\n%s%s", code, stdout, stderr)
	}
	// The proof of a leaf that is not a snapshot is refused.
	if _, err := op.SnapshotProof(t.Context(), 0); !errors.As(err, &ae) || ae.Code != "not_a_snapshot" {
		t.Fatalf("leaf 0 (the release): %v", err)
	}
}

// httpDevTSAs serves two dev TSAs with distinct keys over HTTP until the
// test ends; it returns their URLs, their roots' PEM and a file in dir
// holding it (what [provenance] tsa and tsa_roots take).
func httpDevTSAs(t *testing.T, dir string) (urls []string, roots []byte, rootsFile string) {
	t.Helper()
	for _, n := range []string{"a", "b"} {
		d, err := tsa.NewDevTSA(filepath.Join(dir, "tsa-"+n), nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(d.Handler())
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
		roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Root().Raw})...)
	}
	rootsFile = filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(rootsFile, roots, 0o644); err != nil {
		t.Fatal(err)
	}
	return urls, roots, rootsFile
}
