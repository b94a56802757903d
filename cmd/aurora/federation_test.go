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
	"github.com/aurora-federation/aurora/provenance/trust"
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

// TestPolicyFromTrust: the policy names the partners' witnesses and the
// external witnesses (with their URLs), and its quorum requires what
// --quorum and --external-quorum say, of each side.
func TestPolicyFromTrust(t *testing.T) {
	witness := func(seed byte, name string) (node.TrustWitness, provenance.Cosignature) {
		k, _ := treaty.NewKeyFromSeed([]byte(strings.Repeat(string(rune('a'+seed)), 32)))
		v, err := provenance.WitnessVerifier(name, k.DID())
		if err != nil {
			t.Fatal(err)
		}
		return node.TrustWitness{Name: v.Name(), Key: v.VerifierKey()}, provenance.Cosignature{Witness: v.Name(), KeyHash: v.KeyHash()}
	}
	self, _ := treaty.NewKeyFromSeed([]byte(strings.Repeat("s", 32)))
	origin := "aurora/testnet/12D3KooWSelfSelfSelf"
	lk, err := provenance.LogVerifierKey(origin, self.DID())
	if err != nil {
		t.Fatal(err)
	}
	var partners []node.TrustPartner
	var pcos []provenance.Cosignature
	for i := range 2 {
		k, _ := treaty.NewKeyFromSeed([]byte(strings.Repeat(string(rune('p'+i)), 32)))
		po := "aurora/testnet/12D3KooWPartner" + string(rune('A'+i)) + "xxxxxxx"
		plk, err := provenance.LogVerifierKey(po, k.DID())
		if err != nil {
			t.Fatal(err)
		}
		w, c := witness(byte(i), "aurora-witness/partner"+string(rune('A'+i)))
		partners = append(partners, node.TrustPartner{DID: string(k.DID()), Origin: po, LogKey: plk, Witness: w})
		pcos = append(pcos, c)
	}
	var externals []node.TrustExternalWitness
	var ecos []provenance.Cosignature
	for i := range 2 {
		w, c := witness(byte(5+i), "witness.example/ext"+string(rune('a'+i)))
		externals = append(externals, node.TrustExternalWitness{Name: "ext" + string(rune('a'+i)), Key: w.Key, URL: "https://witness.example/ext" + string(rune('a'+i))})
		ecos = append(ecos, c)
	}
	view := node.TrustView{Origin: origin, LogKey: lk, Tiles: "/tlog", Partners: partners, ExternalWitnesses: externals}
	for _, tc := range []struct {
		name      string
		view      node.TrustView
		q, extQ   string
		quorum    string                     // the quorum line's name
		met, fail [][]provenance.Cosignature // cosignature sets that meet / do not meet it
	}{
		{"both any", view, "any", "any", "witnesses",
			[][]provenance.Cosignature{{pcos[0], ecos[1]}, {pcos[1], ecos[0], ecos[1]}},
			[][]provenance.Cosignature{{pcos[0], pcos[1]}, {ecos[0], ecos[1]}, nil}},
		{"external all", view, "any", "all", "witnesses",
			[][]provenance.Cosignature{{pcos[1], ecos[0], ecos[1]}},
			[][]provenance.Cosignature{{pcos[0], pcos[1], ecos[0]}}},
		{"external none", view, "2", "none", "partners",
			[][]provenance.Cosignature{{pcos[0], pcos[1]}},
			[][]provenance.Cosignature{{pcos[0], ecos[0], ecos[1]}}},
		{"partners none", view, "none", "1", "external",
			[][]provenance.Cosignature{{ecos[1]}},
			[][]provenance.Cosignature{{pcos[0], pcos[1]}}},
		{"external only", node.TrustView{Origin: origin, LogKey: lk, Tiles: "/tlog", ExternalWitnesses: externals}, "any", "any", "external",
			[][]provenance.Cosignature{{ecos[0]}}, [][]provenance.Cosignature{nil}},
		{"none at all", node.TrustView{Origin: origin, LogKey: lk, Tiles: "/tlog"}, "any", "any", "none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := policyFromTrust(tc.view, "http://127.0.0.1:7070", tc.q, tc.extQ)
			if err != nil {
				t.Fatal(err)
			}
			pol, err := trust.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			if pol.QuorumName != tc.quorum {
				t.Fatalf("quorum %q, want %q:\n%s", pol.QuorumName, tc.quorum, text)
			}
			for _, w := range tc.view.ExternalWitnesses {
				if !strings.Contains(string(text), "witness ext-"+w.Name+" "+w.Key+" "+w.URL+"\n") {
					t.Fatalf("external witness %s missing:\n%s", w.Name, text)
				}
			}
			q := pol.Quorum()
			if tc.quorum == trust.None {
				if q != nil {
					t.Fatal("quorum none yields a quorum")
				}
				return
			}
			for _, cos := range tc.met {
				if !q.Met(cos) {
					t.Errorf("%v does not meet %s:\n%s", cos, q, text)
				}
			}
			for _, cos := range tc.fail {
				if q.Met(cos) {
					t.Errorf("%v meets %s:\n%s", cos, q, text)
				}
			}
		})
	}
	// A threshold beyond the members makes no policy, and says so.
	if _, err := policyFromTrust(view, "http://x", "any", "3"); err == nil || !strings.Contains(err.Error(), "threshold") {
		t.Fatalf("external quorum 3 of 2: %v", err)
	}
}
