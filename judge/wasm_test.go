package judge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/judge"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/examples/gpulimit"
	"github.com/aurora-federation/aurora/policy/examples/gpulimit/gpulimittest"
	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
	"github.com/aurora-federation/aurora/treaty"
)

// cacheDir keeps compiled code across the tests' engines.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aurora-judge-test-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newEngine(t *testing.T, cfg policy.Config) *policy.Engine {
	t.Helper()
	cfg.CacheDir = cacheDir
	cfg.DefaultDeadline = 500 * time.Millisecond // far above a shared box's scheduling noise
	cfg.InitTimeout = time.Minute                // instantiating a Go guest under -race on a busy box
	e, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// source is a module store that counts the copies asked of it.
type source struct {
	mu    sync.Mutex
	mods  map[cid.Cid][]byte
	calls atomic.Int64
	gate  chan struct{} // if set, Fetch waits on it
}

func newSource(mods map[cid.Cid][]byte) *source { return &source{mods: mods} }

func (s *source) put(c cid.Cid, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mods[c] = b
}

func (s *source) Source(name string) judge.Source {
	return judge.Source{Name: name, Fetch: func(ctx context.Context, c cid.Cid, limit int) ([]byte, error) {
		s.calls.Add(1)
		if s.gate != nil {
			select {
			case <-s.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		s.mu.Lock()
		b, ok := s.mods[c]
		s.mu.Unlock()
		switch {
		case !ok:
			return nil, errors.New("not here")
		case len(b) > limit:
			return nil, fmt.Errorf("%w: %d bytes", judge.ErrTooLarge, len(b))
		}
		return b, nil
	}}
}

func newJudge(t *testing.T, cfg judge.Config) *judge.WASM {
	t.Helper()
	j, err := judge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	return j
}

// input is an order for gpus A100s on a lane of a treaty whose policy is
// ref (no treaty when ref is nil); the standard law allows it.
func input(t *testing.T, ref *treaty.PolicyRef, gpus int64) *order.JudgeInput {
	t.Helper()
	k, err := treaty.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &treaty.Order{V: treaty.Version, Client: k.DID(), Nonce: make([]byte, 16), Created: now.Unix(), Expires: now.Add(time.Hour).Unix(),
		Workload:    treaty.Workload{Image: "x:1", Cmd: []string{}, Env: []treaty.EnvVar{}, Ports: []int64{}, Duration: 3600, GPU: &treaty.GPU{Model: "A100", Count: gpus}},
		Constraints: treaty.Constraints{Regions: []string{}, Providers: []string{}, MaxPricePerHour: 50_000_000}}
	in := &order.JudgeInput{Order: o, Now: now, NonceFresh: true, Reputation: 900, PricePerHr: 2_000_000,
		Limits: order.Limits{MaxInflight: 8, OrdersPerMin: 600}}
	if ref != nil {
		lane := treaty.Lane{From: "did:key:a", To: "did:key:b", MaxInflight: 8, OrdersPerMin: 600}
		in.Treaty = &treaty.Treaty{Lanes: []treaty.Lane{lane}, Policy: *ref}
		in.Lane, in.LaneApplies = lane, true
	}
	return in
}

func gpuRef(module cid.Cid, maxGPUs int64) *treaty.PolicyRef {
	return &treaty.PolicyRef{ABI: "fedpolicy/1", Module: module.String(), Params: gpulimittest.Params(maxGPUs), DeadlineMS: 500}
}

// TestTreatyNamedModules: the same order is judged by the module of the
// lane's treaty: allowed by the standard law on one lane, denied by
// gpulimit (fetched by CID from a source, once) on another; the node's own
// clients get the default module. Each verdict names its module and
// carries a log entry that re-runs, on another engine, to the same word.
func TestTreatyNamedModules(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEngine(t, policy.Config{})
	gpu := policy.ModuleCID(gpulimittest.Wasm())
	src := newSource(map[cid.Cid][]byte{gpu: gpulimittest.Wasm()})
	j := newJudge(t, judge.Config{Engine: e, Sources: []judge.Source{src.Source("peers")}, Registerer: reg})
	ctx := t.Context()

	stdLane := &treaty.PolicyRef{ABI: "fedpolicy/1", Params: []byte{}, DeadlineMS: 50}
	cases := []struct {
		name   string
		in     *order.JudgeInput
		module cid.Cid
		word   uint32
	}{
		{"own client, default module", input(t, nil, 2), e.StdModule(), sdk.Allow},
		{"std lane", input(t, stdLane, 2), e.StdModule(), sdk.Allow},
		{"gpulimit lane", input(t, gpuRef(gpu, 1), 2), gpu, gpulimit.BitTooManyGPUs},
		{"gpulimit lane, within", input(t, gpuRef(gpu, 2), 2), gpu, sdk.Allow},
	}
	other := newEngine(t, policy.Config{}) // another peer's
	for _, c := range cases {
		v, err := j.Judge(ctx, c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if v.Word != c.word || v.Module != c.module.String() {
			t.Fatalf("%s: word %#x (%v) by %s, want %#x by %s", c.name, v.Word, v.Reasons, v.Module, c.word, c.module)
		}
		if c.word == gpulimit.BitTooManyGPUs && (len(v.Reasons) != 1 || v.Reasons[0] != "too_many_gpus") {
			t.Errorf("%s: reasons %v", c.name, v.Reasons)
		}
		le, err := policy.DecodeLogEntry(v.Entry)
		if err != nil {
			t.Fatalf("%s: log entry: %v", c.name, err)
		}
		if !le.Module.Equals(c.module) || le.Word != int64(c.word) {
			t.Errorf("%s: entry names %s word %#x", c.name, le.Module, le.Word)
		}
		// Any peer re-runs it: another engine, the module by its CID, the
		// treaty's params.
		wasm := std.Wasm()
		sp := judge.Params(c.in)
		params := sp.Encode()
		if c.module == gpu {
			wasm, params = gpulimittest.Wasm(), c.in.Treaty.Policy.Params
		}
		if err := other.LoadExpect(ctx, c.module, wasm); err != nil {
			t.Fatal(err)
		}
		if d, err := other.Replay(ctx, le, params); err != nil || d.Word != c.word {
			t.Errorf("%s: replay gives %#x, %v", c.name, d.Word, err)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Errorf("the source was asked %d times for gpulimit, want once (then it is loaded)", n)
	}
	if got := counter(t, reg, "aurora_policy_module_fetches_total", "ok"); got != 1 {
		t.Errorf("fetches{ok} = %v, want 1", got)
	}

	// The derived params of a "" module are policy.TreatyParams'.
	in := input(t, stdLane, 1)
	in.Treaty.Regions, in.Treaty.MinProviderReputation, in.Treaty.MaxPricePerGPUHour = []string{"eu-west"}, 700, 3_000_000
	in.Law.AllowedRegions, in.Law.MinProviderReputation, in.Law.MaxPricePerGPUHour = in.Treaty.Regions, 700, 3_000_000
	in.Limits = order.Limits{MaxInflight: in.Lane.MaxInflight, OrdersPerMin: in.Lane.OrdersPerMin, GPUHoursPerDay: in.Lane.GPUHoursPerDay}
	p := judge.Params(in)
	if string(p.Encode()) != string(policy.TreatyParams(in.Treaty, in.Lane)) {
		t.Error("the judge's params for a standard-law lane differ from policy.TreatyParams")
	}
}

// counter reads a counter of reg: the series with label value label, or
// the family's only series when label is "".
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
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

func unavailable(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return counter(t, reg, "aurora_policy_unavailable_total", "")
}

// pad appends a custom section so that the module is exactly size bytes:
// another module (another CID) that behaves the same.
func pad(t *testing.T, wasm []byte, size int) []byte {
	t.Helper()
	const name = "pad"
	for body := size - len(wasm) - 1; body > 0; body-- {
		n := body
		var leb []byte
		for {
			b := byte(n & 0x7f)
			n >>= 7
			if n != 0 {
				leb = append(leb, b|0x80)
				continue
			}
			leb = append(leb, b)
			break
		}
		if len(wasm)+1+len(leb)+body != size {
			continue
		}
		sec := append([]byte{0}, leb...)
		sec = append(sec, byte(len(name)))
		sec = append(sec, name...)
		sec = append(sec, make([]byte, body-1-len(name))...)
		return append(append([]byte(nil), wasm...), sec...)
	}
	t.Fatalf("cannot pad %d bytes to %d", len(wasm), size)
	return nil
}

// TestModuleUnavailable: a module whose only copy does not hash to its CID,
// is over the fetch limit, is missing everywhere, or refuses the treaty's
// params denies the order with policy_unavailable and never falls back to
// the standard law (which would allow it). A failure holds off new
// attempts for RetryAfter; then the module is fetched again.
func TestModuleUnavailable(t *testing.T) {
	ctx := t.Context()
	gpu := policy.ModuleCID(gpulimittest.Wasm())
	type want struct {
		result string // fetches_total label that moved
		reason string // in the Denial's reason
	}
	cases := []struct {
		name  string
		bytes []byte // the source's copy (nil: it has none)
		limit int    // MaxFetchBytes
		ref   *treaty.PolicyRef
		want
	}{
		{"bytes do not match the CID", std.Wasm(), 0, gpuRef(gpu, 4), want{"hash_mismatch", "do not match the CID"}},
		{"one byte over the fetch limit", gpulimittest.Wasm(), len(gpulimittest.Wasm()) - 1, gpuRef(gpu, 4), want{"too_large", "fetch limit"}},
		{"nobody has it", nil, 0, gpuRef(gpu, 4), want{"missing", "not here"}},
		{"params refused", gpulimittest.Wasm(), 0, gpuRef(gpu, -1), want{"ok", "params"}},
		{"bytes that hash right but are no module", []byte("not wasm"), 0, gpuRef(policy.ModuleCID([]byte("not wasm")), 1), want{"invalid", "format check"}},
		{"not a module CID", nil, 0, &treaty.PolicyRef{ABI: "fedpolicy/1", Module: treaty.CIDOf([]byte("x")).String()}, want{"", "not a module CID"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			e := newEngine(t, policy.Config{})
			src := newSource(map[cid.Cid][]byte{})
			if c.bytes != nil {
				mod, err := cid.Decode(c.ref.Module)
				if err != nil {
					t.Fatal(err)
				}
				src.put(mod, c.bytes)
			}
			j := newJudge(t, judge.Config{Engine: e, Sources: []judge.Source{src.Source("peers")}, MaxFetchBytes: c.limit, Registerer: reg})
			v, err := j.Judge(ctx, input(t, c.ref, 2))
			var ue *judge.UnavailableError
			if !errors.As(err, &ue) {
				t.Fatalf("err %v, want an *UnavailableError", err)
			}
			if v.Allowed() || v.Word != sdk.Indeterminate || v.Module != c.ref.Module {
				t.Fatalf("verdict %#x by %q, want indeterminate by %s (never the standard law)", v.Word, v.Module, c.ref.Module)
			}
			if len(v.Reasons) != 1 || !strings.HasPrefix(v.Reasons[0], judge.ReasonUnavailable+": module "+c.ref.Module) || !strings.Contains(v.Reasons[0], c.reason) {
				t.Fatalf("reasons %q, want %s naming the module and %q", v.Reasons, judge.ReasonUnavailable, c.reason)
			}
			if v.Entry != nil {
				t.Error("an order no module decided has a log entry")
			}
			if c.result != "" && counter(t, reg, "aurora_policy_module_fetches_total", c.result) != 1 {
				t.Errorf("fetches{%s} did not move", c.result)
			}
			if unavailable(t, reg) != 1 {
				t.Error("aurora_policy_unavailable_total did not move")
			}
		})
	}

	t.Run("at the fetch limit", func(t *testing.T) {
		e := newEngine(t, policy.Config{})
		src := newSource(map[cid.Cid][]byte{gpu: gpulimittest.Wasm()})
		j := newJudge(t, judge.Config{Engine: e, Sources: []judge.Source{src.Source("peers")}, MaxFetchBytes: len(gpulimittest.Wasm())})
		if v, err := j.Judge(ctx, input(t, gpuRef(gpu, 1), 2)); err != nil || v.Word != gpulimit.BitTooManyGPUs {
			t.Fatalf("a module of exactly MaxFetchBytes: %#x, %v", v.Word, err)
		}
	})

	t.Run("retry after", func(t *testing.T) {
		clk := clock.NewVirtual(now)
		e := newEngine(t, policy.Config{})
		src := newSource(map[cid.Cid][]byte{})
		first, second := newSource(map[cid.Cid][]byte{gpu: std.Wasm()}), src // a bad copy first
		j := newJudge(t, judge.Config{Engine: e, Sources: []judge.Source{first.Source("dir"), second.Source("peers")}, RetryAfter: time.Minute, Clock: clk})
		if v, _ := j.Judge(ctx, input(t, gpuRef(gpu, 1), 2)); !strings.Contains(v.Reasons[0], "dir: bytes do not match") || !strings.Contains(v.Reasons[0], "peers: not here") {
			t.Fatalf("reason %q: want both sources' failures", v.Reasons[0])
		}
		src.put(gpu, gpulimittest.Wasm())
		clk.Advance(time.Minute - time.Second)
		if v, _ := j.Judge(ctx, input(t, gpuRef(gpu, 1), 2)); v.Word != sdk.Indeterminate || !strings.Contains(v.Reasons[0], "next attempt in") {
			t.Fatalf("within RetryAfter: %#x %q, want a fast denial", v.Word, v.Reasons)
		}
		if n := src.calls.Load(); n != 1 {
			t.Fatalf("within RetryAfter the source was asked again (%d calls)", n)
		}
		clk.Advance(time.Second)
		// The bad copy is refused again; the good one is loaded.
		if v, err := j.Judge(ctx, input(t, gpuRef(gpu, 1), 2)); err != nil || v.Word != gpulimit.BitTooManyGPUs {
			t.Fatalf("after RetryAfter: %#x %v, %v", v.Word, v.Reasons, err)
		}
	})

	t.Run("no sources", func(t *testing.T) {
		j := newJudge(t, judge.Config{Engine: newEngine(t, policy.Config{})})
		if v, err := j.Judge(ctx, input(t, gpuRef(gpu, 1), 2)); err == nil || !strings.Contains(v.Reasons[0], "no module sources") {
			t.Fatalf("%q, %v", v.Reasons, err)
		}
	})

	t.Run("native judge", func(t *testing.T) {
		var n judge.Native
		v, err := n.Judge(ctx, input(t, gpuRef(gpu, 1), 2))
		if !errors.As(err, new(*judge.UnavailableError)) || v.Word != sdk.Indeterminate {
			t.Fatalf("the native judge on a gpulimit lane: %#x %v, %v", v.Word, v.Reasons, err)
		}
		sp := judge.Params(input(t, nil, 1))
		if v, err := n.Judge(ctx, input(t, &treaty.PolicyRef{ABI: "fedpolicy/1", Module: policy.ModuleCID(std.Wasm()).String(), Params: sp.Encode()}, 2)); err != nil || !v.Allowed() {
			t.Fatalf("the native judge on a lane naming std.wasm's CID: %#x %v, %v", v.Word, v.Reasons, err)
		}
	})
}

// TestHostQuotasBindEveryModule: on a lane whose treaty names another
// module than the standard law, the lane's quotas are still enforced, by
// the host, before the module runs.
func TestHostQuotasBindEveryModule(t *testing.T) {
	e := newEngine(t, policy.Config{})
	gpu := policy.ModuleCID(gpulimittest.Wasm())
	j := newJudge(t, judge.Config{Engine: e, Sources: []judge.Source{newSource(map[cid.Cid][]byte{gpu: gpulimittest.Wasm()}).Source("peers")}})
	in := input(t, gpuRef(gpu, 4), 2)
	in.Usage.Inflight = in.Limits.MaxInflight
	v, err := j.Judge(t.Context(), in)
	if err != nil || v.Allowed() || v.Module != "" || len(v.Reasons) != 1 || v.Reasons[0] != std.ReasonInflightQuota {
		t.Fatalf("a full lane under gpulimit: %#x %v by %q, %v; want a host-side %s denial", v.Word, v.Reasons, v.Module, err, std.ReasonInflightQuota)
	}
	in.Usage.Inflight--
	if v, err := j.Judge(t.Context(), in); err != nil || !v.Allowed() {
		t.Fatalf("one below the quota: %#x %v, %v", v.Word, v.Reasons, err)
	}
}

// TestOneFetchForManyOrders: orders arriving while their module is fetched
// wait on that one fetch (run with -race); an order whose context ends
// first is denied while the fetch goes on for the others.
func TestOneFetchForManyOrders(t *testing.T) {
	e := newEngine(t, policy.Config{})
	gpu := policy.ModuleCID(gpulimittest.Wasm())
	src := newSource(map[cid.Cid][]byte{gpu: gpulimittest.Wasm()})
	src.gate = make(chan struct{})
	j := newJudge(t, judge.Config{Engine: e, Sources: []judge.Source{src.Source("peers")}})
	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if v, _ := j.Judge(short, input(t, gpuRef(gpu, 1), 2)); v.Word != sdk.Indeterminate || !strings.Contains(v.Reasons[0], "deadline") {
		t.Fatalf("an order whose deadline passed mid-fetch: %#x %q", v.Word, v.Reasons)
	}
	var wg sync.WaitGroup
	words := make([]uint32, 8)
	for i := range words {
		wg.Go(func() {
			v, err := j.Judge(t.Context(), input(t, gpuRef(gpu, 1), 2))
			if err != nil {
				t.Error(err)
			}
			words[i] = v.Word
		})
	}
	close(src.gate)
	wg.Wait()
	for i, w := range words {
		if w != gpulimit.BitTooManyGPUs {
			t.Errorf("order %d: %#x", i, w)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Errorf("the source was asked %d times, want once", n)
	}
}

// TestEvictedModulesComeBack: with room for one module besides the
// standard law, two lanes' modules take turns; each order is still judged
// by its own lane's module, fetched again after an eviction.
func TestEvictedModulesComeBack(t *testing.T) {
	e := newEngine(t, policy.Config{MaxModules: 1})
	a := gpulimittest.Wasm()
	b := pad(t, a, len(a)+100) // the same rules under another CID
	ca, cb := policy.ModuleCID(a), policy.ModuleCID(b)
	src := newSource(map[cid.Cid][]byte{ca: a, cb: b})
	j := newJudge(t, judge.Config{Engine: e, Sources: []judge.Source{src.Source("peers")}})
	for i := range 4 {
		mod, limit := ca, int64(1)
		if i%2 == 1 {
			mod, limit = cb, 4
		}
		v, err := j.Judge(t.Context(), input(t, gpuRef(mod, limit), 2))
		want := uint32(sdk.Allow)
		if limit == 1 {
			want = gpulimit.BitTooManyGPUs
		}
		if err != nil || v.Word != want || v.Module != mod.String() {
			t.Fatalf("order %d: %#x by %s, %v; want %#x by %s", i, v.Word, v.Module, err, want, mod)
		}
	}
	if n := src.calls.Load(); n != 4 {
		t.Errorf("%d fetches for 4 alternating orders with room for one module, want 4", n)
	}
}
