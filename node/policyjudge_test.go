package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/judge"
	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/examples/gpulimit/gpulimittest"
	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/testnet"
	"github.com/aurora-federation/aurora/treaty"
)

// TestTreatyNamedPolicy runs three real nodes (libp2p, boxo bitswap,
// wazero) with one treaty per pair:
//
//	A–B  module "" (the standard law)
//	B–C  module gpulimit, max_gpus 1: only C has the module (its policy dir)
//	A–C  a module X nobody has; C's policy dir holds a file named X with
//	     other bytes (gpulimit's)
//
// The same 2-GPU order is allowed on A→B and denied too_many_gpus on C→B,
// B having fetched gpulimit from C over bitswap; A→C is denied
// policy_unavailable (C refused the mismatched copy and nobody sent X), never
// judged by the standard law. An auditor re-runs B's logged decisions with
// the modules fetched by CID from B and gets the same words.
func TestTreatyNamedPolicy(t *testing.T) {
	gpuWasm := gpulimittest.Wasm()
	gpu := policy.ModuleCID(gpuWasm)
	missing := policy.ModuleCID(append(append([]byte(nil), gpuWasm...), 0, 3, 'p', 'a', 'd')) // X: a custom section more
	auditorKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	auditorID, _ := peer.IDFromPrivateKey(auditorKey)
	dirC := t.TempDir()
	for name, b := range map[cid.Cid][]byte{gpu: gpuWasm, missing: gpuWasm} {
		if err := os.WriteFile(filepath.Join(dirC, name.String()+".wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tn, err := testnet.Start(t.Context(), testnet.Config{Nodes: 3, Dir: t.TempDir(), Fakes: []string{}, SimFailure: 0.0001, Epoch: time.Second, PolicyCacheDir: policyCache,
		Configure: func(i int, c *node.Config) {
			switch i {
			case 1:
				c.P2P.Auditors = []string{auditorID.String()}
				// B prefetches gpulimit once, when its treaty with C becomes
				// active: room for a loaded machine under the race detector.
				c.Policy.FetchTimeout = node.Duration(time.Minute)
			case 2:
				c.Policy.Dir = dirC
				c.Policy.FetchTimeout = node.Duration(time.Second) // X never comes: deny within the forward's deadline
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	a, b, c := tn.Nodes[0], tn.Nodes[1], tn.Nodes[2]

	gpuParams := gpulimittest.Params(1)
	tAB := makeTreaty(ctx, t, a, b, treaty.PolicyRef{ABI: "fedpolicy/1", Params: []byte{}, DeadlineMS: 500})
	tBC := makeTreaty(ctx, t, b, c, treaty.PolicyRef{ABI: "fedpolicy/1", Module: gpu.String(), Params: gpuParams, DeadlineMS: 500})
	tAC := makeTreaty(ctx, t, a, c, treaty.PolicyRef{ABI: "fedpolicy/1", Module: missing.String(), Params: gpuParams, DeadlineMS: 500})

	spec := client.OrderSpec{Image: "x:1", GPU: "A100:2", MaxPrice: "5/h"}
	forward := func(from, to *testnet.Node, tl treaty.Link) (*treaty.Order, []byte) {
		t.Helper()
		o, err := client.BuildOrder(tn.Client, spec, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ob, err := treaty.Encode(o)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := from.Mesh().Forward(ctx, to.Identity().DID, tl, ob)
		if err != nil {
			t.Fatalf("forward: %v", err)
		}
		return o, reply
	}

	// A→B, the standard law: an Ack.
	oAB, reply := forward(a, b, tAB)
	var ack treaty.Ack
	if err := treaty.Decode(reply, &ack); err != nil {
		t.Fatalf("A→B under the standard law: not an Ack (%v): %s", err, denialText(reply))
	}
	// C→B, gpulimit, which B fetches from C when the treaty becomes active
	// (and compiles: seconds under the race detector, so wait for it
	// rather than spend the forward's deadline): a Denial by gpulimit.
	for counterValue(t, b.Metrics().Registry, "aurora_policy_module_fetches_total", "ok") == 0 {
		if ctx.Err() != nil {
			t.Fatal("B never fetched gpulimit from C")
		}
		time.Sleep(50 * time.Millisecond)
	}
	oCB, reply := forward(c, b, tBC)
	d := denial(t, reply)
	if d.Policy != gpu.String() || len(d.Reasons) != 1 || d.Reasons[0] != "too_many_gpus" || d.ReasonBits != 1 {
		t.Fatalf("C→B under gpulimit: Denial by %q: %v (%#x); want too_many_gpus by %s", d.Policy, d.Reasons, d.ReasonBits, gpu)
	}
	if n := counterValue(t, b.Metrics().Registry, "aurora_policy_module_fetches_total", "ok"); n != 1 {
		t.Errorf("B fetched gpulimit %v times, want 1", n)
	}
	// A→C, a module nobody has: policy_unavailable, and C refused the
	// copy in its dir whose bytes do not match.
	_, reply = forward(a, c, tAC)
	d = denial(t, reply)
	if d.Policy != missing.String() || len(d.Reasons) != 1 || !strings.HasPrefix(d.Reasons[0], judge.ReasonUnavailable+": module "+missing.String()) ||
		!strings.Contains(d.Reasons[0], "do not match the CID") {
		t.Fatalf("A→C under a module nobody has: Denial by %q: %v", d.Policy, d.Reasons)
	}
	if counterValue(t, c.Metrics().Registry, "aurora_policy_module_fetches_total", "hash_mismatch") < 1 ||
		counterValue(t, c.Metrics().Registry, "aurora_policy_unavailable_total", "") != 1 {
		t.Error("C's hash_mismatch fetches and unavailable orders did not move")
	}

	// Any peer re-runs a logged decision: an auditor of B fetches the
	// modules by CID from B's blockstore over bitswap.
	aud := auditor(t, auditorKey, b)
	eng, err := policy.New(policy.Config{CacheDir: policyCache})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	bt := b.Mesh()
	for _, r := range []struct {
		o      *treaty.Order
		tl     treaty.Link
		from   treaty.DID
		module cid.Cid
		word   int64
	}{{oAB, tAB, a.Identity().DID, eng.StdModule(), 0}, {oCB, tBC, c.Identity().DID, gpu, 1}} {
		ocid, _, _ := treaty.ID(r.o)
		le, err := b.Decision(ctx, ocid)
		if err != nil {
			t.Fatalf("B's decision on %s: %v", ocid, err)
		}
		if !le.Module.Equals(r.module) || le.Word != r.word {
			t.Fatalf("B logged module %s word %#x, want %s %#x", le.Module, le.Word, r.module, r.word)
		}
		wasm, err := aud.GetRaw(ctx, le.Module.Cid, 0)
		if err != nil {
			t.Fatalf("the auditor fetching module %s from B: %v", le.Module, err)
		}
		if err := eng.LoadExpect(ctx, le.Module.Cid, wasm); err != nil {
			t.Fatal(err)
		}
		ti, err := bt.Get(r.tl)
		if err != nil {
			t.Fatal(err)
		}
		var lane treaty.Lane
		for _, l := range ti.Treaty.Lanes {
			if l.From == r.from && l.To == b.Identity().DID {
				lane = l
			}
		}
		if got, err := eng.Replay(ctx, le, policy.TreatyParams(ti.Treaty, lane)); err != nil || int64(got.Word) != r.word {
			t.Errorf("re-running B's decision under %s: %#x, %v; want %#x", le.Module, got.Word, err, r.word)
		}
	}
	// A judged nothing under a module for A→B (it only forwarded).
	ocid, _, _ := treaty.ID(oAB)
	if _, err := a.Decision(ctx, ocid); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("A's decision on an order it never judged: %v", err)
	}
}

// makeTreaty has x propose a bilateral treaty to y with the given policy
// (set through the template's policy_* keys, as `aurora treaty new
// --policy-module --policy-params` does), both sign it, and waits until it
// is active on both. It returns the treaty's CID.
func makeTreaty(ctx context.Context, t *testing.T, x, y *testnet.Node, ref treaty.PolicyRef) treaty.Link {
	t.Helper()
	set := map[string]string{"min_provider_reputation": "0", "policy_deadline_ms": strconv.FormatInt(ref.DeadlineMS, 10)}
	if ref.Module != "" {
		set["policy_module"] = ref.Module
	}
	if len(ref.Params) > 0 {
		set["policy_params"] = base64.StdEncoding.EncodeToString(ref.Params)
	}
	tr, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "testnet",
		Proposer: x.Identity().DID, Peer: y.Identity().DID, Now: time.Now().Add(-time.Minute), Set: set})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ref, tr.Policy); diff != "" {
		t.Fatalf("the template's policy (-want +got):\n%s", diff)
	}
	for _, n := range []*testnet.Node{x, y} {
		k, err := node.LoadKey(filepath.Join(n.Home, node.KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := treaty.SignTreaty(tr, k); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := x.Mesh().Submit(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testnet.Node{x, y} {
		for {
			if ti, err := n.Mesh().Get(tl); err == nil && ti.State == treaty.StateActive {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("treaty %s not active on %s", tl, n.Identity().DID.Short())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return tl
}

func denial(t *testing.T, reply []byte) *treaty.Denial {
	t.Helper()
	var d treaty.Denial
	if err := treaty.Decode(reply, &d); err != nil {
		t.Fatalf("not a Denial: %v", err)
	}
	return &d
}

func denialText(reply []byte) string {
	var d treaty.Denial
	if treaty.Decode(reply, &d) != nil {
		return "(undecodable)"
	}
	return d.Policy + " " + strings.Join(d.Reasons, "; ")
}

// auditor is a plain IPFS node (a boxo client standing in for an auditor's
// kubo) on its own host, connected to target, which lists it in
// p2p.auditors.
func auditor(t *testing.T, key crypto.PrivKey, target *testnet.Node) *ipfs.Node {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	n, err := ipfs.New(t.Context(), ipfs.Config{Host: h, Datastore: dssync.MutexWrap(datastore.NewMapDatastore()), Allow: func(peer.ID) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	m := target.Mesh().Host()
	if err := h.Connect(t.Context(), peer.AddrInfo{ID: m.ID(), Addrs: m.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return n
}

// counterValue reads a counter family from reg: the series whose one label
// has value label, or the only series when label is "".
func counterValue(t *testing.T, reg prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestPolicyConfig: the [policy] keys are checked at and beyond their
// limits, zero takes the default, and a node reads them: policy.module as
// a CID from policy.dir is its own clients' law (here gpulimit, which
// denies what the standard law allows); a .wasm in the dir not named by
// its CID, or a module CID the dir lacks, stops the node at start.
func TestPolicyConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*node.PolicyConfig)
		key  string // "" = valid
	}{
		{"zero values take defaults", func(p *node.PolicyConfig) { p.MaxModules, p.MaxFetchBytes, p.FetchTimeout = 0, 0, 0 }, ""},
		{"max_modules 1", func(p *node.PolicyConfig) { p.MaxModules = 1 }, ""},
		{"max_modules 1024", func(p *node.PolicyConfig) { p.MaxModules = 1024 }, ""},
		{"max_modules 1025", func(p *node.PolicyConfig) { p.MaxModules = 1025 }, "policy.max_modules"},
		{"max_fetch_bytes 1024", func(p *node.PolicyConfig) { p.MaxFetchBytes = 1024 }, ""},
		{"max_fetch_bytes 1023", func(p *node.PolicyConfig) { p.MaxFetchBytes = 1023 }, "policy.max_fetch_bytes"},
		{"max_fetch_bytes at the bitswap limit", func(p *node.PolicyConfig) { p.MaxFetchBytes = ipfs.MaxRawBlockSize }, ""},
		{"max_fetch_bytes beyond it", func(p *node.PolicyConfig) { p.MaxFetchBytes = ipfs.MaxRawBlockSize + 1 }, "policy.max_fetch_bytes"},
		{"fetch_timeout 100ms", func(p *node.PolicyConfig) { p.FetchTimeout = node.Duration(100 * time.Millisecond) }, ""},
		{"fetch_timeout 99ms", func(p *node.PolicyConfig) { p.FetchTimeout = node.Duration(99 * time.Millisecond) }, "policy.fetch_timeout"},
		{"fetch_timeout 5m", func(p *node.PolicyConfig) { p.FetchTimeout = node.Duration(5 * time.Minute) }, ""},
		{"fetch_timeout over 5m", func(p *node.PolicyConfig) { p.FetchTimeout = node.Duration(5*time.Minute + 1) }, "policy.fetch_timeout"},
	} {
		cfg := node.DefaultConfig()
		c.set(&cfg.Policy)
		err := cfg.Validate()
		var ce *node.ConfigError
		switch {
		case c.key == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.key != "" && (!errors.As(err, &ce) || ce.Key != c.key):
			t.Errorf("%s: %v, want a ConfigError on %s", c.name, err, c.key)
		}
		if c.key == "" && (cfg.Policy.MaxModules == 0 || cfg.Policy.MaxFetchBytes == 0 || cfg.Policy.FetchTimeout == 0) {
			t.Errorf("%s: defaults not filled: %+v", c.name, cfg.Policy)
		}
	}

	gpu := policy.ModuleCID(gpulimittest.Wasm())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, gpu.String()+".wasm"), gpulimittest.Wasm(), 0o644); err != nil {
		t.Fatal(err)
	}
	params := filepath.Join(dir, "params.cbor")
	if err := os.WriteFile(params, gpulimittest.Params(1), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := newConfig()
	cfg.Policy.Dir, cfg.Policy.Module, cfg.Policy.Params = dir, gpu.String(), params
	tn := startNode(t, cfg)
	k := clientKey(t)
	for gpus, want := range map[string]string{"A100:1": "ack", "A100:2": "denial"} {
		o := mustOrder(t, k, client.OrderSpec{Image: "x:1", GPU: gpus, MaxPrice: "5/h", Regions: []string{"eu-west"}})
		r, err := tn.api.Submit(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if r.Result != want {
			t.Fatalf("%s under policy.module = gpulimit, max_gpus 1: %s, want %s", gpus, r.Result, want)
		}
		ocid, _, _ := treaty.ID(o)
		le, err := tn.n.Decision(t.Context(), ocid)
		if err != nil || !le.Module.Equals(gpu) {
			t.Fatalf("%s: the logged decision names %v (%v), want gpulimit", gpus, le, err)
		}
		// The same over GET /v1/jobs/{id}/decision, in its documented shape.
		d, err := tn.api.Decision(t.Context(), ocid.String())
		if err != nil {
			t.Fatalf("GET decision of %s: %v", gpus, err)
		}
		wantResult, wantWord, wantReasons := "allow", uint32(0), []string{}
		if want == "denial" {
			wantResult, wantWord, wantReasons = "deny", 1, []string{"too_many_gpus"}
		}
		got := client.Decision{Job: d.Job, Module: d.Module, Params: d.Params, ParamsData: d.ParamsData, Result: d.Result, Word: d.Word, Reasons: d.Reasons, At: d.At}
		wantD := client.Decision{Job: ocid.String(), Module: gpu.String(), Params: policy.ParamsCID(gpulimittest.Params(1)).String(), ParamsData: gpulimittest.Params(1),
			Result: wantResult, Word: wantWord, Reasons: wantReasons, At: le.At}
		if diff := cmp.Diff(wantD, got); diff != "" {
			t.Errorf("GET decision of %s (-want +got):\n%s", gpus, diff)
		}
		if "A100:"+strconv.Itoa(int(d.Facts.GPUCount)) != gpus || d.Facts.GPUModel != "A100" || d.Facts.Regions[0] != "eu-west" || d.Facts.Now != le.At ||
			!bytes.Equal(d.Input, le.Input) || d.InputSHA256 != hex.EncodeToString(le.InputSHA256) {
			t.Errorf("GET decision of %s: facts %+v", gpus, d.Facts)
		}
		if back, err := policy.DecodeLogEntry(d.Entry); err != nil || back.Word != le.Word {
			t.Errorf("GET decision of %s: entry %v, %v", gpus, back, err)
		}
	}
	// The module by CID, and the errors naming the field.
	if b, err := tn.api.Module(t.Context(), gpu.String()); err != nil || !bytes.Equal(b, gpulimittest.Wasm()) {
		t.Errorf("GET /v1/policies/%s: %d bytes, %v", gpu, len(b), err)
	}
	for _, c := range []struct {
		path, code, field string
		status            int
	}{
		{"/v1/jobs/" + treaty.CIDOf([]byte("no order")).String() + "/decision", "not_found", "id", 404},
		{"/v1/jobs/job-1/decision", "bad_request", "id", 400},
		{"/v1/policies/" + policy.ModuleCID([]byte("no module")).String(), "not_found", "cid", 404},
		{"/v1/policies/" + treaty.CIDOf([]byte("dag-cbor")).String(), "bad_request", "cid", 400},
	} {
		_, err := tn.api.Raw(t.Context(), http.MethodGet, c.path, "", nil)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != c.status || ae.Code != c.code || ae.Field != c.field {
			t.Errorf("GET %s: %v, want %d %s naming %s", c.path, err, c.status, c.code, c.field)
		}
	}

	for _, c := range []struct {
		name, file, module, key string
	}{
		{"a module file not named by its CID", "gpulimit.wasm", "", "policy.dir"},
		{"policy.module names a CID the dir lacks", "", policy.ModuleCID([]byte("nothing")).String(), "policy.module"},
		{"policy.params the module refuses", "", "std", "policy.params"},
	} {
		home, d := t.TempDir(), t.TempDir()
		if c.file != "" {
			if err := os.WriteFile(filepath.Join(d, c.file), gpulimittest.Wasm(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := newConfig()
		cfg.Policy.Dir, cfg.Policy.Module = d, c.module
		if c.key == "policy.params" {
			cfg.Policy.Params = params // gpulimit's: the standard law refuses them
		}
		if _, err := node.InitHome(home, cfg, false, nil); err != nil {
			t.Fatal(err)
		}
		ln := mustListen(t)
		_, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, APIListener: ln, PolicyCacheDir: policyCache})
		ln.Close()
		var ce *node.ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: %v, want a ConfigError on %s", c.name, err, c.key)
		}
	}
}
