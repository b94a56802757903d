// Package judge holds the order core's judges: the WASM policy engine the
// node runs (WASM) and the standard treaty law's native build (Native),
// which the simulator runs. Both turn the core's JudgeInput into the same
// fedpolicy/1 facts and the law and quotas into the same params, so a
// decision made by one is the decision the other makes (policy/std's
// differential test proves the native build and std.wasm agree).
//
// An order forwarded on a treaty lane is judged by the module the treaty
// names (policy.module; "" is the embedded standard law) with the treaty's
// params and limits. WASM obtains a module it has not loaded from its
// sources by CID, checks the bytes against the CID before compiling, and
// keeps it loaded; a module it cannot obtain denies the order with the
// reason policy_unavailable. No judge ever decides with another module
// than the one named: Native, which runs only the standard law, denies an
// order whose treaty names another module.
package judge

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/sdk"
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

// maxCached bounds each judge's caches of laws and params (laws come from
// treaties).
const maxCached = 4096

// Native judges with the standard law compiled into the binary: the
// simulator's judge. Law, when set, replaces the input's law (a fixed
// federation-wide law for a what-if run) and any treaty's policy. An order
// whose treaty names a module other than the standard law is denied
// (policy_unavailable): Native cannot run it. Safe for concurrent use.
type Native struct {
	Law *order.JudgeInput // only Law and Limits are read

	mu    sync.Mutex // protects following
	laws  map[string]*std.Law
	stdID string // the embedded standard law's module CID, computed once
}

var _ order.Judge = (*Native)(nil)

// names reports whether module (a treaty's policy.module) names the
// standard law.
func (n *Native) names(module string) bool {
	if module == "" {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stdID == "" {
		n.stdID = policy.ModuleCID(std.Wasm()).String()
	}
	return module == n.stdID
}

// Judge evaluates the standard law natively. Reasons name the set bits.
func (n *Native) Judge(_ context.Context, in *order.JudgeInput) (order.Verdict, error) {
	key := paramsKey(in)
	params := func() (policy.StdParams, error) { return Params(in), nil }
	switch {
	case n.Law != nil:
		c := *in
		c.Law, c.Limits, c.Treaty = n.Law.Law, n.Law.Limits, nil
		in = &c
		key = paramsKey(in)
	case in.Treaty != nil && !n.names(in.Treaty.Policy.Module):
		m := in.Treaty.Policy.Module
		err := &UnavailableError{Module: m, Err: errors.New("the native judge runs only the standard law")}
		return order.Verdict{Word: sdk.Indeterminate, Reasons: []string{err.Reason()}, Module: m}, err
	case in.Treaty != nil && (len(in.Treaty.Policy.Params) > 0 || in.Treaty.Policy.Module != ""):
		// The treaty's own params (policy.TreatyParams).
		raw := in.Treaty.Policy.Params
		key = "p/" + string(raw)
		params = func() (policy.StdParams, error) { return policy.DecodeStdParams(raw) }
	}
	n.mu.Lock()
	if n.laws == nil || len(n.laws) > maxCached {
		n.laws = map[string]*std.Law{}
	}
	l := n.laws[key]
	if l == nil {
		p, err := params()
		if err == nil {
			l, err = std.New(p)
		}
		if err != nil {
			n.mu.Unlock()
			return order.Verdict{Word: sdk.Indeterminate, Reasons: []string{"indeterminate: " + err.Error()}, Module: "std-native"}, err
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
