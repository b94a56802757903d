package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/testnet"
	"github.com/aurora-federation/aurora/treaty"
)

// TestFederationTrust runs a two-node federation: the policy `aurora
// federation policy` writes from node 0 fully verifies a job's bundle
// (partner cosignature, two TSAs) with `aurora proof verify --policy`, and
// node 1's witness cosigns node 0's checkpoint over C2SP HTTP as it does
// over libp2p.
func TestFederationTrust(t *testing.T) {
	tn, err := testnet.Start(t.Context(), testnet.Config{Nodes: 2, Dir: t.TempDir(), Epoch: 300 * time.Millisecond, SimFailure: 0.0001, Fakes: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := tn.ExchangeTreaties(ctx, treaty.TemplateBilateral, nil); err != nil {
		t.Fatal(err)
	}
	n0, n1 := tn.Nodes[0], tn.Nodes[1]
	api0, api1 := "http://"+n0.APIAddr(), "http://"+n1.APIAddr()
	o, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", Regions: n0.Regions, MaxPrice: "3/h"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := n0.API.Submit(ctx, o)
	if err != nil || r.Result != "ack" {
		t.Fatalf("submit: %v %+v", err, r)
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "trust.policy")
	if out, errs, code := runAurora(t, "federation", "policy", "--api", api0, "-o", pol); code != 0 {
		t.Fatalf("federation policy: %d %s%s", code, out, errs)
	}
	// Fully verified: the partner's cosignature meets the quorum, two TSAs.
	bundle := filepath.Join(dir, "job.proof")
	var out string
	for {
		_, _, code := runAurora(t, "proof", "get", r.Job, "--api", api0, "-o", bundle)
		if code == 0 {
			var c int
			if out, _, c = runAurora(t, "proof", "verify", "--policy", pol, bundle); c == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no fully verified bundle:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out, "verified: leaf") || !strings.Contains(out, "ok    witnesses") || !strings.Contains(out, "ok    tsa") {
		t.Fatalf("verify:\n%s", out)
	}
	if out, errs, code := runAurora(t, "monitor", "--policy", pol); code != 0 || !strings.Contains(out, "ok       ") {
		t.Fatalf("monitor: %d\n%s%s", code, out, errs)
	}

	// Node 1's witness over HTTP: the node 1 key from node 0's /v1/trust.
	raw, err := n0.API.Raw(ctx, http.MethodGet, "/v1/trust", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tv node.TrustView
	json.Unmarshal(raw, &tv)
	if len(tv.Partners) != 1 || len(tv.TSARoots) == 0 || tv.Witness == nil {
		t.Fatalf("trust %s", raw)
	}
	wv, err := provenance.ParseWitnessKey(tv.Partners[0].Witness.Key)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte) (int, []byte) {
		resp, err := http.Post(api1+node.WitnessPrefix+"/add-checkpoint", "text/plain", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 4096)
		k, _ := resp.Body.Read(b)
		return resp.StatusCode, b[:k]
	}
	for {
		cp, err := n0.Log().LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		status, body := post(provenance.CosignRequest(0, nil, cp.Note))
		if status == http.StatusConflict {
			stored, err := provenance.ParseConflictBody(body)
			if err != nil {
				t.Fatal(err)
			}
			if stored <= cp.Size {
				proof, err := n0.Log().ConsistencyProof(ctx, stored, cp.Size)
				if err != nil {
					t.Fatal(err)
				}
				status, body = post(provenance.CosignRequest(stored, proof, cp.Note))
			}
		}
		if status == http.StatusOK {
			signed, err := provenance.MergeCosignatures(cp.Note, body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := provenance.VerifyCosignature(signed, wv); err != nil {
				t.Fatalf("HTTP cosignature: %v", err)
			}
			break
		}
		if ctx.Err() != nil || (status != http.StatusConflict && status != http.StatusUnprocessableEntity) {
			t.Fatalf("add-checkpoint over HTTP: %d %s", status, body)
		}
	}
	// A log node 1 does not witness is 404.
	if status, _ := post(provenance.CosignRequest(0, nil, []byte("aurora/testnet/12D3KooWStranger\n1\n"+strings.Repeat("A", 43)+"=\n\n— aurora/testnet/12D3KooWStranger AAAA\n"))); status != http.StatusNotFound && status != http.StatusBadRequest {
		t.Fatalf("unknown log: %d", status)
	}
}
