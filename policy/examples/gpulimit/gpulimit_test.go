package gpulimit_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/examples/gpulimit"
	"github.com/aurora-federation/aurora/policy/examples/gpulimit/gpulimittest"
	"github.com/aurora-federation/aurora/policy/policybuild"
	"github.com/aurora-federation/aurora/policy/sdk"
)

func params(maxGPUs int64, models ...string) []byte {
	var p sdk.Params
	p.SetInt(gpulimit.KeyMaxGPUs, maxGPUs).SetStrings(gpulimit.KeyModels, models)
	return p.Encode()
}

var cases = []struct {
	name   string
	params []byte
	gpus   uint32
	model  string
	want   uint32
}{
	{"no gpu", params(2, "h100"), 0, "", sdk.Allow},
	{"within", params(2, "h100"), 2, "h100", sdk.Allow},
	{"too many", params(2, "h100"), 3, "h100", gpulimit.BitTooManyGPUs},
	{"wrong model", params(2, "h100"), 1, "rtx-4090", gpulimit.BitModelNotAllowed},
	{"both", params(2, "a100", "h100"), 8, "t4", gpulimit.BitTooManyGPUs | gpulimit.BitModelNotAllowed},
	{"no limits", params(0), 64, "anything", sdk.Allow},
}

func facts(gpus uint32, model string) sdk.OrderFacts {
	return sdk.OrderFacts{GPUCount: gpus, GPUModel: sdk.MakeCode32(model), NonceFresh: true}
}

// TestNative runs the rules as ordinary Go.
func TestNative(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := sdk.DecodeParams(c.params)
			if err != nil {
				t.Fatal(err)
			}
			l, err := gpulimit.Configure(q)
			if err != nil {
				t.Fatal(err)
			}
			f := facts(c.gpus, c.model)
			if got := l.Eval(&f); got != c.want {
				t.Errorf("Eval = %#x, want %#x", got, c.want)
			}
		})
	}
	var bad sdk.Params
	bad.SetInt("max_gpu", 1) // a typo is an error, not a silent default
	if _, err := gpulimit.Configure(&bad); err == nil {
		t.Error("unknown key accepted")
	}
}

// TestWasm builds the guest with the stock toolchain and runs the same cases
// through the engine.
func TestWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a WASM module")
	}
	wasm, mf, err := policybuild.Build(t.Context(), "guest", "")
	if err != nil {
		t.Fatal(err)
	}
	if mf.Name != "gpulimit" || len(mf.Reasons) != 2 {
		t.Fatalf("manifest %+v", mf)
	}
	e, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	id, err := e.Load(t.Context(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		out := make([]policy.Decision, 1)
		if err := e.Eval(t.Context(), id, c.params, []policy.Facts{facts(c.gpus, c.model)}, out); err != nil {
			t.Fatal(err)
		}
		if out[0].Word != c.want {
			t.Errorf("%s: wasm %#x (%v), want %#x", c.name, out[0].Word, out[0].Reasons, c.want)
		}
	}
	if _, err := e.Prepare(t.Context(), id, params(-1), policy.Limits{}); err == nil {
		t.Error("negative max_gpus accepted by the module")
	}
}

// TestCommittedModule rebuilds the guest and proves gpulimittest's
// committed gpulimit.wasm byte-identical, so tests that use it run the
// module these sources make; its params helper is the one used above.
func TestCommittedModule(t *testing.T) {
	if !bytes.Equal(gpulimittest.Params(2, "a100", "h100"), params(2, "a100", "h100")) {
		t.Error("gpulimittest.Params encodes other params")
	}
	e, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	id, err := e.Load(t.Context(), gpulimittest.Wasm())
	if err != nil {
		t.Fatal(err)
	}
	mf, err := e.Manifest(id)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		t.Skip("rebuilds the module with the go command (seconds)")
	}
	if mf.Toolchain != runtime.Version() {
		t.Skipf("gpulimit.wasm was built by %s; this toolchain is %s and would produce other bytes", mf.Toolchain, runtime.Version())
	}
	wasm, _, err := policybuild.Build(t.Context(), "guest", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wasm, gpulimittest.Wasm()) {
		t.Fatalf("rebuilt module %s differs from the committed %s: run go run ./policy/cmd/fpbuild -o policy/examples/gpulimit/gpulimittest/gpulimit.wasm ./policy/examples/gpulimit/guest",
			policy.ModuleCID(wasm), id)
	}
}
