// Package stdtest generates facts and params for testing and benchmarking
// the standard law: named cases (one per rule, plus boundaries) and a seeded
// corpus concentrated on the rules' boundaries, for differential tests of
// the native and WASM builds.
package stdtest

import (
	"math/rand/v2"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
)

// Case is one input of the standard law.
type Case struct {
	Name   string
	Params std.Params
	Facts  sdk.OrderFacts
}

// Now is the decision time of every generated case (2026-11-25T00:00:00Z).
const Now int64 = 1795564800000

// BaseParams are the params of the named cases: EU regions, reputation
// ≥ 700‰, 5 USD per GPU-hour, 64 in flight, 600 orders/min, 240 GPU-hours
// a day.
func BaseParams() std.Params {
	return std.Params{
		AllowedRegions:        []string{"eu-central", "eu-north", "eu-west"},
		MinProviderReputation: 700,
		MaxPricePerGPUHour:    5_000_000,
		MaxInflight:           64,
		OrdersPerMin:          600,
		GPUHoursPerDay:        240,
	}
}

// AllowFacts are facts every rule of BaseParams allows, with every rule
// evaluated (regions named, a GPU order, quotas in use).
func AllowFacts() sdk.OrderFacts {
	return sdk.OrderFacts{
		Now:                Now,
		OrderCreated:       Now - 1000,
		OrderExpires:       Now + 600_000,
		NonceFresh:         true,
		LaneApplies:        true,
		Client:             [32]byte{1, 2, 3},
		GPUModel:           sdk.MakeCode32("h100"),
		GPUCount:           2,
		GPUHours:           4,
		MaxPricePerHour:    9_000_000,
		OfferPricePerHour:  8_000_000,
		ProviderReputation: 900,
		InflightUsed:       10,
		OrdersLastMinute:   100,
		GPUHoursUsedToday:  100,
		CPUMillis:          8000,
		MemoryMiB:          32768,
		DurationSec:        7200,
		RegionCount:        2,
		Regions:            [4]sdk.Code16{sdk.MakeCode16("us-east"), sdk.MakeCode16("eu-west")},
		Provider:           sdk.MakeCode16("vastai"),
		ProviderRegion:     sdk.MakeCode16("eu-west"),
	}
}

// Named returns hand-made cases: an allow, each rule firing alone, each
// rule's boundary on the allowed side, and several rules at once.
func Named() []Case {
	p := BaseParams()
	c := func(name string, mod func(f *sdk.OrderFacts)) Case {
		f := AllowFacts()
		mod(&f)
		return Case{Name: name, Params: p, Facts: f}
	}
	open := std.Params{}
	return []Case{
		c("allow", func(*sdk.OrderFacts) {}),
		c("nonce_replayed", func(f *sdk.OrderFacts) { f.NonceFresh = false }),
		c("order_expired", func(f *sdk.OrderFacts) { f.OrderExpires = f.Now }),
		c("order_expires_in_1ms", func(f *sdk.OrderFacts) { f.OrderExpires = f.Now + 1 }),
		c("region_not_allowed", func(f *sdk.OrderFacts) { f.Regions[1] = sdk.MakeCode16("ap-south") }),
		c("region_any_confined_by_router", func(f *sdk.OrderFacts) { f.RegionCount = 0; f.Regions = [4]sdk.Code16{} }),
		c("region_candidate_outside", func(f *sdk.OrderFacts) { f.ProviderRegion = sdk.MakeCode16("us-east") }),
		c("region_fifth_not_carried", func(f *sdk.OrderFacts) {
			f.RegionCount = 5
			for i := range f.Regions {
				f.Regions[i] = sdk.MakeCode16("us-west")
			}
		}),
		c("reputation_too_low", func(f *sdk.OrderFacts) { f.ProviderReputation = 699 }),
		c("reputation_at_threshold", func(f *sdk.OrderFacts) { f.ProviderReputation = 700 }),
		c("price_too_high", func(f *sdk.OrderFacts) { f.OfferPricePerHour = 10_000_001 }),
		c("price_at_cap", func(f *sdk.OrderFacts) { f.OfferPricePerHour = 10_000_000 }),
		c("price_unknown_uses_order_cap", func(f *sdk.OrderFacts) { f.OfferPricePerHour = 0; f.MaxPricePerHour = 12_000_000 }),
		c("price_no_gpu", func(f *sdk.OrderFacts) { f.GPUCount = 0; f.GPUHours = 0; f.OfferPricePerHour = 99_000_000 }),
		c("inflight_quota", func(f *sdk.OrderFacts) { f.InflightUsed = 64 }),
		c("inflight_one_left", func(f *sdk.OrderFacts) { f.InflightUsed = 63 }),
		c("rate_quota", func(f *sdk.OrderFacts) { f.OrdersLastMinute = 600 }),
		c("gpu_hours_quota", func(f *sdk.OrderFacts) { f.GPUHoursUsedToday = 237 }),
		c("gpu_hours_exactly_fill", func(f *sdk.OrderFacts) { f.GPUHoursUsedToday = 236 }),
		c("three_rules", func(f *sdk.OrderFacts) { f.NonceFresh = false; f.ProviderReputation = 1; f.OrdersLastMinute = 9999 }),
		c("everything", func(f *sdk.OrderFacts) {
			f.NonceFresh = false
			f.OrderExpires = 0
			f.ProviderRegion = sdk.MakeCode16("mars")
			f.ProviderReputation = 0
			f.OfferPricePerHour = 1 << 62
			f.InflightUsed, f.OrdersLastMinute, f.GPUHoursUsedToday = 1<<32-1, 1<<32-1, 1<<32-1
		}),
		{Name: "no_limits_allow", Params: open, Facts: func() sdk.OrderFacts {
			f := AllowFacts()
			f.ProviderReputation, f.InflightUsed, f.OfferPricePerHour = 0, 1<<32-1, 1<<62
			return f
		}()},
		{Name: "no_limits_still_replay", Params: open, Facts: func() sdk.OrderFacts { f := AllowFacts(); f.NonceFresh = false; return f }()},
	}
}

// regionPool is sorted, so params drawn from it in order are valid.
var regionPool = []string{"ap-south", "eu-central", "eu-north", "eu-west", "sa-east", "us-east", "us-west", "x"}

// RandomParams returns valid params drawn from r: sometimes no limit, often
// small values so that generated facts land on both sides of them.
func RandomParams(r *rand.Rand) std.Params {
	var p std.Params
	if r.IntN(4) != 0 {
		for _, reg := range regionPool {
			if r.IntN(3) == 0 {
				p.AllowedRegions = append(p.AllowedRegions, reg)
			}
		}
	}
	pick := func(limit int64) int64 {
		if r.IntN(4) == 0 {
			return 0
		}
		return 1 + r.Int64N(limit)
	}
	p.MinProviderReputation = pick(1000)
	p.MaxPricePerGPUHour = pick(10_000_000)
	p.MaxInflight = pick(100)
	p.OrdersPerMin = pick(1000)
	p.GPUHoursPerDay = pick(500)
	return p
}

// near returns v, v±1 or a random value in [0, hi], clamped at zero.
func near(r *rand.Rand, v, hi int64) int64 {
	switch r.IntN(5) {
	case 0:
		v--
	case 1:
		v++
	case 2:
	default:
		v = r.Int64N(hi + 1)
	}
	return max(v, 0)
}

// RandomFacts returns facts drawn from r, concentrated on the boundaries of
// p's rules.
func RandomFacts(r *rand.Rand, p *std.Params) sdk.OrderFacts {
	f := sdk.OrderFacts{
		Now:          Now,
		OrderCreated: Now - r.Int64N(60_000),
		OrderExpires: Now + near(r, 0, 3_600_000) - 1,
		NonceFresh:   r.IntN(8) != 0,
		LaneApplies:  r.IntN(2) == 0,
		GPUModel:     sdk.MakeCode32([]string{"", "h100", "a100-80gb", "rtx-4090"}[r.IntN(4)]),
		CPUMillis:    uint32(r.IntN(64_000)),
		MemoryMiB:    uint32(r.IntN(1 << 20)),
		DurationSec:  uint32(r.IntN(86_400)),
	}
	for i := range f.Client {
		f.Client[i] = byte(r.Uint32())
	}
	f.GPUCount = uint32(r.IntN(9))
	f.GPUHours = uint32(r.IntN(50))
	capPerHour := p.MaxPricePerGPUHour * int64(max(f.GPUCount, 1))
	f.MaxPricePerHour = near(r, capPerHour, 100_000_000)
	if r.IntN(3) != 0 {
		f.OfferPricePerHour = near(r, capPerHour, 100_000_000)
	}
	f.ProviderReputation = uint32(near(r, p.MinProviderReputation, 1000))
	f.InflightUsed = uint32(near(r, p.MaxInflight, 200))
	f.OrdersLastMinute = uint32(near(r, p.OrdersPerMin, 2000))
	f.GPUHoursUsedToday = uint32(near(r, p.GPUHoursPerDay-int64(f.GPUHours), 1000))
	n := r.IntN(7)
	f.RegionCount = uint8(n)
	for i := 0; i < n && i < sdk.RegionSlots; i++ {
		f.Regions[i] = sdk.MakeCode16(regionPool[r.IntN(len(regionPool))])
	}
	if r.IntN(2) == 0 {
		f.ProviderRegion = sdk.MakeCode16(regionPool[r.IntN(len(regionPool))])
		f.Provider = sdk.MakeCode16([]string{"vastai", "salad", "akash", "ionet"}[r.IntN(4)])
	}
	return f
}

// Corpus returns n cases from seed: paramSets random params with n/paramSets
// facts each (at least one set).
func Corpus(seed uint64, n, paramSets int) []Case {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	paramSets = max(paramSets, 1)
	out := make([]Case, 0, n)
	var p std.Params
	for i := 0; i < n; i++ {
		if i%max(n/paramSets, 1) == 0 {
			p = RandomParams(r)
		}
		out = append(out, Case{Params: p, Facts: RandomFacts(r, &p)})
	}
	return out
}
