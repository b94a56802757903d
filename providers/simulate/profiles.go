package simulate

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/sim"
)

// Regions of the simulated world: canonical Aurora regions (providers.Regions).
// Lists used as order constraints are sorted, as orders require.
var (
	regionsEU   = []string{"eu-central", "eu-north", "eu-south", "eu-west"}
	regionsUS   = []string{"us-central", "us-east", "us-west"}
	regionsAsia = []string{"ap-northeast", "ap-southeast"}
	allRegions  = []string{"ap-northeast", "ap-southeast", "ca-central", "eu-central", "eu-north", "eu-south", "eu-west", "oc-southeast", "us-central", "us-east", "us-west"}
)

// gpuModel is a GPU the simulated world knows, with its VRAM and a
// reference market price per GPU-hour.
type gpuModel struct {
	name string
	vram int64           // MiB
	ref  providers.Money // micro-USD per GPU-hour
}

// The GPU catalogue. The empty model is a CPU machine (per machine-hour).
var catalogue = []gpuModel{
	{"H100", 80 << 10, 2_200_000},
	{"A100", 80 << 10, 1_200_000},
	{"L40S", 48 << 10, 850_000},
	{"A6000", 48 << 10, 500_000},
	{"RTX 4090", 24 << 10, 380_000},
	{"RTX 3090", 24 << 10, 200_000},
	{"RTX 3060", 12 << 10, 80_000},
	{"", 0, 40_000},
}

func modelInfo(name string) (gpuModel, bool) {
	for _, m := range catalogue {
		if m.name == name {
			return m, true
		}
	}
	return gpuModel{}, false
}

// offering is a GPU a profile rents, in which machine sizes, at which price
// factor range relative to the reference price.
type offering struct {
	model  string
	counts []int64
	lo, hi float64
}

// profile is a seeded behaviour model of one network, from the field notes
// (notes/PROVIDER_APIS.md): what it rents, where, how fast launches reach
// running, how often they fail, how often its API answers 429, and how much
// it can hold at once.
type profile struct {
	name     string
	regions  []string
	offers   []offering
	latency  sim.Latency   // launch → running
	call     time.Duration // one Launch API call
	fail     float64       // base launch failure rate
	rate429  int           // every Nth Launch call is rate limited; 0 = never
	capacity int           // concurrent leases, ±30% per operator
}

var dc = []int64{1, 2, 4, 8}

// capacityScale scales every profile's capacity to the default arrival rate
// (20 orders per second per operator, workloads of about three minutes).
const capacityScale = 2

// profiles are the built-in network models. Sources for the shapes: Vast.ai
// instances go null → loading → running in tens of seconds to minutes and
// the API throttles ("threshold=4.5"); Salad container groups pull images
// onto consumer GPUs for minutes, 240 req/min; Akash launches are an auction
// (bids, lease, manifest) with chain transactions; io.net deployments are
// prepaid and take minutes, 150 req/10 s; Render Compute jobs go PENDING →
// ASSIGNED → RUNNING (early access, small); Flux has no GPUs, a payment on
// chain and long installs; sim is a generic fast provider.
var profiles = []profile{
	{
		name:    "vastai",
		regions: []string{"ap-northeast", "ap-southeast", "ca-central", "eu-central", "eu-north", "eu-south", "eu-west", "oc-southeast", "us-central", "us-east", "us-west"},
		offers: []offering{
			{"H100", dc, 0.80, 1.05}, {"A100", dc, 0.75, 1.0}, {"L40S", []int64{1, 2, 4}, 0.8, 1.0},
			{"A6000", []int64{1, 2, 4}, 0.75, 1.0}, {"RTX 4090", dc, 0.75, 1.0}, {"RTX 3090", []int64{1, 2, 4}, 0.75, 1.0},
			{"RTX 3060", []int64{1}, 0.8, 1.1},
		},
		latency: sim.Latency{Median: 45 * time.Second, Sigma: 0.6, Min: 10 * time.Second, Max: 10 * time.Minute},
		call:    400 * time.Millisecond, fail: 0.05, rate429: 40, capacity: 700,
	},
	{
		name:    "salad",
		regions: []string{"ap-northeast", "ca-central", "eu-central", "eu-west", "oc-southeast", "us-central", "us-east", "us-west"},
		offers: []offering{
			{"RTX 4090", []int64{1, 2}, 0.6, 0.85}, {"RTX 3090", []int64{1, 2}, 0.6, 0.85},
			{"RTX 3060", []int64{1}, 0.6, 0.8}, {"L40S", []int64{1}, 0.75, 0.95}, {"", []int64{0}, 0.8, 1.2},
		},
		latency: sim.Latency{Median: 150 * time.Second, Sigma: 0.5, Min: 45 * time.Second, Max: 20 * time.Minute},
		call:    250 * time.Millisecond, fail: 0.08, rate429: 60, capacity: 1500,
	},
	{
		name:    "akash",
		regions: []string{"ap-southeast", "eu-central", "eu-north", "eu-west", "us-east", "us-west"},
		offers: []offering{
			{"H100", dc, 0.7, 0.95}, {"A100", dc, 0.7, 0.95}, {"RTX 4090", []int64{1, 2}, 0.7, 0.95},
			{"A6000", []int64{1}, 0.7, 1.0}, {"RTX 3090", []int64{1}, 0.7, 1.0}, {"", []int64{0}, 0.6, 0.9},
		},
		latency: sim.Latency{Median: 75 * time.Second, Sigma: 0.5, Min: 20 * time.Second, Max: 15 * time.Minute},
		call:    1500 * time.Millisecond, fail: 0.10, rate429: 0, capacity: 300,
	},
	{
		name:    "ionet",
		regions: []string{"ap-northeast", "ap-southeast", "eu-central", "eu-north", "eu-south", "eu-west", "us-central", "us-east", "us-west"},
		offers: []offering{
			{"H100", dc, 0.85, 1.1}, {"A100", dc, 0.85, 1.1}, {"L40S", []int64{1, 2, 4}, 0.85, 1.1},
			{"RTX 4090", dc, 0.85, 1.1}, {"A6000", []int64{1, 2}, 0.85, 1.1},
		},
		latency: sim.Latency{Median: 120 * time.Second, Sigma: 0.4, Min: 30 * time.Second, Max: 15 * time.Minute},
		call:    600 * time.Millisecond, fail: 0.06, rate429: 100, capacity: 900,
	},
	{
		name:    "render",
		regions: []string{"eu-central", "eu-west", "us-east", "us-west"},
		offers: []offering{
			{"RTX 4090", []int64{1, 2, 4}, 0.9, 1.25}, {"A100", []int64{1, 2}, 0.9, 1.2},
			{"H100", []int64{1, 8}, 0.95, 1.2}, {"L40S", []int64{1, 2}, 0.9, 1.2},
		},
		latency: sim.Latency{Median: 60 * time.Second, Sigma: 0.7, Min: 5 * time.Second, Max: 20 * time.Minute},
		call:    300 * time.Millisecond, fail: 0.05, rate429: 0, capacity: 300,
	},
	{
		name:    "flux",
		regions: []string{"ap-northeast", "eu-central", "eu-south", "eu-west", "us-east", "us-west"},
		offers:  []offering{{"", []int64{0}, 0.4, 0.7}},
		latency: sim.Latency{Median: 10 * time.Minute, Sigma: 0.3, Min: 3 * time.Minute, Max: 40 * time.Minute},
		call:    2 * time.Second, fail: 0.03, rate429: 0, capacity: 2000,
	},
	{
		name:    "sim",
		regions: allRegions,
		offers: []offering{
			{"H100", dc, 0.95, 1.3}, {"A100", dc, 0.95, 1.3}, {"L40S", dc, 0.95, 1.3}, {"A6000", dc, 0.95, 1.3},
			{"RTX 4090", dc, 0.95, 1.3}, {"RTX 3090", dc, 0.95, 1.3}, {"RTX 3060", []int64{1, 2}, 0.95, 1.3},
			{"", []int64{0}, 0.95, 1.3},
		},
		latency: sim.Latency{Min: time.Second, Max: 4 * time.Second},
		call:    50 * time.Millisecond, fail: 0.01, rate429: 0, capacity: 600,
	},
}

// Profiles returns the names of the built-in provider profiles.
func Profiles() []string {
	out := make([]string, len(profiles))
	for i, p := range profiles {
		out[i] = p.name
	}
	return out
}

func profileByName(name string) (*profile, error) {
	for i := range profiles {
		if profiles[i].name == name {
			return &profiles[i], nil
		}
	}
	return nil, fmt.Errorf("simulate: unknown provider profile %q (have %v)", name, Profiles())
}

// instance draws one operator's copy of the profile: a subset of its
// regions, a subset of machine sizes per region with jittered prices, and a
// capacity; failures combine the profile's base rate with extra.
func (p *profile) instance(seed uint64, extra float64, clock providers.Clock) (*sim.Provider, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	var regions []string
	for _, r := range p.regions {
		if rng.Float64() < 0.75 {
			regions = append(regions, r)
		}
	}
	for len(regions) < 2 { // every instance serves somewhere
		r := p.regions[rng.IntN(len(p.regions))]
		if !contains(regions, r) {
			regions = append(regions, r)
		}
	}
	var gpus []sim.GPU
	for _, o := range p.offers {
		m, _ := modelInfo(o.model)
		for _, n := range o.counts {
			for _, r := range regions {
				if rng.Float64() < 0.3 {
					continue
				}
				f := o.lo + (o.hi-o.lo)*rng.Float64()
				per := max(n, 1)
				gpus = append(gpus, sim.GPU{
					Model:        o.model,
					Count:        n,
					VRAMMiB:      m.vram,
					PricePerHour: max(providers.Money(float64(m.ref)*f)*providers.Money(per), 1),
					Regions:      []string{r},
				})
			}
		}
	}
	capacity := int(float64(p.capacity) * capacityScale * (0.7 + 0.6*rng.Float64()))
	return sim.New(sim.Config{
		Name:           p.name,
		Seed:           rng.Uint64(),
		Regions:        regions,
		GPUs:           gpus,
		Capacity:       capacity,
		FailureRate:    1 - (1-p.fail)*(1-extra),
		LaunchLatency:  p.latency,
		CallLatency:    p.call,
		RateLimitEvery: p.rate429,
		Clock:          clock,
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
