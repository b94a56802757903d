package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
)

// Defaults of Config.
const (
	DefaultMaxModuleBytes = 8 << 20
	DefaultDeadline       = 50 * time.Millisecond
	// DefaultMemoryPages is 8 MiB. A module built by the Go toolchain
	// declares a 33-page (2.1 MiB) minimum and the standard law peaks near
	// 40 pages, so the treaty templates' 16 pages only fit hand-written or
	// TinyGo-sized modules.
	DefaultMemoryPages = 128
	DefaultInitTimeout = 5 * time.Second
	// DefaultMaxModules is how many modules besides the embedded standard
	// law stay loaded: a Go-built module costs ~2 MB of bytes and ~10 MB of
	// compiled code per memory limit it runs under.
	DefaultMaxModules = 16
	// MaxMemoryPages is the largest limit accepted (64 MiB), as in treaties.
	MaxMemoryPages = 1024
	// MaxDeadline is the longest per-call deadline accepted.
	MaxDeadline = time.Second
)

// Config configures an Engine. The zero value works.
type Config struct {
	// CacheDir holds wazero's compilation cache (native code) so restarts
	// skip compiling; "" keeps the cache in memory. It is created mode 0700
	// and must stay node-private: whoever can write it can run code as the
	// node.
	CacheDir string
	// Logger receives load, kill and quarantine events; nil discards them.
	Logger *slog.Logger
	// MaxModuleBytes bounds a module's size; 0 means DefaultMaxModuleBytes.
	MaxModuleBytes int
	// DefaultDeadline bounds one fp_eval call when Limits leave it zero;
	// 0 means DefaultDeadline (50 ms).
	DefaultDeadline time.Duration
	// DefaultMemoryPages bounds an instance's linear memory when Limits
	// leave it zero; 0 means DefaultMemoryPages (128 pages, 8 MiB).
	DefaultMemoryPages uint32
	// PoolSize bounds the instances kept per (module, params, limits);
	// 0 means 2×GOMAXPROCS.
	PoolSize int
	// InitTimeout bounds instantiating a module (its _initialize) and
	// configuring it; 0 means DefaultInitTimeout (5 s).
	InitTimeout time.Duration
	// MaxModules bounds the modules kept loaded (compiled, with their
	// instance pools), the embedded standard law not counted: loading one
	// more unloads the least recently used first. 0 means
	// DefaultMaxModules.
	MaxModules int
	// Registerer receives the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (c *Config) validate() error {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxModuleBytes == 0 {
		c.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if c.DefaultDeadline == 0 {
		c.DefaultDeadline = DefaultDeadline
	}
	if c.DefaultMemoryPages == 0 {
		c.DefaultMemoryPages = DefaultMemoryPages
	}
	if c.PoolSize == 0 {
		c.PoolSize = 2 * runtime.GOMAXPROCS(0)
	}
	if c.InitTimeout == 0 {
		c.InitTimeout = DefaultInitTimeout
	}
	if c.MaxModules == 0 {
		c.MaxModules = DefaultMaxModules
	}
	switch {
	case c.MaxModuleBytes < 0:
		return errors.New("policy: config: MaxModuleBytes is negative")
	case c.DefaultDeadline < 0 || c.DefaultDeadline > MaxDeadline:
		return fmt.Errorf("policy: config: DefaultDeadline %s out of range (0, %s]", c.DefaultDeadline, MaxDeadline)
	case c.DefaultMemoryPages > MaxMemoryPages:
		return fmt.Errorf("policy: config: DefaultMemoryPages %d over %d", c.DefaultMemoryPages, MaxMemoryPages)
	case c.PoolSize < 0:
		return errors.New("policy: config: PoolSize is negative")
	case c.InitTimeout < 0:
		return errors.New("policy: config: InitTimeout is negative")
	case c.MaxModules < 0:
		return errors.New("policy: config: MaxModules is negative")
	}
	return nil
}

// Limits bound the evaluation of one (module, params); zero fields take the
// Config defaults.
type Limits struct {
	// Deadline bounds one fp_eval call (a batch of up to sdk.MaxBatch
	// orders). A call still running at its deadline is killed and its
	// decisions are Indeterminate.
	Deadline time.Duration
	// MemoryPages bounds the instance's linear memory (64 KiB pages).
	MemoryPages uint32
}

// Engine evaluates orders with fedpolicy/1 WASM modules on wazero. Modules
// are compiled once and kept by CID, at most Config.MaxModules besides the
// standard law (the least recently used is unloaded to make room);
// instances are pooled per (module, params, limits) and every call runs
// under a deadline with termination checks compiled in, so a looping guest
// is killed and cannot stall the Go runtime. An instance that trapped, timed
// out or misbehaved is discarded, never reused. Engine is safe for
// concurrent use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	cache   wazero.CompilationCache
	metrics *metrics
	wd      *watchdog
	stdID   cid.Cid      // the embedded standard law's CID: never counted against MaxModules
	seq     atomic.Int64 // use counter: a module's used is the value at its last evaluation

	// closeMu is held for reading by every evaluation and for writing by
	// Close, which therefore waits for evaluations in flight.
	closeMu sync.RWMutex
	closed  bool // protected by closeMu

	mu       sync.RWMutex // protects following
	runtimes map[uint32]wazero.Runtime
	modules  map[cid.Cid]*module
	prepared map[cid.Cid]map[string]*Prepared // default limits, by params bytes
	limited  map[prepKey]*Prepared            // explicit limits
	loading  map[cid.Cid]chan struct{}        // loads in progress, closed when done
	stdCID   cid.Cid
}

type prepKey struct {
	module cid.Cid
	params string
	limits Limits
}

// module is a loaded module: its bytes (kept to compile for other memory
// limits), manifest and compiled forms.
type module struct {
	cid          cid.Cid
	wasm         []byte
	manifest     *sdk.Manifest
	minPages     uint32
	hasConfigure bool
	hasInit      bool
	used         atomic.Int64 // Engine.seq at the last evaluation (or the load)

	mu       sync.Mutex // protects following; held while compiling, so compiles are serial
	compiled map[uint32]wazero.CompiledModule
	spare    *instance // Load's probe instance, until the first Prepare takes it
	gone     bool      // unloaded: compiles nothing more
}

// New returns an Engine. Close it to release compiled code and instances.
func New(cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		runtimes: map[uint32]wazero.Runtime{},
		modules:  map[cid.Cid]*module{},
		prepared: map[cid.Cid]map[string]*Prepared{},
		limited:  map[prepKey]*Prepared{},
		loading:  map[cid.Cid]chan struct{}{},
		stdID:    ModuleCID(std.Wasm()),
	}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("policy: compilation cache %s: %w", cfg.CacheDir, err)
		}
		e.cache = c
	} else {
		e.cache = wazero.NewCompilationCache()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		_ = e.cache.Close(context.Background())
		return nil, err
	}
	e.metrics = m
	e.wd = newWatchdog(tickFor(cfg.DefaultDeadline))
	return e, nil
}

// Close kills nothing: it waits for evaluations in flight (each bounded by
// its deadline), then closes every instance, compiled module and runtime.
// Later calls fail with ErrClosed.
func (e *Engine) Close(ctx context.Context) error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.wd.close()
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, byParams := range e.prepared {
		for _, p := range byParams {
			p.pool.close(ctx)
		}
	}
	for _, p := range e.limited {
		p.pool.close(ctx)
	}
	// Closing the runtimes closes every instance, spares included.
	for _, rt := range e.runtimes {
		if err := rt.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.cache.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	e.runtimes, e.modules, e.prepared, e.limited = nil, nil, nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("policy: close: %w", err)
	}
	return nil
}

// runtimeFor returns the runtime enforcing a memory limit of pages, creating
// it (with the deterministic WASI subset instantiated) on first use. Memory
// limits are per runtime in wazero, so each distinct limit gets one; they
// share the compilation cache.
func (e *Engine) runtimeFor(ctx context.Context, pages uint32) (wazero.Runtime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runtimes == nil {
		return nil, ErrClosed
	}
	if rt, ok := e.runtimes[pages]; ok {
		return rt, nil
	}
	rt, err := newRuntime(ctx, e.cache, pages)
	if err != nil {
		return nil, err
	}
	e.runtimes[pages] = rt
	return rt, nil
}

func newRuntime(ctx context.Context, cache wazero.CompilationCache, pages uint32) (wazero.Runtime, error) {
	rc := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(pages).
		WithCoreFeatures(api.CoreFeaturesV2)
	if cache != nil {
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("policy: instantiate WASI: %w", err)
	}
	return rt, nil
}

// Load verifies, checks and compiles a module and returns its CID. Loading
// the same bytes again is cheap. Failures are *LoadError naming the check.
func (e *Engine) Load(ctx context.Context, wasm []byte) (cid.Cid, error) {
	if len(wasm) > e.cfg.MaxModuleBytes {
		return cid.Undef, &LoadError{Check: CheckSize, Detail: fmt.Sprintf("%d bytes, limit %d", len(wasm), e.cfg.MaxModuleBytes)}
	}
	id := ModuleCID(wasm)
	return id, e.load(ctx, id, wasm)
}

// LoadExpect is Load for bytes fetched by CID: it verifies the bytes hash to
// want before anything else.
func (e *Engine) LoadExpect(ctx context.Context, want cid.Cid, wasm []byte) error {
	if len(wasm) > e.cfg.MaxModuleBytes {
		return &LoadError{Module: want, Check: CheckSize, Detail: fmt.Sprintf("%d bytes, limit %d", len(wasm), e.cfg.MaxModuleBytes)}
	}
	if err := VerifyModuleCID(want, wasm); err != nil {
		return err
	}
	return e.load(ctx, want, wasm)
}

// LoadStd loads the embedded standard law and checks it against its
// embedded conformance vectors, proving this binary's std.wasm and native
// law agree.
func (e *Engine) LoadStd(ctx context.Context) (cid.Cid, error) {
	e.mu.RLock()
	id := e.stdCID
	e.mu.RUnlock()
	if id.Defined() {
		return id, nil
	}
	id, err := e.Load(ctx, std.Wasm())
	if err != nil {
		return cid.Undef, err
	}
	vectors, err := ParseVectors(std.Vectors())
	if err != nil {
		return cid.Undef, fmt.Errorf("policy: std vectors: %w", err)
	}
	if err := e.Check(ctx, id, vectors); err != nil {
		return cid.Undef, &LoadError{Module: id, Check: CheckConformance, Detail: "embedded standard law", Err: err}
	}
	e.mu.Lock()
	e.stdCID = id
	e.mu.Unlock()
	return id, nil
}

// StdModule returns the embedded standard law's CID, loaded or not.
func (e *Engine) StdModule() cid.Cid { return e.stdID }

// Manifest returns a loaded module's manifest.
func (e *Engine) Manifest(module cid.Cid) (sdk.Manifest, error) {
	m, err := e.module(module)
	if err != nil {
		return sdk.Manifest{}, err
	}
	mf := *m.manifest
	mf.Reasons = append([]string(nil), mf.Reasons...)
	return mf, nil
}

// Wasm returns a copy of a loaded module's bytes (they hash to id), so a
// node can hand a module it judges with to whoever re-runs its decisions.
func (e *Engine) Wasm(id cid.Cid) ([]byte, error) {
	m, err := e.module(id)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(m.wasm), nil
}

func (e *Engine) module(id cid.Cid) (*module, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.modules == nil {
		return nil, ErrClosed
	}
	m, ok := e.modules[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownModule, id)
	}
	return m, nil
}

// load loads a module once: concurrent loads of one CID wait for the first
// (wazero must not compile the same bytes twice at once: its compilation
// cache is not safe for that).
func (e *Engine) load(ctx context.Context, id cid.Cid, wasm []byte) error {
	for {
		if _, err := e.module(id); err == nil {
			return nil
		} else if errors.Is(err, ErrClosed) {
			return err
		}
		e.mu.Lock()
		wait, busy := e.loading[id]
		if !busy {
			wait = make(chan struct{})
			e.loading[id] = wait
		}
		e.mu.Unlock()
		if busy {
			select {
			case <-wait:
				continue // loaded, or failed: look again
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := e.loadOnce(ctx, id, wasm)
		e.mu.Lock()
		delete(e.loading, id)
		e.mu.Unlock()
		close(wait)
		return err
	}
}

func (e *Engine) loadOnce(ctx context.Context, id cid.Cid, wasm []byte) error {
	m, err := inspect(id, wasm)
	if err != nil {
		return err
	}
	m.wasm = append([]byte(nil), wasm...)
	if _, err := e.compiled(ctx, m, e.cfg.DefaultMemoryPages); err != nil {
		return err
	}
	// A probe instance proves the module initialises and tells the truth
	// about its ABI and buffers. It is kept, unconfigured, for the first
	// Prepare: instantiating a Go guest costs milliseconds.
	ictx, cancel := context.WithTimeout(ctx, e.cfg.InitTimeout)
	in, err := e.instantiate(ictx, m, e.cfg.DefaultMemoryPages)
	cancel()
	if err != nil {
		return err
	}
	m.spare = in
	m.used.Store(e.seq.Add(1))
	// Making room unloads modules, which waits for evaluations in flight.
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.modules == nil {
		in.close(ctx)
		return ErrClosed
	}
	if _, ok := e.modules[id]; ok {
		in.close(ctx) // loaded concurrently
		return nil
	}
	if id != e.stdID {
		e.makeRoomLocked(ctx)
	}
	e.modules[id] = m
	e.metrics.loaded(len(e.modules))
	e.log.LogAttrs(ctx, slog.LevelInfo, "policy module loaded", slog.String("module", id.String()),
		slog.String("name", m.manifest.Name), slog.String("version", m.manifest.Version), slog.Int("bytes", len(wasm)))
	return nil
}

// makeRoomLocked unloads least recently used modules (never the standard
// law) until one more fits under MaxModules. Called with closeMu and mu
// held for writing.
func (e *Engine) makeRoomLocked(ctx context.Context) {
	for {
		var victim *module
		n := 0
		for id, m := range e.modules {
			if id == e.stdID {
				continue
			}
			n++
			if victim == nil || m.used.Load() < victim.used.Load() {
				victim = m
			}
		}
		if n < e.cfg.MaxModules || victim == nil {
			return
		}
		e.unloadLocked(ctx, victim)
		e.metrics.evicted()
		e.log.LogAttrs(ctx, slog.LevelInfo, "policy module unloaded to make room", slog.String("module", victim.cid.String()),
			slog.Int("max_modules", e.cfg.MaxModules))
	}
}

// Unload forgets a loaded module: it waits for evaluations in flight, then
// closes the module's instances and compiled code and drops its
// preparations. Later evaluations of it fail with ErrUnknownModule until
// it is loaded again. Unloading a module that is not loaded is a no-op.
func (e *Engine) Unload(ctx context.Context, id cid.Cid) error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.modules == nil {
		return ErrClosed
	}
	if m, ok := e.modules[id]; ok {
		e.unloadLocked(ctx, m)
	}
	return nil
}

// Loaded reports whether a module is loaded.
func (e *Engine) Loaded(id cid.Cid) bool {
	_, err := e.module(id)
	return err == nil
}

// unloadLocked closes m and removes it; closeMu and mu are held for
// writing, so no evaluation is in flight and every instance is idle.
func (e *Engine) unloadLocked(ctx context.Context, m *module) {
	m.mu.Lock()
	m.gone = true
	compiled, spare := m.compiled, m.spare
	m.compiled, m.spare = nil, nil
	m.mu.Unlock()
	for _, p := range e.prepared[m.cid] {
		p.pool.close(ctx)
	}
	delete(e.prepared, m.cid)
	for k, p := range e.limited {
		if k.module == m.cid {
			p.pool.close(ctx)
			delete(e.limited, k)
		}
	}
	if spare != nil {
		spare.close(ctx)
	}
	for _, cm := range compiled {
		_ = cm.Close(ctx)
	}
	delete(e.modules, m.cid)
	if m.cid == e.stdCID {
		e.stdCID = cid.Undef
	}
	e.metrics.loaded(len(e.modules))
}

// allowedWASI is the deterministic, capability-free WASI subset a module may
// import: what the Go toolchain's runtime needs, served by wazero with no
// preopened files, no args or environment, discarded stdout and stderr, fake
// clocks and a fixed-seed random source. Files, sockets and everything else
// are refused at load.
var allowedWASI = map[string]bool{
	"args_get": true, "args_sizes_get": true, "environ_get": true, "environ_sizes_get": true,
	"clock_res_get": true, "clock_time_get": true, "fd_write": true, "poll_oneoff": true,
	"proc_exit": true, "random_get": true, "sched_yield": true,
}

// inspect runs the checks that need no compiler: format, manifest, ABI,
// imports and memory declaration.
func inspect(id cid.Cid, wasm []byte) (*module, error) {
	fail := func(c Check, format string, args ...any) error {
		return &LoadError{Module: id, Check: c, Detail: fmt.Sprintf(format, args...)}
	}
	secs, err := scanSections(wasm)
	if err != nil {
		return nil, &LoadError{Module: id, Check: CheckFormat, Detail: "malformed binary", Err: err}
	}
	payloads := customSections(secs, sdk.ManifestSection)
	switch len(payloads) {
	case 0:
		return nil, fail(CheckManifest, "no %s custom section (build with `aurora policy build`)", sdk.ManifestSection)
	case 1:
	default:
		return nil, fail(CheckManifest, "%d %s sections, want 1", len(payloads), sdk.ManifestSection)
	}
	mf, err := ParseManifest(payloads[0])
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) {
			le.Module = id
			return nil, le
		}
		return nil, &LoadError{Module: id, Check: CheckManifest, Detail: "invalid manifest", Err: err}
	}
	for _, s := range secs {
		if s.id != secImport {
			continue
		}
		imps, err := parseImports(s.body)
		if err != nil {
			return nil, &LoadError{Module: id, Check: CheckFormat, Detail: "import section", Err: err}
		}
		for _, im := range imps {
			switch {
			case im.kind != importFunc:
				return nil, fail(CheckImports, "imports %s %q.%q: a module owns its memory, tables and globals", importKind(im.kind), im.module, im.name)
			case im.module != wasi_snapshot_preview1.ModuleName:
				return nil, fail(CheckImports, "imports %q.%q: only %s functions may be imported", im.module, im.name, wasi_snapshot_preview1.ModuleName)
			case !allowedWASI[im.name]:
				return nil, fail(CheckImports, "imports %s.%s: outside the deterministic, capability-free WASI subset (no files, sockets or environment)", im.module, im.name)
			}
		}
	}
	minPages, _, _, ok, err := memoryLimits(secs)
	if err != nil {
		return nil, &LoadError{Module: id, Check: CheckMemory, Detail: "memory section", Err: err}
	}
	if !ok {
		return nil, fail(CheckMemory, "the module defines no memory")
	}
	return &module{cid: id, manifest: mf, minPages: minPages, compiled: map[uint32]wazero.CompiledModule{}}, nil
}

func importKind(k byte) string {
	switch k {
	case 1:
		return "a table"
	case 2:
		return "a memory"
	case 3:
		return "a global"
	}
	return fmt.Sprintf("an import of kind %d", k)
}

// ParseManifest decodes and checks a fedpolicy.manifest payload: strict
// canonical CBOR, and an ABI, input schema and record size this host runs.
func ParseManifest(b []byte) (*sdk.Manifest, error) {
	mf, err := sdk.DecodeManifest(b)
	if err != nil {
		return nil, err
	}
	major, _, _ := sdk.ParseABI(mf.ABI)
	switch {
	case major != sdk.ABIMajor:
		return nil, &LoadError{Check: CheckABI, Detail: fmt.Sprintf("manifest ABI %s: this host runs fedpolicy major %d", mf.ABI, sdk.ABIMajor)}
	case mf.InputSchema != sdk.InputSchema:
		return nil, &LoadError{Check: CheckABI, Detail: fmt.Sprintf("input schema %q: this host writes %q", mf.InputSchema, sdk.InputSchema)}
	case mf.RecordSize != sdk.RecordSize:
		return nil, &LoadError{Check: CheckABI, Detail: fmt.Sprintf("record size %d: %s records are %d bytes", mf.RecordSize, sdk.InputSchema, sdk.RecordSize)}
	}
	return mf, nil
}

// compiled returns m compiled for the runtime with the given memory limit,
// compiling it (serially per module) on first use, and checks its exports.
func (e *Engine) compiled(ctx context.Context, m *module, pages uint32) (wazero.CompiledModule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone {
		return nil, fmt.Errorf("%w: %s (unloaded)", ErrUnknownModule, m.cid)
	}
	if cm, ok := m.compiled[pages]; ok {
		return cm, nil
	}
	if m.minPages > pages {
		return nil, &LoadError{Module: m.cid, Check: CheckMemory,
			Detail: fmt.Sprintf("the module needs at least %d memory pages (%d KiB); the limit is %d", m.minPages, m.minPages*64, pages)}
	}
	rt, err := e.runtimeFor(ctx, pages)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cm, err := rt.CompileModule(ctx, m.wasm)
	if err != nil {
		return nil, &LoadError{Module: m.cid, Check: CheckCompile, Detail: "wazero refused the module", Err: err}
	}
	if err := checkExports(m, cm); err != nil {
		_ = cm.Close(ctx)
		return nil, err
	}
	e.log.LogAttrs(ctx, slog.LevelDebug, "policy module compiled", slog.String("module", m.cid.String()),
		slog.Int("memory_pages", int(pages)), slog.Duration("took", time.Since(start)))
	m.compiled[pages] = cm
	return cm, nil
}

type exportSig struct {
	name     string
	params   []api.ValueType
	results  []api.ValueType
	required bool
}

var i32 = api.ValueTypeI32

var abiExports = []exportSig{
	{"fp_abi_version", nil, []api.ValueType{i32}, true},
	{"fp_input_ptr", nil, []api.ValueType{i32}, true},
	{"fp_input_cap", nil, []api.ValueType{i32}, true},
	{"fp_output_ptr", nil, []api.ValueType{i32}, true},
	{"fp_output_cap", nil, []api.ValueType{i32}, true},
	{"fp_eval", []api.ValueType{i32}, []api.ValueType{i32}, true},
	{"fp_configure", []api.ValueType{i32}, []api.ValueType{i32}, false},
	{"fp_manifest", nil, []api.ValueType{i32}, false},
	{"_initialize", nil, nil, false},
}

func checkExports(m *module, cm wazero.CompiledModule) error {
	fns := cm.ExportedFunctions()
	for _, want := range abiExports {
		def, ok := fns[want.name]
		if !ok {
			if want.required {
				return &LoadError{Module: m.cid, Check: CheckExports, Detail: fmt.Sprintf("missing required export %s", want.name)}
			}
			continue
		}
		if !sameTypes(def.ParamTypes(), want.params) || !sameTypes(def.ResultTypes(), want.results) {
			return &LoadError{Module: m.cid, Check: CheckExports, Detail: fmt.Sprintf("export %s has type (%s) -> (%s), want (%s) -> (%s)",
				want.name, typeList(def.ParamTypes()), typeList(def.ResultTypes()), typeList(want.params), typeList(want.results))}
		}
		switch want.name {
		case "fp_configure":
			m.hasConfigure = true
		case "_initialize":
			m.hasInit = true
		}
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return &LoadError{Module: m.cid, Check: CheckExports, Detail: "missing required export memory"}
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func typeList(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return strings.Join(names, ", ")
}
