package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/policy/sdk"
)

// ReasonIndeterminate is the reason given for an Indeterminate decision.
const ReasonIndeterminate = "indeterminate"

// Decision is a policy's verdict on one order.
type Decision struct {
	// Word is the decision word: 0 allow, a reason bitmask (deny), or
	// sdk.Indeterminate (deny: the policy could not decide, or failed).
	Word uint32
	// Reasons names the set bits from the module's manifest ("reason_<n>"
	// for an unnamed bit), or is [ReasonIndeterminate]; nil for an allow.
	// Each Decision owns its slice.
	Reasons []string
}

// Allowed reports whether the order may proceed. Everything but an explicit
// allow is a deny: the engine fails closed.
func (d Decision) Allowed() bool { return d.Word == sdk.Allow }

// Indeterminate reports whether the policy failed to decide.
func (d Decision) Indeterminate() bool { return d.Word == sdk.Indeterminate }

// Prepared is a module configured with one params blob and limits: a pool of
// instances ready to evaluate. Get one from Engine.Prepare; it stays valid
// until the engine is closed. Safe for concurrent use.
type Prepared struct {
	e        *Engine
	module   *module
	paramsID cid.Cid
	limits   Limits
	pool     *pool
}

// Module returns the module's CID.
func (p *Prepared) Module() cid.Cid { return p.module.cid }

// ParamsCID returns the params' CID.
func (p *Prepared) ParamsCID() cid.Cid { return p.paramsID }

// Limits returns the effective limits.
func (p *Prepared) Limits() Limits { return p.limits }

// Manifest returns the module's manifest. The caller must not modify it.
func (p *Prepared) Manifest() *sdk.Manifest { return p.module.manifest }

// Prepare configures a loaded module with params under limits (zero fields
// take the Config defaults) and warms one instance, so that params the
// module refuses fail here (a *LoadError with Check "params") rather than
// at the first order. Preparing the same triple again returns the same
// *Prepared.
func (e *Engine) Prepare(ctx context.Context, module cid.Cid, params []byte, lim Limits) (*Prepared, error) {
	lim = e.effective(lim)
	e.mu.RLock()
	p := e.lookupLocked(module, params, lim)
	e.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	if lim.Deadline < 0 || lim.Deadline > MaxDeadline {
		return nil, fmt.Errorf("policy: deadline %s out of range (0, %s]", lim.Deadline, MaxDeadline)
	}
	if lim.MemoryPages > MaxMemoryPages {
		return nil, fmt.Errorf("policy: memory limit %d pages over %d", lim.MemoryPages, MaxMemoryPages)
	}
	// Held while warming an instance, so the module is not unloaded (its
	// compiled code closed) under it.
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	m, err := e.module(module)
	if err != nil {
		return nil, err
	}
	if _, err := sdk.DecodeParams(params); err != nil {
		return nil, &LoadError{Module: module, Check: CheckParams, Detail: "params are not canonical fedpolicy params", Err: err}
	}
	params = append([]byte(nil), params...)
	p = &Prepared{e: e, module: m, paramsID: ParamsCID(params), limits: lim}
	p.pool = newPool(e.cfg.PoolSize, func(ctx context.Context) (*instance, error) {
		return e.newInstance(ctx, m, lim.MemoryPages, true, params)
	})
	warm, err := p.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	p.pool.put(warm)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.modules == nil {
		p.pool.close(ctx)
		return nil, ErrClosed
	}
	if e.modules[module] != m {
		p.pool.close(ctx) // unloaded meanwhile
		return nil, fmt.Errorf("%w: %s (unloaded)", ErrUnknownModule, module)
	}
	if q := e.lookupLocked(module, params, lim); q != nil {
		p.pool.close(ctx) // lost a race with another Prepare
		return q, nil
	}
	if lim == e.effective(Limits{}) {
		byParams := e.prepared[module]
		if byParams == nil {
			byParams = map[string]*Prepared{}
			e.prepared[module] = byParams
		}
		byParams[string(params)] = p
	} else {
		e.limited[prepKey{module: module, params: string(params), limits: lim}] = p
	}
	return p, nil
}

func (e *Engine) effective(l Limits) Limits {
	if l.Deadline == 0 {
		l.Deadline = e.cfg.DefaultDeadline
	}
	if l.MemoryPages == 0 {
		l.MemoryPages = e.cfg.DefaultMemoryPages
	}
	return l
}

func (e *Engine) lookupLocked(module cid.Cid, params []byte, lim Limits) *Prepared {
	if lim == e.effective(Limits{}) {
		return e.prepared[module][string(params)]
	}
	return e.limited[prepKey{module: module, params: string(params), limits: lim}]
}

// Eval decides facts[i] into out[i] with module configured by params under
// the default limits (see Prepare for treaty limits). It is
// Prepare(ctx, module, params, Limits{}) followed by Prepared.Eval, with the
// preparation cached. len(out) must be at least len(facts).
//
// Eval fails closed: when an evaluation traps, is killed at its deadline or
// misbehaves, the decisions it covered (and the rest of the batch) are
// Indeterminate and the error, an *EvalError, says why. An error from
// preparing the module (unknown module, refused params) also leaves every
// decision Indeterminate.
func (e *Engine) Eval(ctx context.Context, module cid.Cid, params []byte, facts []Facts, out []Decision) error {
	e.mu.RLock()
	p := e.prepared[module][string(params)]
	e.mu.RUnlock()
	if p == nil {
		var err error
		if p, err = e.Prepare(ctx, module, params, Limits{}); err != nil {
			fillIndeterminate(out[:min(len(out), len(facts))])
			if ctx.Err() != nil {
				return &EvalError{Module: module, Params: ParamsCID(params), Cause: CauseCanceled, Affected: len(facts), Err: err}
			}
			return err
		}
	}
	return p.Eval(ctx, facts, out)
}

// Eval decides facts[i] into out[i], in batches of up to sdk.MaxBatch per
// guest call; see Engine.Eval for how failures are reported.
func (p *Prepared) Eval(ctx context.Context, facts []Facts, out []Decision) error {
	if len(out) < len(facts) {
		fillIndeterminate(out)
		return fmt.Errorf("policy: %d facts but room for %d decisions", len(facts), len(out))
	}
	out = out[:len(facts)]
	if len(facts) == 0 {
		return nil
	}
	e := p.e
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		fillIndeterminate(out)
		return p.evalError(CauseClosed, len(out), ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		fillIndeterminate(out)
		return p.evalError(CauseCanceled, len(out), err)
	}
	var start time.Time
	if e.metrics != nil {
		start = time.Now()
	}
	p.module.used.Store(e.seq.Add(1))
	in, err := p.pool.get(ctx)
	if err != nil {
		fillIndeterminate(out)
		if ctx.Err() != nil {
			return p.evalError(CauseCanceled, len(out), err)
		}
		return err
	}
	var words [sdk.MaxBatch]uint32
	var bad error
	for off := 0; off < len(facts); off += in.maxBatch {
		n := min(in.maxBatch, len(facts)-off)
		deadline := e.wd.deadlineFor(ctx, p.limits.Deadline)
		cause, err := in.evalChunk(e.wd, deadline, facts[off:off+n], words[:n])
		if err != nil {
			p.pool.discard(ctx, in)
			fillIndeterminate(out[off:])
			ee := p.evalError(cause, len(out)-off, err)
			e.metrics.failure(cause)
			e.log.LogAttrs(ctx, slog.LevelWarn, "policy evaluation failed; instance discarded",
				slog.String("module", p.module.cid.String()), slog.String("params", p.paramsID.String()),
				slog.String("cause", string(cause)), slog.String("error", err.Error()))
			e.metrics.observe(start, out)
			return ee
		}
		for i, w := range words[:n] {
			d := &out[off+i]
			if w != sdk.Indeterminate && w>>sdk.ReasonBits != 0 {
				if bad == nil {
					bad = p.evalError(CauseOutput, 1, fmt.Errorf("decision word %#x sets reserved bits", w))
				}
				w = sdk.Indeterminate
			}
			d.Word = w
			switch w {
			case sdk.Allow:
				d.Reasons = nil
			case sdk.Indeterminate:
				d.Reasons = []string{ReasonIndeterminate}
			default:
				d.Reasons = p.module.manifest.ReasonNames(nil, w)
			}
		}
	}
	if in.worn() {
		p.pool.discard(ctx, in)
	} else {
		p.pool.put(in)
	}
	if bad != nil {
		e.metrics.failure(CauseOutput)
	}
	e.metrics.observe(start, out)
	return bad
}

func (p *Prepared) evalError(c Cause, affected int, err error) *EvalError {
	return &EvalError{Module: p.module.cid, Params: p.paramsID, Cause: c, Affected: affected, Err: err}
}

func fillIndeterminate(out []Decision) {
	for i := range out {
		out[i] = Decision{Word: sdk.Indeterminate, Reasons: []string{ReasonIndeterminate}}
	}
}

// IsTimeout reports whether err is an evaluation killed at its deadline.
func IsTimeout(err error) bool {
	var ee *EvalError
	return errors.As(err, &ee) && ee.Cause == CauseDeadline
}
