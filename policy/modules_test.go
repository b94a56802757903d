package policy

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std/stdtest"
)

// versioned is a distinct allow-all module: only its manifest's version
// differs, so each has its own CID.
func versioned(v int) []byte {
	g := guest(allowAll)
	g.manifest = testManifest(func(m *sdk.Manifest) { m.Version = fmt.Sprint(v) })
	return g.bytes()
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// TestModuleLimit: MaxModules modules besides the standard law stay
// loaded; one more unloads the least recently evaluated; an unloaded
// module (evicted or by Unload) fails with ErrUnknownModule, stale
// preparations included, until it is loaded again.
func TestModuleLimit(t *testing.T) {
	if _, err := New(Config{MaxModules: -1}); err == nil {
		t.Fatal("a negative MaxModules was accepted")
	}
	reg := prometheus.NewRegistry()
	e := newTestEngine(t, Config{MaxModules: 2, Registerer: reg})
	ctx := t.Context()
	stdID, err := e.LoadStd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	load := func(v int) cid.Cid {
		t.Helper()
		id, err := e.Load(ctx, versioned(v))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	stdParams := stdtest.BaseParams()
	eval := func(id cid.Cid) error {
		var params []byte
		if id == stdID {
			params = stdParams.Encode()
		}
		out := make([]Decision, 1)
		err := e.Eval(ctx, id, params, []Facts{fresh()}, out)
		if err == nil && !out[0].Allowed() {
			t.Fatalf("module %s did not allow: %+v", id, out[0])
		}
		return err
	}
	m1, m2 := load(1), load(2)
	if n := counterValue(t, e.metrics.evictions); n != 0 {
		t.Fatalf("at the limit (2 modules and the standard law): %v evictions", n)
	}
	if g := gaugeValue(t, e.metrics.modules); g != 3 {
		t.Fatalf("aurora_policy_modules_loaded = %v, want 3", g)
	}
	// m1 is used after m2: m2 is the least recently used.
	if err := eval(m2); err != nil {
		t.Fatal(err)
	}
	if err := eval(m1); err != nil {
		t.Fatal(err)
	}
	m3 := load(3)
	for id, want := range map[cid.Cid]bool{stdID: true, m1: true, m2: false, m3: true} {
		if got := e.Loaded(id); got != want {
			t.Errorf("beyond the limit: Loaded(%s) = %v, want %v", id, got, want)
		}
	}
	if n := counterValue(t, e.metrics.evictions); n != 1 {
		t.Fatalf("beyond the limit: %v evictions, want 1", n)
	}
	if g := gaugeValue(t, e.metrics.modules); g != 3 {
		t.Fatalf("aurora_policy_modules_loaded = %v after an eviction, want 3", g)
	}
	if err := eval(m2); !errors.Is(err, ErrUnknownModule) {
		t.Fatalf("evaluating an evicted module: %v, want ErrUnknownModule", err)
	}

	// A preparation held across an Unload fails, and does not resurrect
	// the module.
	p3, err := e.Prepare(ctx, m3, nil, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Unload(ctx, m3); err != nil {
		t.Fatal(err)
	}
	out := make([]Decision, 1)
	if err := p3.Eval(ctx, []Facts{fresh()}, out); !errors.Is(err, ErrUnknownModule) || !out[0].Indeterminate() {
		t.Fatalf("a stale preparation after Unload: %v, %+v; want ErrUnknownModule and indeterminate", err, out[0])
	}
	if e.Loaded(m3) {
		t.Fatal("a stale preparation reloaded its module")
	}
	if load(3) != m3 || eval(m3) != nil {
		t.Fatal("reloading an unloaded module")
	}
	// The standard law is never evicted.
	for v := 4; v < 8; v++ {
		load(v)
	}
	if !e.Loaded(stdID) {
		t.Fatal("the standard law was evicted")
	}
	if err := eval(stdID); err != nil {
		t.Fatal(err)
	}
}

// TestModuleLimitConcurrent evaluates while other modules are loaded and
// evicted (run with -race): every evaluation either decides or fails with
// ErrUnknownModule, and nothing deadlocks.
func TestModuleLimitConcurrent(t *testing.T) {
	e := newTestEngine(t, Config{MaxModules: 1})
	ctx := t.Context()
	ids := make([]cid.Cid, 6)
	for i := range ids {
		ids[i] = ModuleCID(versioned(100 + i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Go(func() {
			for i := range 40 {
				id := ids[(w+i)%len(ids)]
				if !e.Loaded(id) {
					if _, err := e.Load(ctx, versioned(100+(w+i)%len(ids))); err != nil {
						errs <- err
						return
					}
				}
				out := make([]Decision, 1)
				err := e.Eval(ctx, id, nil, []Facts{fresh()}, out)
				if err != nil && !errors.Is(err, ErrUnknownModule) {
					errs <- err
					return
				}
				if err == nil && !out[0].Allowed() {
					errs <- fmt.Errorf("module %s: %+v", id, out[0])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	for _, id := range ids {
		if e.Loaded(id) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d modules loaded, limit 1", n)
	}
}
