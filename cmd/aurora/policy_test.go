package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/examples/gpulimit/gpulimittest"
	"github.com/aurora-federation/aurora/treaty"
)

func runPolicyCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &out)
	return out.String(), code
}

func writePolicyOrder(t *testing.T, dir string) string {
	t.Helper()
	o := &treaty.Order{
		V: 1, Client: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		Nonce: bytes.Repeat([]byte{7}, 16), Created: 1795564800, Expires: 1795568400,
		Workload:    treaty.Workload{Image: "ghcr.io/x/infer:1", GPU: &treaty.GPU{Model: "h100", Count: 2}, Duration: 3600},
		Constraints: treaty.Constraints{Regions: []string{"eu-west"}, MaxPricePerHour: 9_000_000},
	}
	b, err := treaty.EncodeJSON(o)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "order.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyEvalAndTest(t *testing.T) {
	dir := t.TempDir()
	order := writePolicyOrder(t, dir)
	params := filepath.Join(dir, "params.cbor")
	cache := filepath.Join(dir, "cache")
	if out, code := runPolicyCLI(t, "policy", "params", "--regions", "eu-central,eu-west", "--min-reputation", "700",
		"--max-price-per-gpu-hour", "4000000", "-o", params); code != 0 || !strings.HasPrefix(out, "bafyrei") {
		t.Fatalf("params: %d %s", code, out)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"allow", []string{"--now", "1795564900000", "--offer-price", "8000000"}, 0, []string{"decision: allow", "word:     0x000000"}},
		{"deny", []string{"--now", "1795564900000", "--reputation", "10", "--replayed"}, 3,
			[]string{"decision: deny", "reasons:  nonce_replayed, reputation_too_low"}},
		{"expired and price", []string{"--now", "1795568400000", "--offer-price", "8000001"}, 3,
			[]string{"order_expired, price_too_high"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"policy", "eval", "--module", "std", "--params", params, "--order", order, "--cache-dir", cache}, tt.args...)
			out, code := runPolicyCLI(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, c := range tt.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
		})
	}
	out, code := runPolicyCLI(t, "policy", "test", "--module", "std", "--vectors", "../../policy/std/vectors.json", "--cache-dir", cache)
	if code != 0 || !strings.Contains(out, "263 of 263 vectors pass") {
		t.Fatalf("test: %d %s", code, out)
	}
	// A vector with the wrong expectation fails the command.
	bad := filepath.Join(dir, "bad.json")
	noLimits := base64.StdEncoding.EncodeToString((&policy.StdParams{}).Encode())
	os.WriteFile(bad, []byte(`{"schema":"fedpolicy-vectors/1","params":"`+noLimits+`","cases":[{"name":"wrong","facts":{"now":1,"order_expires":2,"nonce_fresh":true,"gpu_count":0,"gpu_hours":0,"max_price_per_hour":0,"offer_price_per_hour":0,"provider_reputation":0,"inflight_used":0,"orders_last_minute":0,"gpu_hours_used_today":0,"cpu_millis":0,"memory_mib":0,"duration_sec":0,"region_count":0,"lane_applies":false},"want":1}]}`), 0o644)
	out, code = runPolicyCLI(t, "policy", "test", "--module", "std", "--vectors", bad, "--cache-dir", cache)
	if code != 1 || !strings.Contains(out, "FAIL") {
		t.Fatalf("failing vectors: %d %s", code, out)
	}
}

func TestPolicyBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a WASM module")
	}
	out := filepath.Join(t.TempDir(), "gpulimit.wasm")
	got, code := runPolicyCLI(t, "policy", "build", "../../policy/examples/gpulimit/guest", "-o", out)
	if code != 0 || !strings.HasPrefix(got, "bafkrei") {
		t.Fatalf("build: %d %s", code, got)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyAdd: `aurora policy add` checks a module and installs it in the
// home's policy dir under its CID; a module that fails a load check, or
// that partners could not fetch (over policy.max_fetch_bytes), is refused
// and nothing is written.
func TestPolicyAdd(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if out, code := runPolicyCLI(t, "init", "--home", home); code != 0 {
		t.Fatalf("init: %d %s", code, out)
	}
	mod := filepath.Join(dir, "gpulimit.wasm")
	if err := os.WriteFile(mod, gpulimittest.Wasm(), 0o644); err != nil {
		t.Fatal(err)
	}
	want := policy.ModuleCID(gpulimittest.Wasm()).String()
	out, code := runPolicyCLI(t, "policy", "add", mod, "--home", home)
	if code != 0 || !strings.HasPrefix(out, want+"\n") {
		t.Fatalf("policy add: %d %q, want the CID %s first", code, out, want)
	}
	installed := filepath.Join(home, node.PolicyDir, want+".wasm")
	if b, err := os.ReadFile(installed); err != nil || !bytes.Equal(b, gpulimittest.Wasm()) {
		t.Fatalf("%s: %v (same bytes: %v)", installed, err, bytes.Equal(b, gpulimittest.Wasm()))
	}

	bad := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00not a module"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runPolicyCLI(t, "policy", "add", bad, "--home", home); code == 0 || !strings.Contains(out, "check") {
		t.Fatalf("a broken module: %d %q", code, out)
	}
	if out, code := runPolicyCLI(t, "policy", "add", mod, "--home", home, "--set", "policy.max_fetch_bytes=1024"); code == 0 || !strings.Contains(out, "max_fetch_bytes") {
		t.Fatalf("a module over policy.max_fetch_bytes: %d %q", code, out)
	}
	ents, err := os.ReadDir(filepath.Join(home, node.PolicyDir))
	if err != nil || len(ents) != 1 {
		t.Fatalf("policy dir holds %d entries (%v), want the one module", len(ents), err)
	}
}
