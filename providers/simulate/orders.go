package simulate

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aurora-federation/aurora/treaty"
)

// orderGen draws orders deterministically. It fills one reused Order, so the
// hot loop allocates nothing per order; shared slices (regions, providers,
// the GPU request) are immutable.
type orderGen struct {
	rng      *rand.Rand
	clients  []treaty.DID
	gpus     map[gpuKey]*treaty.GPU // shared, immutable GPU requests
	provSets [][]string
	singles  [][]string // one-region lists
	nonce    [16]byte
	unsatGPU *treaty.GPU
	nowhere  []string // a region no profile serves
}

type gpuKey struct {
	model string
	count int64
	vram  bool
}

// modelMix is the demand mix: model, weight (percent), count weights for
// 1, 2, 4, 8 GPUs.
var modelMix = []struct {
	model  string
	weight int
	counts [4]int
}{
	{"H100", 10, [4]int{55, 20, 15, 10}},
	{"A100", 15, [4]int{60, 20, 12, 8}},
	{"L40S", 8, [4]int{70, 20, 10, 0}},
	{"A6000", 7, [4]int{70, 20, 10, 0}},
	{"RTX 4090", 31, [4]int{70, 20, 7, 3}},
	{"RTX 3090", 12, [4]int{75, 20, 5, 0}},
	{"RTX 3060", 5, [4]int{90, 10, 0, 0}},
	{"", 10, [4]int{100, 0, 0, 0}},    // CPU job
	{"B300", 2, [4]int{100, 0, 0, 0}}, // nobody rents it: unroutable on purpose
}

func newOrderGen(seed uint64, provs []string, clients []treaty.DID) *orderGen {
	g := &orderGen{
		rng:     rand.New(rand.NewPCG(seed, 0x0dde75)),
		clients: clients,
		gpus:    map[gpuKey]*treaty.GPU{},
		nowhere: []string{"af-south"},
	}
	for _, r := range allRegions {
		g.singles = append(g.singles, []string{r})
	}
	for i := range provs {
		for j := i + 1; j < len(provs); j++ {
			set := []string{provs[i], provs[j]}
			slices.Sort(set)
			g.provSets = append(g.provSets, set)
		}
	}
	if len(provs) == 1 {
		g.provSets = append(g.provSets, []string{provs[0]})
	}
	for _, mm := range modelMix {
		for _, n := range []int64{1, 2, 4, 8} {
			m, _ := modelInfo(mm.model)
			for _, vram := range []bool{false, true} {
				if mm.model == "" {
					continue
				}
				gp := &treaty.GPU{Model: mm.model, Count: n}
				if vram {
					gp.MinVRAM = m.vram
				}
				g.gpus[gpuKey{mm.model, n, vram}] = gp
			}
		}
	}
	g.unsatGPU = g.gpus[gpuKey{"B300", 1, false}]
	return g
}

// next fills o (a new order: the core keeps it) with the next order
// created at now, and returns the index of its client, who signs it.
func (g *orderGen) next(o *treaty.Order, now time.Time) int {
	r := g.rng
	for i := range g.nonce {
		g.nonce[i] = byte(r.Uint32())
	}
	o.V = treaty.Version
	ci := r.IntN(len(g.clients))
	o.Client = g.clients[ci]
	o.Nonce = slices.Clone(g.nonce[:])
	o.Created = now.Unix()
	o.Expires = o.Created + 3600
	o.Sig = nil

	// Workload.
	w := &o.Workload
	w.Image = "ghcr.io/aurora-federation/bench:1"
	w.CPU, w.Memory, w.Disk = 4000, 16<<10, 50<<10
	// Durations: lognormal, median 2 minutes (mean about 3), 30 s to 4 h.
	w.Duration = int64(min(max(120*math.Exp(0.9*r.NormFloat64()), 30), 4*3600))
	pick := r.IntN(100)
	mi := 0
	for acc := 0; mi < len(modelMix)-1; mi++ {
		acc += modelMix[mi].weight
		if pick < acc {
			break
		}
	}
	mix := modelMix[mi]
	count := int64(1)
	{
		c, acc := r.IntN(100), 0
		for k, wt := range mix.counts {
			acc += wt
			if c < acc {
				count = int64(1) << k
				break
			}
		}
	}
	m, _ := modelInfo(mix.model)
	ref := m.ref
	if mix.model == "" {
		w.GPU = nil
	} else {
		w.GPU = g.gpus[gpuKey{mix.model, count, r.IntN(2) == 0}]
		if mix.model == "B300" {
			w.GPU, ref = g.unsatGPU, 5_000_000
		}
	}

	// Constraints.
	k := &o.Constraints
	switch x := r.IntN(100); {
	case x < 45:
		k.Regions = nil
	case x < 65:
		k.Regions = regionsEU
	case x < 80:
		k.Regions = regionsUS
	case x < 82:
		k.Regions = regionsAsia
	case x < 97:
		k.Regions = g.singles[r.IntN(len(g.singles))]
	default:
		k.Regions = g.nowhere // nobody serves it: unroutable on purpose
	}
	k.Providers = nil
	if r.IntN(100) < 8 && len(g.provSets) > 0 {
		k.Providers = g.provSets[r.IntN(len(g.provSets))]
	}
	switch x := r.IntN(100); {
	case x < 80:
		k.MinReputation = 0
	case x < 96:
		k.MinReputation = 500
	default:
		k.MinReputation = 900
	}
	// Caps: from 0.8x to 2.5x the reference price, 3% far too low on purpose.
	f := 0.8 + 1.7*r.Float64()
	if r.IntN(100) < 3 {
		f = 0.2
	}
	k.MaxPricePerHour = max(int64(float64(ref)*float64(max(count, 1))*f), 1)
	if k.Regions == nil {
		k.Regions = []string{}
	}
	if k.Providers == nil {
		k.Providers = []string{}
	}
	w.Cmd, w.Env, w.Ports = []string{}, []treaty.EnvVar{}, []int64{}
	return ci
}
