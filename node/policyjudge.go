package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/policy"
)

// wasmJudge judges orders with the WASM policy engine: the configured module
// (default: the embedded standard law) with params derived from the law and
// quotas that apply.
type wasmJudge struct {
	engine *policy.Engine
	module cid.Cid

	// sem bounds concurrent evaluations to GOMAXPROCS: more only queue
	// inside the engine, and a goroutine descheduled mid-call can miss a
	// wall-clock deadline that its module would have met.
	sem chan struct{}

	mu     sync.Mutex // protects params
	params map[string][]byte
}

// newPolicyJudge builds the engine; it registers the decision metrics
// (aurora_policy_decision_duration_seconds per guest call, decisions and
// failures by cause) on reg when reg is non-nil.
func newPolicyJudge(ctx context.Context, cfg Config, cacheDir string, log *slog.Logger, reg prometheus.Registerer) (order.Judge, func(context.Context) error, error) {
	deadline := time.Duration(cfg.Policy.DeadlineMS) * time.Millisecond
	eng, err := policy.New(policy.Config{CacheDir: cacheDir, Logger: log, DefaultDeadline: deadline, Registerer: reg})
	if err != nil {
		return nil, nil, err
	}
	var mod cid.Cid
	switch m := cfg.Policy.Module; {
	case m == "" || m == "std":
		mod, err = eng.LoadStd(ctx)
	default:
		var wasm []byte
		if wasm, err = os.ReadFile(m); err == nil {
			mod, err = eng.Load(ctx, wasm)
		}
	}
	if err != nil {
		eng.Close(ctx)
		return nil, nil, fmt.Errorf("node: policy module: %w", err)
	}
	j := &wasmJudge{engine: eng, module: mod, params: map[string][]byte{}, sem: make(chan struct{}, runtime.GOMAXPROCS(0))}
	return j, eng.Close, nil
}

func (j *wasmJudge) paramsFor(in *order.JudgeInput) []byte {
	var b strings.Builder
	b.WriteString(strings.Join(in.Law.AllowedRegions, ","))
	for _, n := range []int64{in.Law.MinProviderReputation, int64(in.Law.MaxPricePerGPUHour), in.Limits.MaxInflight, in.Limits.OrdersPerMin, in.Limits.GPUHoursPerDay} {
		b.WriteByte('/')
		b.WriteString(strconv.FormatInt(n, 10))
	}
	key := b.String()
	j.mu.Lock()
	defer j.mu.Unlock()
	if p, ok := j.params[key]; ok {
		return p
	}
	sp := policy.StdParams{
		AllowedRegions: in.Law.AllowedRegions, MinProviderReputation: in.Law.MinProviderReputation,
		MaxPricePerGPUHour: int64(in.Law.MaxPricePerGPUHour), MaxInflight: in.Limits.MaxInflight,
		OrdersPerMin: in.Limits.OrdersPerMin, GPUHoursPerDay: in.Limits.GPUHoursPerDay,
	}
	p := sp.Encode()
	if len(j.params) > 4096 { // laws come from treaties: bound the cache
		clear(j.params)
	}
	j.params[key] = p
	return p
}

func (j *wasmJudge) Judge(ctx context.Context, in *order.JudgeInput) (order.Verdict, error) {
	f := policy.FactsFromOrder(in.Order, in.Now)
	f.NonceFresh = in.NonceFresh
	f.LaneApplies = in.LaneApplies
	f.OfferPricePerHour = in.PricePerHr
	f.ProviderReputation = clampU32(in.Reputation)
	f.InflightUsed = clampU32(in.Usage.Inflight)
	f.OrdersLastMinute = clampU32(in.Usage.OrdersLastMinute)
	f.GPUHoursUsedToday = clampU32(in.Usage.GPUHoursUsedToday)
	facts := [1]policy.Facts{f}
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

func clampU32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > 0xFFFFFFFF:
		return 0xFFFFFFFF
	}
	return uint32(v)
}
