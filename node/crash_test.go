package node_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/providers/vastai/vastaitest"
	"github.com/aurora-federation/aurora/treaty"
)

const crashChildEnv = "AURORA_CRASH_CHILD_HOME"

// runCrashChild is the child half of TestKill9UnderLoad: a node on the home
// the parent prepared, until it is killed.
func runCrashChild(home string) {
	cfg, err := node.LoadConfig(home, nil)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	n, err := node.New(context.Background(), node.Options{Home: home, Config: cfg, PolicyCacheDir: os.Getenv("AURORA_POLICY_CACHE")})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	fmt.Println("READY", n.APIAddr())
	select {}
}

// TestKill9UnderLoad kills a node process with SIGKILL while clients submit
// orders, restarts it, and checks: every order that got an Ack is in the
// ledger with its leaf; the new checkpoint is consistent with the last one
// signed before the crash; no workload was launched twice.
func TestKill9UnderLoad(t *testing.T) {
	vast := vastaitest.NewServer(vastaitest.Options{})
	vastURL := vast.Start()
	defer vast.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the fake's instances boot one step per tick
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				vast.Advance()
			}
		}
	}()

	home := t.TempDir()
	cred := filepath.Join(t.TempDir(), "vast.key")
	os.WriteFile(cred, []byte(vastaitest.DefaultAPIKey), 0o600)
	cfg := newConfig()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.MDNS = false
	cfg.Providers = []node.ProviderConfig{
		{Kind: "vastai", Name: "vastai", BaseURL: vastURL, CredentialFile: cred, Options: map[string]string{"pace": "-1"}},
		{Kind: "sim", Name: "sim-any", Options: map[string]string{"seed": "3", "price": "3000000"}},
	}
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), crashChildEnv+"="+home, "AURORA_POLICY_CACHE="+policyCache)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		t.Fatalf("child: %q %v", line, err)
	}
	api := client.New("http://"+strings.TrimSpace(strings.TrimPrefix(line, "READY ")), "")

	// Load: 8 clients submitting until the kill; remember every Ack.
	var (
		mu       sync.Mutex
		acked    []string
		ackedBy  = map[string]*treaty.Order{}
		ackCID   = map[string]string{}
		inflight []*treaty.Order // submitted, no answer when the node died
		lastCP   []byte
	)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _ := treaty.GenerateKey(nil)
			gpu := []string{"RTX 4090:1", "A100:1"}[c%2]
			for ctx.Err() == nil {
				o, err := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: gpu, MaxPrice: "5/h"}, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				r, err := api.Submit(ctx, o)
				mu.Lock()
				switch {
				case err == nil && r.Result == "ack":
					acked = append(acked, r.Job)
					ackedBy[r.Job], ackCID[r.Job] = o, r.CID
				case err != nil && ctx.Err() == nil && (!errors.As(err, new(*client.APIError)) || client.IsStatus(err, 503)):
					inflight = append(inflight, o) // the connection died with the order in it, or it was not admitted
				}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() { // the last checkpoint signed before the crash
		defer wg.Done()
		for ctx.Err() == nil {
			if cp, err := api.Raw(ctx, http.MethodGet, "/v1/checkpoints/latest", "", nil); err == nil {
				mu.Lock()
				lastCP = cp
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n, haveCP := len(acked), lastCP != nil
		mu.Unlock()
		if n >= 300 && haveCP {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d acks (checkpoint: %v) before the deadline", n, haveCP)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	cancel()
	wg.Wait()
	mu.Lock()
	jobs, before := append([]string(nil), acked...), lastCP
	mu.Unlock()

	// Restart on the same home.
	n, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, PolicyCacheDir: policyCache, APIListener: mustListen(t)})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer n.Close(context.Background())
	for _, id := range jobs {
		j, err := n.Ledger().Job(t.Context(), id)
		if err != nil {
			t.Fatalf("acked job %s lost: %v", id, err)
		}
		if len(j.Leaves) == 0 {
			t.Fatalf("acked job %s has no leaf", id)
		}
		leaf, err := n.Log().Leaf(t.Context(), j.Leaves[0])
		if err != nil {
			t.Fatal(err)
		}
		var e treaty.LogEntry
		if err := treaty.Decode(leaf, &e); err != nil || e.Job == nil || e.Job.Job != id {
			t.Fatalf("job %s: leaf %d is not its record", id, j.Leaves[0])
		}
	}
	// The log after the crash extends the checkpoint signed before it.
	origin := "aurora/testnet/" + n.Identity().PeerID.String()
	verifier, err := provenance.LogVerifier(origin, n.Identity().DID)
	if err != nil {
		t.Fatal(err)
	}
	old, err := provenance.OpenCheckpoint(before, origin, verifier)
	if err != nil {
		t.Fatalf("pre-crash checkpoint: %v", err)
	}
	cur, err := n.Log().Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	proof, err := n.Log().ConsistencyProof(t.Context(), old.Size, cur.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := provenance.VerifyConsistency(old.Size, cur.Size, proof, old.Root, cur.Root); err != nil {
		t.Fatalf("new checkpoint (size %d) inconsistent with the pre-crash one (size %d): %v", cur.Size, old.Size, err)
	}
	// Resumed jobs settle, and no workload was launched twice.
	ctx2, cancel2 := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel2()
	for _, id := range jobs {
		for {
			j, err := n.Ledger().Job(ctx2, id)
			if err == nil && j.Settled() {
				break
			}
			if ctx2.Err() != nil {
				t.Fatalf("job %s never settled after restart", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Every order in flight at the kill, resubmitted, is answered: with
	// its original answer or a new one, never 409 for a job that is not
	// there. Acked ones get their original Ack.
	api2 := client.New("http://"+n.APIAddr(), "")
	mu.Lock()
	resubmit, byJob, cids := inflight, ackedBy, ackCID
	mu.Unlock()
	for _, o := range resubmit {
		r, err := api2.Submit(t.Context(), o)
		if err != nil {
			t.Fatalf("in-flight order resubmitted after the crash: %v", err)
		}
		if r.Result == "ack" {
			if _, err := n.Ledger().Job(t.Context(), r.Job); err != nil {
				t.Fatalf("resubmitted order acked as job %s, which does not exist: %v", r.Job, err)
			}
		}
	}
	for i, id := range jobs {
		if i%25 != 0 {
			continue
		}
		r, err := api2.Submit(t.Context(), byJob[id])
		if err != nil || r.CID != cids[id] || !r.Replayed {
			t.Fatalf("acked order %s resubmitted: %+v %v, want its original Ack %s", id, r, err, cids[id])
		}
	}
	t.Logf("%d orders in flight at the kill resubmitted: all answered", len(resubmit))
	labels := map[string]int{}
	for _, in := range vast.Instances() {
		if in.Label != nil {
			labels[*in.Label]++
			if labels[*in.Label] > 1 {
				t.Fatalf("workload %s launched twice on the fake", *in.Label)
			}
		}
	}
	t.Logf("%d acked jobs survived the crash; %d vast workloads, none twice; log %d → %d consistent", len(jobs), len(labels), old.Size, cur.Size)
}
