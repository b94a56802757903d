package judge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
)

// ReasonUnavailable starts the reason of an order denied because the module
// that must judge it could not be obtained, was refused, or refused its
// params: "policy_unavailable: module <CID>: <why>".
const ReasonUnavailable = "policy_unavailable"

// UnavailableError says why the module an order's treaty names cannot
// judge it: no source had it in time, every copy was refused (over the
// fetch limit, bytes that do not hash to the CID, a failed load check), or
// the module refused the treaty's params.
type UnavailableError struct {
	Module string // the module's CID, as the treaty names it
	Err    error
}

func (e *UnavailableError) Error() string {
	return "judge: module " + e.Module + " unavailable: " + e.Err.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Reason is the Denial's reason.
func (e *UnavailableError) Reason() string {
	return ReasonUnavailable + ": module " + e.Module + ": " + e.Err.Error()
}

// ErrTooLarge is wrapped by a Source's error for a module over the fetch
// limit.
var ErrTooLarge = errors.New("judge: module over the fetch limit")

// Source gives modules' bytes by CID: the node's policy dir, its
// blockstore and treaty partners over bitswap.
type Source struct {
	// Name names the source in logs and reasons.
	Name string
	// Fetch returns the module's bytes, refusing more than limit of them
	// with an error wrapping ErrTooLarge. It need not verify them: the
	// judge checks them against the CID before compiling.
	Fetch func(ctx context.Context, module cid.Cid, limit int) ([]byte, error)
}

// Defaults of Config.
const (
	DefaultFetchTimeout = 10 * time.Second
	DefaultRetryAfter   = 10 * time.Second
)

// Config configures a WASM judge. Engine is required.
type Config struct {
	Engine *policy.Engine
	// Default is the module judging orders no treaty covers (the node's own
	// clients). cid.Undef: the embedded standard law.
	Default cid.Cid
	// DefaultParams configure Default; nil: the standard law's params from
	// the input's law and limits (the node's [law]).
	DefaultParams []byte
	// Sources are asked in order for a module a treaty names that the
	// engine has not loaded. None: such orders are denied.
	Sources []Source
	// FetchTimeout bounds obtaining one module from all sources. Default
	// DefaultFetchTimeout (10s).
	FetchTimeout time.Duration
	// MaxFetchBytes bounds a fetched module. Default the engine's default
	// module limit, policy.DefaultMaxModuleBytes.
	MaxFetchBytes int
	// RetryAfter is how long after a failed attempt to obtain a module the
	// orders naming it are denied at once, before it is tried again.
	// Default DefaultRetryAfter (10s).
	RetryAfter time.Duration
	// Clock times RetryAfter. Default the system clock.
	Clock clock.Clock
	// Registerer receives the judge's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives fetch and refusal events; nil discards them.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Engine == nil:
		return errors.New("judge: config: no Engine")
	case c.FetchTimeout < 0, c.MaxFetchBytes < 0, c.RetryAfter < 0:
		return errors.New("judge: config: negative FetchTimeout, MaxFetchBytes or RetryAfter")
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.MaxFetchBytes == 0 {
		c.MaxFetchBytes = policy.DefaultMaxModuleBytes
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	c.Clock = clock.Or(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// WASM judges with modules on the policy engine: an order on a treaty lane
// with the module, params and limits its treaty names (module "" is the
// standard law, whose params then come from the treaty's own fields and the
// lane), any other order with the default module and params (by default the
// standard law under the node's law). A
// module that is not loaded is obtained from the sources, checked against
// its CID and loaded; concurrent orders wait on one fetch, bounded by
// FetchTimeout and their own context. An order whose module cannot be
// obtained is denied with ReasonUnavailable: no other module ever decides
// in its place. Under a module other than the standard law, the lane's (or
// the node's) quotas are checked first on the host, with the standard law's
// quota rules. Each decision carries its policy.LogEntry. Safe for
// concurrent use; Close stops fetches in flight.
type WASM struct {
	cfg    Config
	engine *policy.Engine
	def    cid.Cid
	std    cid.Cid
	log    *slog.Logger
	m      *metrics
	// sem bounds concurrent evaluations to GOMAXPROCS: more only queue
	// inside the engine, and a goroutine descheduled mid-call can miss a
	// wall-clock deadline that its module would have met.
	sem  chan struct{}
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex // protects following
	params   map[string][]byte
	quotas   map[[3]int64]*std.Law
	parsed   map[string]cid.Cid
	fetching map[cid.Cid]*fetch
	failed   map[cid.Cid]failure
}

var _ order.Judge = (*WASM)(nil)

type fetch struct {
	done     chan struct{}
	remember bool  // an order waits on it: a failure holds off retries (protected by WASM.mu)
	err      error // set before done closes
}

type failure struct {
	err error
	at  time.Time
}

// New returns a WASM judge. It loads nothing: modules are obtained when an
// order or Prefetch first needs them (the default module must already be
// loaded, or be the standard law).
func New(cfg Config) (*WASM, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	j := &WASM{cfg: cfg, engine: cfg.Engine, def: cfg.Default, std: cfg.Engine.StdModule(), log: cfg.Logger, m: m,
		sem: make(chan struct{}, runtime.GOMAXPROCS(0)), params: map[string][]byte{}, quotas: map[[3]int64]*std.Law{},
		parsed: map[string]cid.Cid{}, fetching: map[cid.Cid]*fetch{}, failed: map[cid.Cid]failure{}}
	if !j.def.Defined() {
		j.def = j.std
	}
	j.life, j.stop = context.WithCancel(context.Background())
	return j, nil
}

// Close stops the fetches in flight and waits for them.
func (j *WASM) Close() {
	j.mu.Lock() // no fetch starts after this (they start under mu, alive)
	j.stop()
	j.mu.Unlock()
	j.wg.Wait()
}

// Judge decides one order; see WASM. An error fails closed: the verdict
// then denies.
func (j *WASM) Judge(ctx context.Context, in *order.JudgeInput) (order.Verdict, error) {
	mod, params, lim, err := j.lawOf(in)
	if err != nil {
		return j.unavailable(in.Treaty.Policy.Module, err)
	}
	facts := [1]policy.Facts{Facts(in)}
	if mod != j.std {
		if v, denied := j.hostQuotas(in, &facts[0]); denied {
			return v, nil
		}
	}
	p, err := j.prepare(ctx, mod, params, lim)
	if err != nil {
		if errors.Is(err, policy.ErrClosed) || (ctx.Err() != nil && j.engine.Loaded(mod)) {
			// Not the module's fault: shutting down, or the order's own
			// deadline passed while preparing.
			return order.Verdict{Word: sdk.Indeterminate, Reasons: []string{"indeterminate: " + err.Error()}, Module: mod.String()}, err
		}
		return j.unavailable(mod.String(), err)
	}
	var out [1]policy.Decision
	select {
	case j.sem <- struct{}{}:
	case <-ctx.Done():
		return order.Verdict{Word: sdk.Indeterminate, Reasons: []string{"indeterminate: " + ctx.Err().Error()}, Module: mod.String()}, ctx.Err()
	}
	err = p.Eval(ctx, facts[:], out[:])
	switch {
	case err != nil && policy.IsTimeout(err):
		// A module killed at its deadline on a starved machine is not a
		// verdict: decisions are deterministic, so one retry on a fresh
		// instance cannot change the word, and a real runaway is killed
		// again and denied.
		err = p.Eval(ctx, facts[:], out[:])
	case errors.Is(err, policy.ErrUnknownModule):
		// Unloaded between Prepare and Eval to make room for another.
		if p, err = j.prepare(ctx, mod, params, lim); err == nil {
			err = p.Eval(ctx, facts[:], out[:])
		}
	}
	<-j.sem
	v := order.Verdict{Word: out[0].Word, Reasons: out[0].Reasons, Module: mod.String()}
	switch {
	case err != nil && v.Word == sdk.Allow:
		v.Word = sdk.Indeterminate // fail closed
		v.Reasons = []string{"indeterminate: " + err.Error()}
	case err == nil:
		v.Entry = j.entry(mod, params, &facts[0], out[0])
	}
	return v, err
}

// lawOf returns the module, params and limits that judge in.
func (j *WASM) lawOf(in *order.JudgeInput) (cid.Cid, []byte, policy.Limits, error) {
	if in.Treaty == nil {
		if j.cfg.DefaultParams != nil {
			return j.def, j.cfg.DefaultParams, policy.Limits{}, nil
		}
		return j.def, j.paramsFor(in), policy.Limits{}, nil
	}
	ref := in.Treaty.Policy
	lim := policy.LimitsFromTreaty(ref)
	if ref.Module == "" {
		if len(ref.Params) == 0 {
			// policy.TreatyParams: the treaty's fields and the lane's
			// quotas, which are the input's law and limits.
			return j.std, j.paramsFor(in), lim, nil
		}
		return j.std, ref.Params, lim, nil
	}
	mod, err := j.parse(ref.Module)
	return mod, ref.Params, lim, err
}

// parse decodes a treaty's module CID (treaties are validated, so this
// fails only for CIDs no module can have), caching the result.
func (j *WASM) parse(s string) (cid.Cid, error) {
	j.mu.Lock()
	c, ok := j.parsed[s]
	j.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("not a CID: %w", err)
	}
	if err := policy.CheckModuleCID(c); err != nil {
		return cid.Undef, errors.New("not a module CID (CIDv1, raw codec, sha2-256)")
	}
	j.mu.Lock()
	if len(j.parsed) > maxCached {
		clear(j.parsed)
	}
	j.parsed[s] = c
	j.mu.Unlock()
	return c, nil
}

func (j *WASM) paramsFor(in *order.JudgeInput) []byte {
	key := paramsKey(in)
	j.mu.Lock()
	defer j.mu.Unlock()
	if p, ok := j.params[key]; ok {
		return p
	}
	sp := Params(in)
	p := sp.Encode()
	if len(j.params) > maxCached {
		clear(j.params)
	}
	j.params[key] = p
	return p
}

// hostQuotas checks the input's quotas (and the host facts: replay,
// expiry) with the standard law's rules, for orders a module other than
// the standard law decides: a treaty's lane quotas bind whatever module it
// names. A denial names no module: it is a host-side check.
func (j *WASM) hostQuotas(in *order.JudgeInput, f *policy.Facts) (order.Verdict, bool) {
	k := [3]int64{in.Limits.MaxInflight, in.Limits.OrdersPerMin, in.Limits.GPUHoursPerDay}
	j.mu.Lock()
	l := j.quotas[k]
	if l == nil {
		var err error
		if l, err = std.New(std.Params{MaxInflight: k[0], OrdersPerMin: k[1], GPUHoursPerDay: k[2]}); err != nil {
			j.mu.Unlock()
			return order.Verdict{Word: sdk.Indeterminate, Reasons: []string{"indeterminate: quotas: " + err.Error()}}, true
		}
		if len(j.quotas) > maxCached {
			clear(j.quotas)
		}
		j.quotas[k] = l
	}
	j.mu.Unlock()
	if w := l.Evaluate(f); w != sdk.Allow {
		return order.Verdict{Word: w, Reasons: reasonNames(w)}, true
	}
	return order.Verdict{}, false
}

// prepare configures mod with params under lim, obtaining the module first
// when the engine has not loaded it (or unloaded it meanwhile).
func (j *WASM) prepare(ctx context.Context, mod cid.Cid, params []byte, lim policy.Limits) (*policy.Prepared, error) {
	for attempt := 0; ; attempt++ {
		p, err := j.engine.Prepare(ctx, mod, params, lim)
		if err == nil || !errors.Is(err, policy.ErrUnknownModule) || attempt == 2 {
			return p, err
		}
		if err := j.obtain(ctx, mod); err != nil {
			return nil, err
		}
	}
}

func (j *WASM) unavailable(module string, err error) (order.Verdict, error) {
	ue := &UnavailableError{Module: module, Err: err}
	j.m.unavailableInc()
	return order.Verdict{Word: sdk.Indeterminate, Reasons: []string{ue.Reason()}, Module: module}, ue
}

func (j *WASM) entry(mod cid.Cid, params []byte, f *policy.Facts, d policy.Decision) []byte {
	e := policy.NewLogEntry(mod, params, f, d)
	b, err := e.Encode()
	if err != nil {
		j.log.Error("policy decision log entry not encoded", slog.String("module", mod.String()), slog.String("error", err.Error()))
		return nil
	}
	return b
}

// Prefetch starts obtaining module (a treaty became active that names it)
// and returns at once. Its failure does not hold off the next order's own
// attempt.
func (j *WASM) Prefetch(module cid.Cid) {
	if j.engine.Loaded(module) {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, busy := j.fetching[module]; !busy && j.life.Err() == nil {
		j.startLocked(module, false)
	}
}

// obtain loads mod: the standard law from the binary, any other module
// from the sources, joining a fetch in flight. It waits until the module
// is loaded, the attempt failed, or ctx ends.
func (j *WASM) obtain(ctx context.Context, mod cid.Cid) error {
	if mod == j.std {
		_, err := j.engine.LoadStd(ctx)
		return err
	}
	if j.engine.Loaded(mod) {
		return nil
	}
	now := j.cfg.Clock.Now()
	j.mu.Lock()
	f := j.fetching[mod]
	if f == nil {
		if fl, ok := j.failed[mod]; ok && now.Sub(fl.at) < j.cfg.RetryAfter {
			j.mu.Unlock()
			return fmt.Errorf("%w (tried %s ago; next attempt in %s)", fl.err, now.Sub(fl.at).Round(time.Millisecond), (j.cfg.RetryAfter - now.Sub(fl.at)).Round(time.Millisecond))
		}
		if j.life.Err() != nil {
			j.mu.Unlock()
			return fmt.Errorf("judge closed: %w", j.life.Err())
		}
		f = j.startLocked(mod, true)
	}
	f.remember = true
	j.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("still fetching: %w", ctx.Err())
	}
}

// startLocked runs one attempt to obtain mod on the judge's goroutine.
func (j *WASM) startLocked(mod cid.Cid, remember bool) *fetch {
	f := &fetch{done: make(chan struct{}), remember: remember}
	j.fetching[mod] = f
	j.wg.Go(func() {
		ctx, cancel := context.WithTimeout(j.life, j.cfg.FetchTimeout)
		err := j.fetch(ctx, mod)
		cancel()
		j.mu.Lock()
		delete(j.fetching, mod)
		switch {
		case err == nil:
			delete(j.failed, mod)
		case f.remember:
			if len(j.failed) > maxCached {
				clear(j.failed)
			}
			j.failed[mod] = failure{err: err, at: j.cfg.Clock.Now()}
		}
		f.err = err
		j.mu.Unlock()
		close(f.done)
	})
	return f
}

// fetch asks each source in turn for mod and loads the first copy whose
// size and hash are right. A module that hashes right but fails a load
// check is refused at once: every source holds the same bytes.
func (j *WASM) fetch(ctx context.Context, mod cid.Cid) error {
	if len(j.cfg.Sources) == 0 {
		return errors.New("not loaded, and this node has no module sources")
	}
	limit := j.cfg.MaxFetchBytes
	var why []string
	for _, src := range j.cfg.Sources {
		b, err := src.Fetch(ctx, mod, limit)
		if err == nil && len(b) > limit {
			err = fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), limit)
		}
		if err != nil {
			result := "missing"
			if errors.Is(err, ErrTooLarge) {
				result = "too_large"
			}
			j.m.fetched(result)
			why = append(why, src.Name+": "+err.Error())
			continue
		}
		if err := policy.VerifyModuleCID(mod, b); err != nil {
			j.m.fetched("hash_mismatch")
			j.log.LogAttrs(ctx, slog.LevelWarn, "policy module refused: its bytes do not match its CID",
				slog.String("module", mod.String()), slog.String("source", src.Name), slog.String("got", policy.ModuleCID(b).String()))
			why = append(why, src.Name+": bytes do not match the CID (they hash to "+policy.ModuleCID(b).String()+")")
			continue
		}
		// FetchTimeout bounds the fetch; compiling is bounded by the
		// engine (instantiation by its InitTimeout).
		if err := j.engine.LoadExpect(j.life, mod, b); err != nil {
			if j.life.Err() != nil {
				return fmt.Errorf("%s: %w", src.Name, err)
			}
			j.m.fetched("invalid")
			return fmt.Errorf("refused (%s): %w", src.Name, err)
		}
		j.m.fetched("ok")
		j.log.LogAttrs(ctx, slog.LevelInfo, "policy module obtained", slog.String("module", mod.String()),
			slog.String("source", src.Name), slog.Int("bytes", len(b)))
		return nil
	}
	return errors.New("not obtained: " + strings.Join(why, "; "))
}

// metrics are the judge's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	fetches     *prometheus.CounterVec
	unavailable prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_policy_module_fetches_total",
			Help: "Copies of policy modules asked of a source by CID, by result: ok (loaded), missing (the source did not have it in time), too_large (over policy.max_fetch_bytes), hash_mismatch (bytes that do not hash to the CID, refused before compiling), invalid (a load check failed).",
		}, []string{"result"}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aurora_policy_unavailable_total",
			Help: "Orders denied because the module their treaty names could not be obtained or configured (reason policy_unavailable).",
		}),
	}
	for _, r := range []string{"ok", "missing", "too_large", "hash_mismatch", "invalid"} {
		m.fetches.WithLabelValues(r) // exported at 0 before the first fetch
	}
	for _, c := range []prometheus.Collector{m.fetches, m.unavailable} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("judge: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) fetched(result string) {
	if m != nil {
		m.fetches.WithLabelValues(result).Inc()
	}
}

func (m *metrics) unavailableInc() {
	if m != nil {
		m.unavailable.Inc()
	}
}
