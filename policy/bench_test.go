package policy

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
	"github.com/aurora-federation/aurora/policy/std/stdtest"
)

// The benchmarks run in the production configuration: termination checks
// compiled in (WithCloseOnContextDone) and a 50 ms deadline on every call.
// Latency percentiles come from individually timed operations.

// Samples records individually timed operations for percentiles.
type samples []time.Duration

func (s samples) report(b *testing.B, per int, prefix string) {
	if len(s) == 0 {
		return
	}
	slices.Sort(s)
	q := func(p float64) float64 {
		return float64(s[min(int(p*float64(len(s))), len(s)-1)].Nanoseconds()) / float64(per)
	}
	b.ReportMetric(q(0.50), prefix+"p50-ns")
	b.ReportMetric(q(0.99), prefix+"p99-ns")
}

const maxSamples = 1 << 20

func benchStd(b *testing.B) (*Engine, *Prepared) {
	b.Helper()
	e := newTestEngine(b, Config{DefaultDeadline: DefaultDeadline})
	id, err := e.LoadStd(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	p := stdtest.BaseParams()
	prep, err := e.Prepare(context.Background(), id, p.Encode(), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	return e, prep
}

// countKill tolerates a deadline kill (on a box shared with other work, a
// thread descheduled past the 50 ms deadline is killed like a looping
// guest) and counts it; any other error fails the benchmark.
func countKill(b *testing.B, err error) int {
	if !IsTimeout(err) {
		b.Fatal(err)
	}
	return 1
}

// BenchmarkDecision is one order per guest call.
func BenchmarkDecision(b *testing.B) {
	_, p := benchStd(b)
	facts := []Facts{stdtest.AllowFacts()}
	out := make([]Decision, 1)
	ctx := context.Background()
	s := make(samples, 0, min(b.N, maxSamples))
	var kills int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := p.Eval(ctx, facts, out); err != nil {
			kills += countKill(b, err)
		}
		if len(s) < cap(s) {
			s = append(s, time.Since(t0))
		}
	}
	b.StopTimer()
	if !out[0].Allowed() {
		b.Fatalf("decision %+v", out[0])
	}
	s.report(b, 1, "")
	b.ReportMetric(float64(kills), "kills")
}

// BenchmarkBatch16 is 16 orders per guest call; figures are per order.
func BenchmarkBatch16(b *testing.B) {
	_, p := benchStd(b)
	facts := make([]Facts, 16)
	for i := range facts {
		facts[i] = stdtest.AllowFacts()
	}
	out := make([]Decision, len(facts))
	ctx := context.Background()
	s := make(samples, 0, min(b.N, maxSamples))
	var kills int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := p.Eval(ctx, facts, out); err != nil {
			kills += countKill(b, err)
		}
		if len(s) < cap(s) {
			s = append(s, time.Since(t0))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(facts)), "ns/order")
	s.report(b, len(facts), "order-")
	b.ReportMetric(float64(kills), "kills")
}

// BenchmarkThroughput evaluates batches of 16 from GOMAXPROCS goroutines
// through the pool and reports decisions per second.
func BenchmarkThroughput(b *testing.B) {
	_, p := benchStd(b)
	var decisions, kills atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		facts := make([]Facts, 16)
		for i := range facts {
			facts[i] = stdtest.AllowFacts()
		}
		out := make([]Decision, len(facts))
		for pb.Next() {
			if err := p.Eval(context.Background(), facts, out); err != nil {
				kills.Add(int64(countKill(b, err)))
				continue
			}
			decisions.Add(int64(len(facts)))
		}
	})
	b.ReportMetric(float64(decisions.Load())/b.Elapsed().Seconds(), "decisions/s")
	b.ReportMetric(float64(kills.Load()), "kills")
}

// BenchmarkColdStart is a node restart with a warm disk cache: a new engine,
// load of the standard law (compile from the cache, checks, probe instance)
// and the first decision. LoadStd's conformance run is measured separately
// as BenchmarkLoadStd.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	warm := func() time.Duration {
		t0 := time.Now()
		e, err := New(Config{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		id, err := e.Load(context.Background(), std.Wasm())
		if err != nil {
			b.Fatal(err)
		}
		p := stdtest.BaseParams()
		out := make([]Decision, 1)
		if err := e.Eval(context.Background(), id, p.Encode(), []Facts{stdtest.AllowFacts()}, out); err != nil || !out[0].Allowed() {
			b.Fatal(err, out[0])
		}
		took := time.Since(t0)
		if err := e.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		return took
	}
	warm() // fill the disk cache
	var total time.Duration
	s := make(samples, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := warm()
		total += d
		s = append(s, d)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
	s.report(b, 1, "start-")
}

// BenchmarkLoadStd is LoadStd on a warm cache: load plus the embedded
// conformance vectors (several params sets, one instance each).
func BenchmarkLoadStd(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e, err := New(Config{CacheDir: sharedCache})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.LoadStd(context.Background()); err != nil {
			b.Fatal(err)
		}
		if err := e.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNative is the standard law run directly in Go, as the simulator
// does.
func BenchmarkNative(b *testing.B) {
	law, err := std.New(stdtest.BaseParams())
	if err != nil {
		b.Fatal(err)
	}
	f := stdtest.AllowFacts()
	var w uint32
	for i := 0; i < b.N; i++ {
		w |= law.Evaluate(&f)
	}
	if w != sdk.Allow {
		b.Fatal(w)
	}
}

// BenchmarkDecisionHandWritten is BenchmarkDecision with a hand-written
// guest that decides nothing: the engine's and wazero's per-call cost alone.
func BenchmarkDecisionHandWritten(b *testing.B) {
	e := newTestEngine(b, Config{DefaultDeadline: DefaultDeadline})
	id, err := e.Load(context.Background(), guest(allowAll).bytes())
	if err != nil {
		b.Fatal(err)
	}
	p, err := e.Prepare(context.Background(), id, nil, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	facts := []Facts{stdtest.AllowFacts()}
	out := make([]Decision, 1)
	s := make(samples, 0, min(b.N, maxSamples))
	var kills int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := p.Eval(context.Background(), facts, out); err != nil {
			kills += countKill(b, err)
		}
		if len(s) < cap(s) {
			s = append(s, time.Since(t0))
		}
	}
	b.StopTimer()
	s.report(b, 1, "")
	b.ReportMetric(float64(kills), "kills")
}
