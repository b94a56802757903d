package bench

import (
	"context"
	_ "embed"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
	"github.com/aurora-federation/aurora/policy/std/stdtest"
)

//go:embed std.rego
var stdRego string

// opaLaw is the standard law as an OPA prepared query.
type opaLaw struct{ q rego.PreparedEvalQuery }

func newOPALaw(tb testing.TB, p std.Params) *opaLaw {
	tb.Helper()
	regions := make([]any, len(p.AllowedRegions))
	for i, r := range p.AllowedRegions {
		regions[i] = r
	}
	store := inmem.NewFromObject(map[string]any{"params": map[string]any{
		"allowed_regions":         regions,
		"min_provider_reputation": p.MinProviderReputation,
		"max_price_per_gpu_hour":  p.MaxPricePerGPUHour,
		"max_inflight":            p.MaxInflight,
		"orders_per_min":          p.OrdersPerMin,
		"gpu_hours_per_day":       p.GPUHoursPerDay,
	}})
	q, err := rego.New(
		rego.Query("x = data.aurora.std.deny"),
		rego.Module("std.rego", stdRego),
		rego.Store(store),
	).PrepareForEval(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return &opaLaw{q: q}
}

// input converts facts as a host would: a map of the facts' JSON names.
func input(f *sdk.OrderFacts) map[string]any {
	var regions []any
	for _, r := range f.RequestedRegions() {
		regions = append(regions, r.String())
	}
	return map[string]any{
		"now": f.Now, "order_expires": f.OrderExpires, "nonce_fresh": f.NonceFresh,
		"gpu_count": int64(f.GPUCount), "gpu_hours": int64(f.GPUHours),
		"max_price_per_hour": f.MaxPricePerHour, "offer_price_per_hour": f.OfferPricePerHour,
		"provider_reputation": int64(f.ProviderReputation), "inflight_used": int64(f.InflightUsed),
		"orders_last_minute": int64(f.OrdersLastMinute), "gpu_hours_used_today": int64(f.GPUHoursUsedToday),
		"regions": regions, "provider_region": f.ProviderRegion.String(),
	}
}

func (l *opaLaw) word(tb testing.TB, f *sdk.OrderFacts) uint32 {
	rs, err := l.q.Eval(context.Background(), rego.EvalInput(input(f)))
	if err != nil || len(rs) != 1 {
		tb.Fatalf("opa: %v %v", rs, err)
	}
	var w uint32
	for _, r := range rs[0].Bindings["x"].([]any) {
		i := slices.Index(std.Reasons(), r.(string))
		if i < 0 {
			tb.Fatalf("opa: unknown reason %v", r)
		}
		w |= 1 << i
	}
	return w
}

// TestRegoAgrees checks the baseline decides like the law it stands for.
func TestRegoAgrees(t *testing.T) {
	cases := append(stdtest.Named(), stdtest.Corpus(7, 2000, 20)...)
	laws := map[string]*opaLaw{}
	for _, c := range cases {
		k := string(c.Params.Encode())
		if laws[k] == nil {
			laws[k] = newOPALaw(t, c.Params)
		}
		if got, want := laws[k].word(t, &c.Facts), std.Evaluate(&c.Facts, &c.Params); got != want {
			t.Fatalf("%s %+v: opa %#x, std %#x", c.Name, c.Facts, got, want)
		}
	}
}

type samples []time.Duration

func (s samples) q(p float64) float64 {
	slices.Sort(s)
	return float64(s[min(int(p*float64(len(s))), len(s)-1)].Nanoseconds())
}

func newEngine(tb testing.TB) (*policy.Engine, *policy.Prepared) {
	tb.Helper()
	e, err := policy.New(policy.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close(context.Background()) })
	id, err := e.LoadStd(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	p := stdtest.BaseParams()
	prep, err := e.Prepare(context.Background(), id, p.Encode(), policy.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	return e, prep
}

// evalWasm decides facts, tolerating a deadline kill (a thread descheduled
// past 50 ms on a shared box is killed like a looping guest), which it
// counts.
func evalWasm(tb testing.TB, p *policy.Prepared, facts []policy.Facts, out []policy.Decision, kills *int) {
	if err := p.Eval(context.Background(), facts, out); err != nil {
		if !policy.IsTimeout(err) {
			tb.Fatal(err)
		}
		*kills++
	}
}

// BenchmarkWasmDecision: one order per call, production configuration
// (termination checks, 50 ms deadline).
func BenchmarkWasmDecision(b *testing.B) {
	_, p := newEngine(b)
	facts := []policy.Facts{stdtest.AllowFacts()}
	out := make([]policy.Decision, 1)
	s := make(samples, 0, min(b.N, 1<<20))
	kills := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		evalWasm(b, p, facts, out, &kills)
		if len(s) < cap(s) {
			s = append(s, time.Since(t0))
		}
	}
	b.ReportMetric(s.q(0.5), "p50-ns")
	b.ReportMetric(s.q(0.99), "p99-ns")
	b.ReportMetric(float64(kills), "kills")
}

// BenchmarkWasmBatch16: 16 orders per call; figures per order.
func BenchmarkWasmBatch16(b *testing.B) {
	_, p := newEngine(b)
	facts := make([]policy.Facts, 16)
	for i := range facts {
		facts[i] = stdtest.AllowFacts()
	}
	out := make([]policy.Decision, 16)
	s := make(samples, 0, min(b.N, 1<<20))
	kills := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		evalWasm(b, p, facts, out, &kills)
		if len(s) < cap(s) {
			s = append(s, time.Since(t0))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(16*b.N), "ns/order")
	b.ReportMetric(s.q(0.5)/16, "order-p50-ns")
	b.ReportMetric(s.q(0.99)/16, "order-p99-ns")
	b.ReportMetric(float64(kills), "kills")
}

// BenchmarkWasmThroughput: batches of 16 from GOMAXPROCS goroutines.
func BenchmarkWasmThroughput(b *testing.B) {
	_, p := newEngine(b)
	var n, kills atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		facts := make([]policy.Facts, 16)
		for i := range facts {
			facts[i] = stdtest.AllowFacts()
		}
		out := make([]policy.Decision, 16)
		for pb.Next() {
			if err := p.Eval(context.Background(), facts, out); err != nil {
				if !policy.IsTimeout(err) {
					b.Error(err)
					return
				}
				kills.Add(1)
				continue
			}
			n.Add(16)
		}
	})
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "decisions/s")
	b.ReportMetric(float64(kills.Load()), "kills")
}

// BenchmarkWasmColdStart: a restart with a warm disk cache: new engine,
// load of std.wasm, first decision.
func BenchmarkWasmColdStart(b *testing.B) {
	dir := b.TempDir()
	p := stdtest.BaseParams()
	params := p.Encode()
	start := func() time.Duration {
		t0 := time.Now()
		e, err := policy.New(policy.Config{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close(context.Background())
		id, err := e.Load(context.Background(), std.Wasm())
		if err != nil {
			b.Fatal(err)
		}
		out := make([]policy.Decision, 1)
		if err := e.Eval(context.Background(), id, params, []policy.Facts{stdtest.AllowFacts()}, out); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	start()
	s := make(samples, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s = append(s, start())
	}
	b.ReportMetric(s.q(0.5)/1e6, "p50-ms")
}

// BenchmarkOPADecision: the same rules in Rego, OPA's native prepared query.
func BenchmarkOPADecision(b *testing.B) {
	l := newOPALaw(b, stdtest.BaseParams())
	f := stdtest.AllowFacts()
	s := make(samples, 0, min(b.N, 1<<20))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if l.word(b, &f) != 0 {
			b.Fatal("opa denied")
		}
		if len(s) < cap(s) {
			s = append(s, time.Since(t0))
		}
	}
	b.ReportMetric(s.q(0.5), "p50-ns")
	b.ReportMetric(s.q(0.99), "p99-ns")
}

// BenchmarkCompare interleaves single decisions of the WASM law and the
// Rego law (so both see the same machine load) and reports each one's p50
// and p99 and OPA's time over WASM's (higher = WASM faster).
func BenchmarkCompare(b *testing.B) {
	_, p := newEngine(b)
	l := newOPALaw(b, stdtest.BaseParams())
	f := stdtest.AllowFacts()
	facts := []policy.Facts{f}
	out := make([]policy.Decision, 1)
	ws := make(samples, 0, min(b.N, 1<<20))
	os := make(samples, 0, min(b.N, 1<<20))
	kills := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		evalWasm(b, p, facts, out, &kills)
		t1 := time.Now()
		l.word(b, &f)
		t2 := time.Now()
		if len(ws) < cap(ws) {
			ws = append(ws, t1.Sub(t0))
			os = append(os, t2.Sub(t1))
		}
	}
	b.StopTimer()
	b.ReportMetric(ws.q(0.5), "wasm-p50-ns")
	b.ReportMetric(ws.q(0.99), "wasm-p99-ns")
	b.ReportMetric(os.q(0.5), "opa-p50-ns")
	b.ReportMetric(os.q(0.99), "opa-p99-ns")
	b.ReportMetric(os.q(0.5)/ws.q(0.5), "opa/wasm-p50")
	b.ReportMetric(os.q(0.99)/ws.q(0.99), "opa/wasm-p99")
	b.ReportMetric(float64(kills), "kills")
}
