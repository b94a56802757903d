package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/examples/gpulimit/gpulimittest"
	"github.com/aurora-federation/aurora/testnet"
	"github.com/aurora-federation/aurora/treaty"
)

// TestPolicyReplay: a real node judges its clients with gpulimit (max_gpus
// 1) from its policy dir; `aurora policy replay --api URL JOB` fetches the
// logged decision and the module by CID from the node and re-runs each on
// wazero: the allow and the too_many_gpus denial both match (exit 0). A
// node that serves a decision with a forged word is caught (exit 5), one
// that serves other bytes for the module's CID is refused (exit 1), and a
// job with no decision is a clear 404.
func TestPolicyReplay(t *testing.T) {
	gpuWasm := gpulimittest.Wasm()
	gpu := policy.ModuleCID(gpuWasm)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, gpu.String()+".wasm"), gpuWasm, 0o644); err != nil {
		t.Fatal(err)
	}
	params := filepath.Join(dir, "params.cbor")
	if err := os.WriteFile(params, gpulimittest.Params(1), 0o644); err != nil {
		t.Fatal(err)
	}
	tn, err := testnet.Start(t.Context(), testnet.Config{Nodes: 1, Dir: t.TempDir(), Epoch: time.Second, SimFailure: 0.0001, Fakes: []string{},
		Configure: func(_ int, c *node.Config) {
			c.Policy.Dir, c.Policy.Module, c.Policy.Params = dir, gpu.String(), params
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	n := tn.Nodes[0]
	api := "http://" + n.APIAddr()
	jobs := map[string]string{}
	for gpus, want := range map[string]string{"A100:1": "allow", "A100:2": "deny (0x00000001: too_many_gpus)"} {
		o, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: gpus, Regions: n.Regions, MaxPrice: "5/h"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r, err := n.API.Submit(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		// The job ID is the order's CID, also for a denied order.
		ocid, _, err := treaty.ID(o)
		if err != nil {
			t.Fatal(err)
		}
		if r.Result == "ack" && r.Job != ocid.String() {
			t.Fatalf("job %s is not the order's CID %s", r.Job, ocid)
		}
		jobs[gpus] = ocid.String()
		out, errs, code := runAurora(t, "policy", "replay", "--api", api, ocid.String())
		if code != 0 || !strings.Contains(out, "module:  "+gpu.String()+" ("+api+"/v1/policies/") ||
			!strings.Contains(out, "logged:  "+want) || !strings.Contains(out, "re-run:  "+want) || !strings.HasSuffix(out, "match\n") {
			t.Fatalf("replay of %s (%s): exit %d\n%s%s", gpus, r.Result, code, out, errs)
		}
	}

	// The same through a local copy of the module.
	if out, errs, code := runAurora(t, "policy", "replay", "--api", api, "--module", filepath.Join(dir, gpu.String()+".wasm"), jobs["A100:2"]); code != 0 || !strings.HasSuffix(out, "match\n") {
		t.Fatalf("replay with --module: exit %d\n%s%s", code, out, errs)
	}

	// A node lying about its decision, and one serving other bytes under
	// the module's CID: a proxy in front of the real node.
	forge := func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/decision") {
			return false
		}
		var d client.Decision
		if err := getJSON(ctx, api+r.URL.Path, &d); err != nil {
			t.Error(err)
			return true
		}
		e, err := policy.DecodeLogEntry(d.Entry)
		if err != nil {
			t.Error(err)
			return true
		}
		e.Word, e.Reasons = 0, []string{} // "allowed"
		if d.Entry, err = e.Encode(); err != nil {
			t.Error(err)
		}
		json.NewEncoder(w).Encode(d)
		return true
	}
	swapModule := func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/v1/policies/") {
			return false
		}
		w.Write(append(append([]byte{}, gpuWasm...), 0, 3, 'p', 'a', 'd'))
		return true
	}
	for _, c := range []struct {
		name   string
		handle func(http.ResponseWriter, *http.Request) bool
		code   int
		want   string
	}{
		{"a forged word", forge, replayExitMismatch, "MISMATCH"},
		{"other bytes for the module's CID", swapModule, 1, "do not match"},
	} {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.handle(w, r) {
				return
			}
			resp, err := http.Get(api + r.URL.Path)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
		}))
		out, errs, code := runAurora(t, "policy", "replay", "--api", proxy.URL, jobs["A100:2"])
		proxy.Close()
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%s: exit %d, want %d with %q\n%s%s", c.name, code, c.code, c.want, out, errs)
		}
	}

	none := treaty.CIDOf([]byte("no such order")).String()
	if out, errs, code := runAurora(t, "policy", "replay", "--api", api, none); code != 1 || !strings.Contains(errs, "no decision logged") {
		t.Errorf("replay of an unknown job: exit %d\n%s%s", code, out, errs)
	}
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}
