package policy

import (
	"crypto/sha256"
	"math"
	"time"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/treaty"
)

// Facts are the host-computed facts about one order, the input of a policy:
// the order-facts/1 record (sdk.OrderFacts; AppendTo encodes it).
type Facts = sdk.OrderFacts

// FactsFromOrder fills the facts that come from the order itself and the
// decision time: times (in unix ms), client hash, GPU model, count and
// GPU-hours, resources, the order's price cap and its first regions. The
// caller adds what only the node knows: NonceFresh, LaneApplies, the lane's
// usage (InflightUsed, OrdersLastMinute, GPUHoursUsedToday) and the best
// candidate's Provider, ProviderRegion, ProviderReputation and
// OfferPricePerHour.
func FactsFromOrder(o *treaty.Order, now time.Time) Facts {
	f := Facts{
		Now:             now.UnixMilli(),
		OrderCreated:    secToMS(o.Created),
		OrderExpires:    secToMS(o.Expires),
		Client:          sha256.Sum256([]byte(o.Client)),
		MaxPricePerHour: o.Constraints.MaxPricePerHour,
		CPUMillis:       clampU32(o.Workload.CPU),
		MemoryMiB:       clampU32(o.Workload.Memory),
		DurationSec:     clampU32(o.Workload.Duration),
	}
	if g := o.Workload.GPU; g != nil {
		f.GPUModel = sdk.MakeCode32(g.Model)
		f.GPUCount = clampU32(g.Count)
		f.GPUHours = clampU32(o.Workload.GPUHours())
	}
	regions := o.Constraints.Regions
	f.RegionCount = uint8(min(len(regions), math.MaxUint8))
	for i := 0; i < len(regions) && i < sdk.RegionSlots; i++ {
		f.Regions[i] = sdk.MakeCode16(regions[i])
	}
	return f
}

func secToMS(s int64) int64 {
	if s > math.MaxInt64/1000 {
		return math.MaxInt64
	}
	if s < math.MinInt64/1000 {
		return math.MinInt64
	}
	return s * 1000
}

func clampU32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}
