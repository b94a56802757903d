// Package judge holds the order core's judges: the WASM policy engine the
// node runs (WASM) and the standard treaty law's native build (Native),
// which the simulator runs. Both turn the core's JudgeInput into the same
// fedpolicy/1 facts and the law and quotas into the same params, so a
// decision made by one is the decision the other makes (policy/std's
// differential test proves the native build and std.wasm agree).
package judge

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/std"
)

// Facts are the fedpolicy/1 facts of a judge input.
func Facts(in *order.JudgeInput) policy.Facts {
	f := policy.FactsFromOrder(in.Order, in.Now)
	f.NonceFresh = in.NonceFresh
	f.LaneApplies = in.LaneApplies
	f.OfferPricePerHour = in.PricePerHr
	f.ProviderReputation = clampU32(in.Reputation)
	f.InflightUsed = clampU32(in.Usage.Inflight)
	f.OrdersLastMinute = clampU32(in.Usage.OrdersLastMinute)
	f.GPUHoursUsedToday = clampU32(in.Usage.GPUHoursUsedToday)
	return f
}

// Params are the standard law's params for a judge input's law and limits
// (regions sorted and deduplicated, as the params encoding requires).
func Params(in *order.JudgeInput) policy.StdParams {
	regions := slices.Compact(slices.Sorted(slices.Values(in.Law.AllowedRegions)))
	return policy.StdParams{
		AllowedRegions: regions, MinProviderReputation: in.Law.MinProviderReputation,
		MaxPricePerGPUHour: int64(in.Law.MaxPricePerGPUHour), MaxInflight: in.Limits.MaxInflight,
		OrdersPerMin: in.Limits.OrdersPerMin, GPUHoursPerDay: in.Limits.GPUHoursPerDay,
	}
}

// paramsKey names a law and limits for the caches below.
func paramsKey(in *order.JudgeInput) string {
	var b strings.Builder
	b.WriteString(strings.Join(in.Law.AllowedRegions, ","))
	for _, n := range []int64{in.Law.MinProviderReputation, int64(in.Law.MaxPricePerGPUHour), in.Limits.MaxInflight, in.Limits.OrdersPerMin, in.Limits.GPUHoursPerDay} {
		b.WriteByte('/')
		b.WriteString(strconv.FormatInt(n, 10))
	}
	return b.String()
}

// maxCached bounds each judge's cache of laws (laws come from treaties).
const maxCached = 4096

// WASM judges with a module on the policy engine. Safe for concurrent use.
type WASM struct {
	engine *policy.Engine
	module cid.Cid
	// sem bounds concurrent evaluations to GOMAXPROCS: more only queue
	// inside the engine, and a goroutine descheduled mid-call can miss a
	// wall-clock deadline that its module would have met.
	sem chan struct{}

	mu     sync.Mutex // protects params
	params map[string][]byte
}

var _ order.Judge = (*WASM)(nil)

// NewWASM returns a judge running module (loaded on engine).
func NewWASM(engine *policy.Engine, module cid.Cid) *WASM {
	return &WASM{engine: engine, module: module, params: map[string][]byte{}, sem: make(chan struct{}, runtime.GOMAXPROCS(0))}
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

// Judge evaluates the module; an error fails closed (indeterminate).
func (j *WASM) Judge(ctx context.Context, in *order.JudgeInput) (order.Verdict, error) {
	facts := [1]policy.Facts{Facts(in)}
	var out [1]policy.Decision
	params := j.paramsFor(in)
	select {
	case j.sem <- struct{}{}:
	case <-ctx.Done():
		return order.Verdict{Word: 0xFFFFFFFF, Reasons: []string{"indeterminate: " + ctx.Err().Error()}, Module: j.module.String()}, ctx.Err()
	}
	err := j.engine.Eval(ctx, j.module, params, facts[:], out[:])
	if err != nil && policy.IsTimeout(err) {
		// A module killed at its deadline on a starved machine is not a
		// verdict: decisions are deterministic, so one retry on a fresh
		// instance cannot change the word, and a real runaway is killed
		// again and denied.
		err = j.engine.Eval(ctx, j.module, params, facts[:], out[:])
	}
	<-j.sem
	v := order.Verdict{Word: out[0].Word, Reasons: out[0].Reasons, Module: j.module.String()}
	if err != nil && v.Word == 0 {
		v.Word = 0xFFFFFFFF // fail closed
		v.Reasons = []string{"indeterminate: " + err.Error()}
	}
	return v, err
}

// Native judges with the standard law compiled into the binary: the
// simulator's judge. Law, when set, replaces the input's law (a fixed
// federation-wide law for a what-if run). Safe for concurrent use.
type Native struct {
	Law *order.JudgeInput // only Law and Limits are read

	mu   sync.Mutex // protects laws
	laws map[string]*std.Law
}

var _ order.Judge = (*Native)(nil)

// Judge evaluates the standard law natively. Reasons name the set bits.
func (n *Native) Judge(_ context.Context, in *order.JudgeInput) (order.Verdict, error) {
	if n.Law != nil {
		c := *in
		c.Law, c.Limits = n.Law.Law, n.Law.Limits
		in = &c
	}
	key := paramsKey(in)
	n.mu.Lock()
	if n.laws == nil || len(n.laws) > maxCached {
		n.laws = map[string]*std.Law{}
	}
	l := n.laws[key]
	if l == nil {
		var err error
		if l, err = std.New(Params(in)); err != nil {
			n.mu.Unlock()
			return order.Verdict{Word: 0xFFFFFFFF, Reasons: []string{"indeterminate: " + err.Error()}, Module: "std-native"}, err
		}
		n.laws[key] = l
	}
	n.mu.Unlock()
	f := Facts(in)
	w := l.Evaluate(&f)
	return order.Verdict{Word: w, Reasons: reasonNames(w), Module: "std-native"}, nil
}

// reasonNames names the set bits of a standard-law decision word.
func reasonNames(w uint32) []string {
	var out []string
	for i, name := range std.Reasons() {
		if w&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

func clampU32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > 0xFFFFFFFF:
		return 0xFFFFFFFF
	}
	return uint32(v)
}
