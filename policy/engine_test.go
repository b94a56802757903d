package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
	"github.com/aurora-federation/aurora/policy/std/stdtest"
	"github.com/aurora-federation/aurora/treaty"
)

// sharedCache keeps compiled code across the tests' engines: the standard
// law takes about half a second to compile cold.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aurora-policy-test-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := func() int {
		defer os.RemoveAll(dir)
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func newTestEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = sharedCache
	}
	if cfg.DefaultDeadline == 0 {
		// Far above scheduling noise: this box is shared, and a descheduled
		// goroutine can miss a 50 ms deadline without any guest at fault.
		cfg.DefaultDeadline = 500 * time.Millisecond
	}
	e, err := New(cfg)
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

func fresh() Facts { f := stdtest.AllowFacts(); return f }

func TestLoadChecks(t *testing.T) {
	good := guest(allowAll)
	tests := []struct {
		name   string
		mod    func(m *wmodule)
		raw    []byte // overrides mod
		check  Check
		detail string
	}{
		{name: "not wasm", raw: []byte("\x7fELF...."), check: CheckFormat},
		{name: "truncated section", raw: append(append([]byte{}, wasmHeader...), 0x01, 0x80), check: CheckFormat},
		{name: "no manifest", mod: func(m *wmodule) { m.manifest = nil }, check: CheckManifest, detail: "no fedpolicy.manifest"},
		{name: "garbage manifest", mod: func(m *wmodule) { m.manifest = []byte{0xff, 0x00} }, check: CheckManifest},
		{name: "two manifests", mod: func(m *wmodule) { m.extra = [][2][]byte{{[]byte(sdk.ManifestSection), testManifest(nil)}} }, check: CheckManifest, detail: "2 fedpolicy.manifest"},
		{name: "manifest ABI major 2", mod: func(m *wmodule) { m.manifest = testManifest(func(mf *sdk.Manifest) { mf.ABI = "2.0" }) }, check: CheckABI, detail: "major 1"},
		{name: "manifest record size", mod: func(m *wmodule) { m.manifest = testManifest(func(mf *sdk.Manifest) { mf.RecordSize = 128 }) }, check: CheckABI, detail: "record size"},
		{name: "manifest schema", mod: func(m *wmodule) {
			m.manifest = testManifest(func(mf *sdk.Manifest) { mf.InputSchema = "order-facts/2" })
		}, check: CheckABI},
		{name: "lies about ABI", mod: func(m *wmodule) { m.funcs[0].body = i32c(2 << 16) }, check: CheckABI, detail: "fp_abi_version answers 2.0"},
		{name: "wasi path_open", mod: func(m *wmodule) {
			m.imports = []wimport{{module: "wasi_snapshot_preview1", name: "path_open", params: []byte{tI32, tI32, tI32, tI32, tI32, 0x7e, 0x7e, tI32, tI32}, results: []byte{tI32}}}
		}, check: CheckImports, detail: "path_open"},
		{name: "wasi sock_accept", mod: func(m *wmodule) {
			m.imports = []wimport{{module: "wasi_snapshot_preview1", name: "sock_accept", params: []byte{tI32, tI32, tI32}, results: []byte{tI32}}}
		}, check: CheckImports, detail: "sock_accept"},
		{name: "non-wasi import", mod: func(m *wmodule) { m.imports = []wimport{{module: "env", name: "now"}} }, check: CheckImports, detail: `"env"."now"`},
		{name: "imported memory", mod: func(m *wmodule) {
			m.imports = []wimport{{module: "env", name: "memory", memory: true}}
			m.noMemory = true
		}, check: CheckImports, detail: "a memory"},
		{name: "no memory", mod: func(m *wmodule) { m.noMemory = true }, check: CheckMemory},
		{name: "memory over limit", mod: func(m *wmodule) { m.memMin = 200 }, check: CheckMemory, detail: "at least 200"},
		{name: "missing fp_eval", mod: func(m *wmodule) { m.funcs = m.funcs[:5] }, check: CheckExports, detail: "fp_eval"},
		{name: "fp_eval wrong type", mod: func(m *wmodule) { m.funcs[5].params = nil; m.funcs[5].body = i32c(1) }, check: CheckExports, detail: "fp_eval has type"},
		{name: "input outside memory", mod: func(m *wmodule) { m.funcs[1].body = i32c(0x7fff0000) }, check: CheckABI, detail: "input region"},
		{name: "regions overlap", mod: func(m *wmodule) { m.funcs[3].body = i32c(100) }, check: CheckABI, detail: "overlap"},
		{name: "_initialize traps", mod: func(m *wmodule) {
			m.funcs = append(m.funcs, wfunc{export: "_initialize", body: unreachable})
		}, check: CheckInstantiate},
		{name: "_initialize loops", mod: func(m *wmodule) {
			m.funcs = append(m.funcs, wfunc{export: "_initialize", body: loopForever})
		}, check: CheckInstantiate, detail: "instantiate"},
		{name: "wrong wasi signature", mod: func(m *wmodule) {
			m.imports = []wimport{{module: "wasi_snapshot_preview1", name: "sched_yield", params: []byte{tI32}}}
		}, check: CheckInstantiate},
	}
	e := newTestEngine(t, Config{InitTimeout: 200 * time.Millisecond})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw
			if raw == nil {
				m := good
				m.funcs = append([]wfunc(nil), good.funcs...)
				tt.mod(&m)
				raw = m.bytes()
			}
			_, err := e.Load(t.Context(), raw)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load error = %v, want a *LoadError", err)
			}
			if le.Check != tt.check {
				t.Errorf("check = %q, want %q (%v)", le.Check, tt.check, err)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q does not mention %q", err, tt.detail)
			}
		})
	}
	// The engine still serves after every rejection.
	id, err := e.Load(t.Context(), good.bytes())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Decision, 1)
	if err := e.Eval(t.Context(), id, nil, []Facts{fresh()}, out); err != nil || !out[0].Allowed() {
		t.Fatalf("good module after rejections: %v, %+v", err, out[0])
	}
}

func TestLoadSizeAndHash(t *testing.T) {
	e := newTestEngine(t, Config{MaxModuleBytes: 1 << 10})
	big := make([]byte, 2<<10)
	_, err := e.Load(t.Context(), big)
	var le *LoadError
	if !errors.As(err, &le) || le.Check != CheckSize {
		t.Fatalf("oversize: %v", err)
	}
	good := guest(allowAll).bytes()
	other := guest(wrongCount).bytes()
	err = e.LoadExpect(t.Context(), ModuleCID(other), good)
	var hm *HashMismatchError
	if !errors.As(err, &hm) || !hm.Want.Equals(ModuleCID(other)) || !hm.Got.Equals(ModuleCID(good)) {
		t.Fatalf("hash mismatch: %v", err)
	}
	if err := e.LoadExpect(t.Context(), treaty.CIDOf(good), good); !errors.As(err, &le) || le.Check != CheckHash {
		t.Fatalf("dag-cbor CID for a module: %v", err)
	}
	if err := e.LoadExpect(t.Context(), ModuleCID(good), good); err != nil {
		t.Fatal(err)
	}
}

// TestHostileEval covers guests that misbehave during fp_eval: each call
// fails closed (Indeterminate and an *EvalError with the right cause), the
// instance is discarded, and the engine keeps serving.
func TestHostileEval(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		cause Cause
	}{
		{"infinite loop", loopIfNonceFresh, CauseDeadline},
		{"trap", trapOnReal, CauseTrap},
		{"out of bounds write", storeOutOfBounds, CauseTrap},
		{"wrong count", wrongCount, CauseABI},
		{"reserved bits", reservedBits, CauseOutput},
	}
	reg := prometheus.NewRegistry()
	e := newTestEngine(t, Config{DefaultDeadline: 200 * time.Millisecond, Registerer: reg, PoolSize: 1})
	good, err := e.Load(t.Context(), guest(allowAll).bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := e.Load(t.Context(), guest(tt.body).bytes())
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.Prepare(t.Context(), id, nil, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			facts := []Facts{fresh(), fresh(), fresh()}
			out := make([]Decision, len(facts))
			err = p.Eval(t.Context(), facts, out)
			var ee *EvalError
			if !errors.As(err, &ee) || ee.Cause != tt.cause {
				t.Fatalf("Eval error = %v, want an *EvalError with cause %q", err, tt.cause)
			}
			for i, d := range out {
				if tt.cause == CauseOutput && i > 0 {
					break // only the bad word is replaced; its neighbours stand
				}
				if d.Allowed() {
					t.Errorf("decision %d allowed after %s", i, tt.cause)
				}
			}
			if out[0].Word != sdk.Indeterminate || out[0].Reasons[0] != ReasonIndeterminate {
				t.Errorf("decision 0 = %+v, want indeterminate", out[0])
			}
			if tt.cause == CauseDeadline {
				if !IsTimeout(err) {
					t.Error("IsTimeout = false")
				}
				// The killed instance is gone: the pool (size 1) makes a new
				// one, which decides a non-looping order normally.
				calm := fresh()
				calm.NonceFresh = false
				if err := p.Eval(t.Context(), []Facts{calm}, out[:1]); err != nil || !out[0].Allowed() {
					t.Fatalf("after a kill: %v %+v", err, out[0])
				}
			}
			if err := e.Eval(t.Context(), good, nil, facts[:1], out[:1]); err != nil || !out[0].Allowed() {
				t.Fatalf("good module after %s: %v %+v", tt.name, err, out[0])
			}
		})
	}
	if got := counterValue(t, e.metrics.failures.WithLabelValues(string(CauseDeadline))); got != 1 {
		t.Errorf("deadline failures = %v, want 1", got)
	}
	if got := counterValue(t, e.metrics.decisions.WithLabelValues("indeterminate")); got < 10 {
		t.Errorf("indeterminate decisions = %v, want at least 10", got)
	}
}

// TestLoopDoesNotFreezeGC runs a garbage collection while a guest spins:
// with termination checks compiled in, the collector's stop-the-world does
// not wait for the guest (without them, the process freezes).
func TestLoopDoesNotFreezeGC(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a one-second deadline")
	}
	const deadline = time.Second
	e := newTestEngine(t, Config{DefaultDeadline: deadline})
	id, err := e.Load(t.Context(), guest(loopIfNonceFresh).bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Prepare(t.Context(), id, nil, Limits{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		out := make([]Decision, 1)
		done <- e.Eval(context.Background(), id, nil, []Facts{fresh()}, out)
	}()
	// Wait until the guest is running.
	for e.wd.busy.Load() == 0 {
		if time.Since(start) > deadline {
			t.Fatal("the guest call never started")
		}
		runtime.Gosched()
	}
	gcStart := time.Now()
	runtime.GC()
	gcTook := time.Since(gcStart)
	err = <-done
	killedAfter := time.Since(start)
	if !IsTimeout(err) {
		t.Fatalf("Eval = %v, want a timeout", err)
	}
	if killedAfter < deadline {
		t.Errorf("killed after %s, before the %s deadline", killedAfter, deadline)
	}
	// The collection finished while the guest still spun, not after the kill.
	if gcTook >= deadline/2 {
		t.Errorf("runtime.GC took %s with a spinning guest", gcTook)
	}
	runtime.GC() // and after the kill
}

func TestMemoryLimit(t *testing.T) {
	e := newTestEngine(t, Config{})
	id, err := e.Load(t.Context(), guest(growUntilRefused).bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, pages := range []uint32{4, 16} {
		p, err := e.Prepare(t.Context(), id, nil, Limits{MemoryPages: pages})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]Decision, 1)
		if err := p.Eval(t.Context(), []Facts{fresh()}, out); err != nil {
			t.Fatalf("limit %d: %v", pages, err)
		}
		// The guest reports memory.size after memory.grow was refused.
		if out[0].Word != pages {
			t.Errorf("limit %d: guest grew to %d pages", pages, out[0].Word)
		}
		if got := p.Limits().MemoryPages; got != pages {
			t.Errorf("Limits().MemoryPages = %d", got)
		}
	}
	// A grown instance is replaced rather than kept.
	p, _ := e.Prepare(t.Context(), id, nil, Limits{MemoryPages: 4})
	if n := len(p.pool.free); n != 0 {
		t.Errorf("%d worn instances kept in the pool", n)
	}
}

func TestProcExit(t *testing.T) {
	m := guest(onReal(cat(i32c(3), []byte{0x10, 0x00}))) // call proc_exit(3)
	m.imports = []wimport{{module: "wasi_snapshot_preview1", name: "proc_exit", params: []byte{tI32}}}
	e := newTestEngine(t, Config{})
	id, err := e.Load(t.Context(), m.bytes())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Decision, 1)
	err = e.Eval(t.Context(), id, nil, []Facts{fresh()}, out)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Cause != CauseExit || !strings.Contains(err.Error(), "code 3") {
		t.Fatalf("Eval = %v, want exit code 3", err)
	}
	if !out[0].Indeterminate() {
		t.Errorf("decision %+v", out[0])
	}
}

func TestParamsRefused(t *testing.T) {
	e := newTestEngine(t, Config{})
	id, err := e.LoadStd(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var q sdk.Params
	q.SetInt("no_such_key", 1)
	tests := []struct {
		name   string
		params []byte
		detail string
	}{
		{"not cbor", []byte{0xff}, "not canonical"},
		{"unknown key", q.Encode(), "no_such_key: unknown key"},
		{"missing keys", (&sdk.Params{}).Encode(), "missing"},
		{"unsorted regions", (&StdParams{AllowedRegions: []string{"b", "a"}}).Encode(), "sorted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Prepare(t.Context(), id, tt.params, Limits{})
			var le *LoadError
			if !errors.As(err, &le) || le.Check != CheckParams || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Prepare = %v, want a params error mentioning %q", err, tt.detail)
			}
			out := make([]Decision, 1)
			if err := e.Eval(t.Context(), id, tt.params, []Facts{fresh()}, out); err == nil || !out[0].Indeterminate() {
				t.Fatalf("Eval with refused params: %v %+v", err, out[0])
			}
		})
	}
	// A module without fp_configure refuses non-empty params.
	hand, err := e.Load(t.Context(), guest(allowAll).bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Prepare(t.Context(), hand, (&StdParams{}).Encode(), Limits{}); err == nil {
		t.Fatal("params accepted by a module without fp_configure")
	}
}

func TestStdEval(t *testing.T) {
	e := newTestEngine(t, Config{})
	id, err := e.LoadStd(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if id2, err := e.LoadStd(t.Context()); err != nil || !id2.Equals(id) {
		t.Fatalf("LoadStd again: %v %v", id2, err)
	}
	p := stdtest.BaseParams()
	params := p.Encode()
	named := stdtest.Named()
	var facts []Facts
	var want []Decision
	mf, err := e.Manifest(id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(std.Reasons(), mf.Reasons); diff != "" {
		t.Errorf("manifest reasons (-want +got):\n%s", diff)
	}
	for _, c := range named {
		if c.Params.MinProviderReputation != p.MinProviderReputation {
			continue
		}
		facts = append(facts, c.Facts)
		w := std.Evaluate(&c.Facts, &c.Params)
		d := Decision{Word: w}
		if w != 0 {
			d.Reasons = mf.ReasonNames(nil, w)
		}
		want = append(want, d)
	}
	// Batches larger than one guest call are split.
	for len(facts) < 3*sdk.MaxBatch+7 {
		facts = append(facts, facts[:min(len(facts), 3*sdk.MaxBatch+7-len(facts))]...)
		want = append(want, want[:len(facts)-len(want)]...)
	}
	got := make([]Decision, len(facts))
	if err := e.Eval(t.Context(), id, params, facts, got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	if got[1].Reasons[0] != std.ReasonNonceReplayed {
		t.Errorf("reasons %v", got[1].Reasons)
	}
	// A module that traps on the warm-up call (a zero record) fails Prepare.
	broken, err := e.Load(t.Context(), guest(unreachable).bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Prepare(t.Context(), broken, nil, Limits{}); err == nil || !strings.Contains(err.Error(), "first fp_eval") {
		t.Errorf("Prepare of a module trapping on every record: %v", err)
	}
	// Short out slices are an error, and fail closed.
	short := make([]Decision, 1)
	if err := e.Eval(t.Context(), id, params, facts[:2], short); err == nil || short[0].Allowed() {
		t.Errorf("short out: %v %+v", err, short[0])
	}
	if err := e.Eval(t.Context(), ModuleCID([]byte("nope")), params, facts[:1], short); !errors.Is(err, ErrUnknownModule) {
		t.Errorf("unknown module: %v", err)
	}
}

func TestCanceledAndClosed(t *testing.T) {
	e, err := New(Config{CacheDir: sharedCache})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.Load(t.Context(), guest(allowAll).bytes())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	out := make([]Decision, 1)
	var ee *EvalError
	if err := e.Eval(ctx, id, nil, []Facts{fresh()}, out); !errors.As(err, &ee) || ee.Cause != CauseCanceled || out[0].Allowed() {
		t.Fatalf("canceled: %v %+v", err, out[0])
	}
	if err := e.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.Eval(t.Context(), id, nil, []Facts{fresh()}, out); err == nil || out[0].Allowed() {
		t.Fatalf("after Close: %v %+v", err, out[0])
	}
	if _, err := e.Load(t.Context(), guest(wrongCount).bytes()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
}

func TestDiskCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	for range 2 {
		e := newTestEngine(t, Config{CacheDir: dir})
		if _, err := e.Load(t.Context(), guest(allowAll).bytes()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o700 {
		t.Errorf("cache dir mode %v, want 0700", perm)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Error("cache dir is empty")
	}
}

func TestLogEntry(t *testing.T) {
	e := newTestEngine(t, Config{})
	id, err := e.LoadStd(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := stdtest.BaseParams()
	params := p.Encode()
	f := fresh()
	f.ProviderReputation = 1
	out := make([]Decision, 1)
	if err := e.Eval(t.Context(), id, params, []Facts{f}, out); err != nil {
		t.Fatal(err)
	}
	l := NewLogEntry(id, params, &f, out[0])
	b, err := l.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeLogEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&l, back, cmp.Comparer(func(a, b cid.Cid) bool { return a.Equals(b) })); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// Another engine (a peer) re-runs it and gets the same word.
	peer := newTestEngine(t, Config{})
	if _, err := peer.LoadStd(t.Context()); err != nil {
		t.Fatal(err)
	}
	d, err := peer.Replay(t.Context(), back, params)
	if err != nil || d.Word != std.BitReputationTooLow {
		t.Fatalf("Replay = %+v, %v", d, err)
	}
	forged := *back
	forged.Word = 0
	var rm *ReplayMismatchError
	if _, err := peer.Replay(t.Context(), &forged, params); !errors.As(err, &rm) || rm.Got != std.BitReputationTooLow {
		t.Fatalf("forged entry: %v", err)
	}
	tampered := *back
	tampered.Input = append([]byte(nil), back.Input...)
	tampered.Input[120] = 0xff
	if err := tampered.Validate(); err == nil {
		t.Fatal("tampered input passed Validate")
	}
	if _, err := peer.Replay(t.Context(), back, []byte{}); err == nil {
		t.Fatal("replay with the wrong params succeeded")
	}
	// The entry carries its params: nil replays with them.
	if d, err := peer.Replay(t.Context(), back, nil); err != nil || d.Word != std.BitReputationTooLow {
		t.Fatalf("Replay with the entry's own params = %+v, %v", d, err)
	}
	swapped := *back
	swapped.ParamsData = []byte{0xa0}
	if err := swapped.Validate(); err == nil {
		t.Fatal("params_data not matching the params CID passed Validate")
	}
}

func TestFactsFromOrder(t *testing.T) {
	o := &treaty.Order{
		Client: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", Created: 1000, Expires: 2000,
		Workload:    treaty.Workload{GPU: &treaty.GPU{Model: "h100", Count: 2}, CPU: 4000, Memory: 1024, Duration: 5400},
		Constraints: treaty.Constraints{Regions: []string{"a", "b", "c", "d", "e"}, MaxPricePerHour: 7},
	}
	f := FactsFromOrder(o, time.UnixMilli(1500_000))
	if f.Now != 1500_000 || f.OrderCreated != 1000_000 || f.OrderExpires != 2000_000 {
		t.Errorf("times %d %d %d", f.Now, f.OrderCreated, f.OrderExpires)
	}
	if f.GPUHours != 3 || f.GPUCount != 2 || f.GPUModel.String() != "h100" || f.MaxPricePerHour != 7 {
		t.Errorf("gpu %+v", f)
	}
	if f.RegionCount != 5 || f.Regions[3].String() != "d" || f.CPUMillis != 4000 || f.DurationSec != 5400 {
		t.Errorf("regions/resources %+v", f)
	}
	if f.Client == [32]byte{} || f.NonceFresh {
		t.Error("client hash or nonce")
	}
}

func TestStdParamsFromTreaty(t *testing.T) {
	tr := &treaty.Treaty{Regions: []string{"eu-west"}, MinProviderReputation: 800, MaxPricePerGPUHour: 4_000_000}
	lane := treaty.Lane{MaxInflight: 32, OrdersPerMin: 300, GPUHoursPerDay: 240}
	want := StdParams{AllowedRegions: []string{"eu-west"}, MinProviderReputation: 800, MaxPricePerGPUHour: 4_000_000, MaxInflight: 32, OrdersPerMin: 300, GPUHoursPerDay: 240}
	got := StdParamsFromTreaty(tr, lane)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	back, err := DecodeStdParams(TreatyParams(tr, lane))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Fatalf("TreatyParams (-want +got):\n%s", diff)
	}
	tr.Policy.Params = []byte{0xa0}
	if got := TreatyParams(tr, lane); string(got) != "\xa0" {
		t.Errorf("explicit params not used: %x", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
