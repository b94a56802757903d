package std_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/policybuild"
	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
	"github.com/aurora-federation/aurora/policy/std/stdtest"
)

var update = flag.Bool("update", false, "rewrite vectors.json from the native law")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNamedCases pins the law's answer for each hand-made case: an
// independent statement of the rules, not the law checked against itself.
func TestNamedCases(t *testing.T) {
	want := map[string]uint32{
		"allow":                         0,
		"nonce_replayed":                std.BitNonceReplayed,
		"order_expired":                 std.BitOrderExpired,
		"order_expires_in_1ms":          0,
		"region_not_allowed":            std.BitRegionNotAllowed,
		"region_any_confined_by_router": 0,
		"region_candidate_outside":      std.BitRegionNotAllowed,
		"region_fifth_not_carried":      std.BitRegionNotAllowed,
		"reputation_too_low":            std.BitReputationTooLow,
		"reputation_at_threshold":       0,
		"price_too_high":                std.BitPriceTooHigh,
		"price_at_cap":                  0,
		"price_unknown_uses_order_cap":  std.BitPriceTooHigh,
		"price_no_gpu":                  0,
		"inflight_quota":                std.BitInflightQuota,
		"inflight_one_left":             0,
		"rate_quota":                    std.BitRateQuota,
		"gpu_hours_quota":               std.BitGPUHoursQuota,
		"gpu_hours_exactly_fill":        0,
		"three_rules":                   std.BitNonceReplayed | std.BitReputationTooLow | std.BitRateQuota,
		"everything":                    0xFF,
		"no_limits_allow":               0,
		"no_limits_still_replay":        std.BitNonceReplayed,
	}
	cases := stdtest.Named()
	if len(cases) != len(want) {
		t.Fatalf("%d named cases, %d expectations", len(cases), len(want))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			w, ok := want[c.Name]
			if !ok {
				t.Fatalf("no expectation for %s", c.Name)
			}
			law, err := std.New(c.Params)
			if err != nil {
				t.Fatal(err)
			}
			if got := law.Evaluate(&c.Facts); got != w {
				t.Errorf("Evaluate = %#x, want %#x", got, w)
			}
			if got := std.Evaluate(&c.Facts, &c.Params); got != w {
				t.Errorf("std.Evaluate = %#x, want %#x", got, w)
			}
		})
	}
}

func TestParams(t *testing.T) {
	tests := []struct {
		name    string
		p       std.Params
		wantErr string
	}{
		{"zero", std.Params{}, ""},
		{"base", stdtest.BaseParams(), ""},
		{"unsorted", std.Params{AllowedRegions: []string{"b", "a"}}, "sorted"},
		{"duplicate", std.Params{AllowedRegions: []string{"a", "a"}}, "sorted"},
		{"long region", std.Params{AllowedRegions: []string{"a-region-name-over-16"}}, "1 to 16 bytes"},
		{"space", std.Params{AllowedRegions: []string{"eu west"}}, "printable"},
		{"negative", std.Params{MaxInflight: -1}, "max_inflight"},
		{"reputation over 1000", std.Params{MinProviderReputation: 1001}, "min_provider_reputation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := std.New(tt.p)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				q, err := sdk.DecodeParams(tt.p.Encode())
				if err != nil {
					t.Fatal(err)
				}
				back, err := std.ParamsFrom(q)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.p, back, cmpEmpty); diff != "" {
					t.Errorf("round trip (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
			if got := std.Evaluate(&sdk.OrderFacts{}, &tt.p); got != sdk.Indeterminate {
				t.Errorf("Evaluate with invalid params = %#x, want Indeterminate", got)
			}
		})
	}
}

var cmpEmpty = cmp.Transformer("nilEmpty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

// vectorCases are the cases in vectors.json: the named ones and a seeded
// corpus.
func vectorCases() []policy.Vector {
	cases := append(stdtest.Named(), stdtest.Corpus(1, 240, 8)...)
	out := make([]policy.Vector, len(cases))
	for i, c := range cases {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("corpus-%03d", i)
		}
		out[i] = policy.Vector{Name: name, Params: c.Params.Encode(), Facts: c.Facts, Want: std.Evaluate(&c.Facts, &c.Params)}
	}
	return out
}

// TestVectorsUpToDate checks that the committed vectors are what the native
// law says (go test -run TestVectorsUpToDate -update rewrites them).
func TestVectorsUpToDate(t *testing.T) {
	got, err := policy.EncodeVectors(vectorCases(), std.Reasons())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("vectors.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Skip("vectors.json rewritten; run the test again to check it")
	}
	if !bytes.Equal(got, std.Vectors()) {
		t.Fatal("vectors.json is stale: run go test ./policy/std -run TestVectorsUpToDate -update")
	}
	parsed, err := policy.ParseVectors(std.Vectors())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(vectorCases(), parsed); diff != "" {
		t.Errorf("vectors do not round-trip (-want +got):\n%s", diff)
	}
}

// TestReproducibleBuild rebuilds std.wasm with the stock toolchain and
// proves the committed module byte-identical.
func TestReproducibleBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module with the go command (seconds)")
	}
	mf, err := policy.ParseManifest(manifestOf(t, std.Wasm()))
	if err != nil {
		t.Fatal(err)
	}
	if mf.Toolchain != runtime.Version() {
		t.Skipf("std.wasm was built by %s; this toolchain is %s and would produce different bytes", mf.Toolchain, runtime.Version())
	}
	wasm, got, err := policybuild.Build(t.Context(), "guest", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mf, got); diff != "" {
		t.Errorf("manifest (-committed +rebuilt):\n%s", diff)
	}
	if !bytes.Equal(wasm, std.Wasm()) {
		t.Fatalf("rebuilt module %s (%d bytes) differs from committed std.wasm %s (%d bytes): run ./build.sh",
			policy.ModuleCID(wasm), len(wasm), policy.ModuleCID(std.Wasm()), len(std.Wasm()))
	}
}

func manifestOf(t *testing.T, wasm []byte) []byte {
	t.Helper()
	e := newEngine(t)
	id, err := e.Load(t.Context(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	mf, err := e.Manifest(id)
	if err != nil {
		t.Fatal(err)
	}
	return mf.Encode()
}

var cacheDir string

func newEngine(t testing.TB) *policy.Engine {
	t.Helper()
	// Generous limits: this box is shared and -race slows instantiation.
	e, err := policy.New(policy.Config{CacheDir: cacheDir, DefaultDeadline: 500 * time.Millisecond, InitTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e
}

func init() { cacheDir = os.TempDir() + "/aurora-policy-test-cache" }

// TestDifferential proves the native law and its WASM build agree on a
// generated corpus concentrated on the rules' boundaries.
func TestDifferential(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	e := newEngine(t)
	id, err := e.LoadStd(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cases := stdtest.Corpus(42, n, 50)
	byParams := map[string][]int{}
	for i, c := range cases {
		k := string(c.Params.Encode())
		byParams[k] = append(byParams[k], i)
	}
	var mismatches, denies int
	for k, idx := range byParams {
		law, err := std.New(cases[idx[0]].Params)
		if err != nil {
			t.Fatal(err)
		}
		facts := make([]policy.Facts, len(idx))
		for j, i := range idx {
			facts[j] = cases[i].Facts
		}
		out := make([]policy.Decision, len(facts))
		if err := e.Eval(t.Context(), id, []byte(k), facts, out); err != nil {
			t.Fatal(err)
		}
		for j := range facts {
			want := law.Evaluate(&facts[j])
			if want != 0 {
				denies++
			}
			if out[j].Word != want {
				mismatches++
				if mismatches <= 5 {
					t.Errorf("facts %+v: wasm %#x, native %#x", facts[j], out[j].Word, want)
				}
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d decisions differ", mismatches, n)
	}
	// The corpus must exercise both outcomes, or agreement proves little.
	if denies == 0 || denies == n {
		t.Fatalf("corpus has %d denies of %d: not exercising the rules", denies, n)
	}
}

// FuzzDifferential feeds arbitrary records to both builds.
func FuzzDifferential(f *testing.F) {
	p := stdtest.BaseParams()
	for _, c := range stdtest.Named() {
		f.Add(c.Facts.AppendTo(nil))
	}
	f.Add(make([]byte, sdk.RecordSize))
	e := newEngine(f)
	id, err := e.LoadStd(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	law, _ := std.New(p)
	params := p.Encode()
	f.Fuzz(func(t *testing.T, rec []byte) {
		var facts sdk.OrderFacts
		want := sdk.Indeterminate
		if facts.Decode(rec) {
			want = law.Evaluate(&facts)
		}
		// The host writes records from Facts, so decode-failing input is
		// checked natively only: the guest's own decoder sees what the host
		// wrote.
		if want == sdk.Indeterminate {
			return
		}
		out := make([]policy.Decision, 1)
		if err := e.Eval(context.Background(), id, params, []policy.Facts{facts}, out); err != nil {
			t.Fatal(err)
		}
		if out[0].Word != want {
			t.Fatalf("wasm %#x, native %#x", out[0].Word, want)
		}
	})
}
