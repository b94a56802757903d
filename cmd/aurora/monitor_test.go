package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance/trust"
	"github.com/aurora-federation/aurora/treaty"
)

// TestFederationPolicyAndMonitor: `aurora federation policy` writes a
// policy from a running node's GET /v1/trust, `aurora monitor` follows the
// node's log through it over tiles, and `aurora proof verify --policy`
// verifies a job's bundle with it.
func TestFederationPolicyAndMonitor(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n1")
	cfg := node.DefaultConfig()
	cfg.Backup.Interval = 0
	cfg.P2P.Listen = []string{}
	cfg.Provenance.Epoch = node.Duration(200 * time.Millisecond)
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
	k, _ := treaty.GenerateKey(nil)
	c := client.New(api, "")
	o, err := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Submit(t.Context(), o)
	if err != nil || r.Result != "ack" {
		t.Fatalf("submit: %v %+v", err, r)
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "job.tlog-proof")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, code := runAurora(t, "proof", "get", r.Job, "--api", api, "-o", bundle); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no proof bundle")
		}
		time.Sleep(50 * time.Millisecond)
	}

	pol := filepath.Join(dir, "trust.policy")
	if out, errs, code := runAurora(t, "federation", "policy", "--api", api, "-o", pol); code != 0 {
		t.Fatalf("federation policy: exit %d\n%s%s", code, out, errs)
	}
	text, _ := os.ReadFile(pol)
	p, err := trust.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	origin := "aurora/" + cfg.Federation + "/" + n.Identity().PeerID.String()
	if l, ok := p.Log(origin); !ok || l.URL != api+node.TilesPrefix || p.QuorumName != trust.None {
		t.Fatalf("policy:\n%s", text)
	}

	out, errs, code := runAurora(t, "monitor", "--policy", pol, "-v")
	if code != 0 || !strings.Contains(out, "ok       "+origin) || !strings.Contains(out, r.Job) {
		t.Fatalf("monitor: exit %d\n%s%s", code, out, errs)
	}
	// With --state the next run resumes from the checkpoint it verified.
	state := filepath.Join(dir, "state")
	if out, errs, code := runAurora(t, "monitor", "--policy", pol, "--state", state); code != 0 {
		t.Fatalf("monitor --state: exit %d\n%s%s", code, out, errs)
	}
	if out, errs, code := runAurora(t, "monitor", "--policy", pol, "--state", state); code != 0 {
		t.Fatalf("resumed monitor: exit %d\n%s%s", code, out, errs)
	}
	entries, _ := os.ReadDir(state)
	if len(entries) != 1 {
		t.Fatalf("state holds %d files, want the one log's checkpoint", len(entries))
	}
	// A saved checkpoint that is not the log's is refused.
	os.WriteFile(filepath.Join(state, entries[0].Name()), []byte("garbage"), 0o600)
	if _, errs, code := runAurora(t, "monitor", "--policy", pol, "--state", state); code == 0 || !strings.Contains(errs, "--state") {
		t.Fatalf("corrupt state: exit %d %s", code, errs)
	}
	// The standalone node has no witnesses and no TSAs: the verifier says
	// the verification is partial, and passes with --partial-ok.
	out, _, code = runAurora(t, "proof", "verify", "--policy", pol, "--partial-ok", bundle)
	if code != 0 || !strings.Contains(out, "partially verified: leaf") {
		t.Fatalf("proof verify --policy: exit %d\n%s", code, out)
	}

	// Monitor as a daemon: metrics served, stopped by the context.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	mln, _ := net.Listen("tcp", "127.0.0.1:0")
	maddr := mln.Addr().String()
	mln.Close()
	done := make(chan int, 1)
	go func() {
		root := newRootCmd(strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
		root.SetArgs([]string{"monitor", "--policy", pol, "--follow", "--interval", "100ms", "--metrics", maddr})
		if err := root.ExecuteContext(ctx); err != nil {
			done <- 1
			return
		}
		done <- 0
	}()
	var body string
	for time.Now().Before(deadline) && !strings.Contains(body, "aurora_monitor_tree_size") {
		if resp, err := http.Get("http://" + maddr + "/metrics"); err == nil {
			b := new(strings.Builder)
			_, _ = io.Copy(b, resp.Body)
			resp.Body.Close()
			body = b.String()
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(body, `aurora_monitor_tree_size{log="`+origin+`"}`) {
		t.Fatalf("metrics:\n%s", body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("monitor --follow exit %d", code)
	}
}
