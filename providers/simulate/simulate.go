// Package simulate is Aurora's routing simulator: a federation of operators,
// each with the real providers.Router and providers.Reputation over its own
// seeded set of in-process providers (providers/sim, shaped by per-network
// profiles), a policy judge, and a deterministic stream of orders arriving
// on a virtual clock. Nothing sleeps and Run starts no goroutine (Compare
// runs one Run per strategy in parallel); the same Config always yields the
// same decisions, summarised by a digest. BenchmarkSimulate reports the
// speed in orders per second.
//
// The model: orders arrive as a Poisson process (Rate per operator) at a
// uniformly chosen operator. The operator judges the order (Judge), plans
// (its Law, its providers, the other operators as treaty peers), and walks
// the plan: runs of provider candidates through Router.Launch (with its
// fallback chain and 429 backoff), peer candidates by forwarding the order
// (the peer judges and plans again, without forwarding further). Each order
// is processed atomically from its arrival instant: waits inside its
// launches (API call latency, backoff) advance the virtual clock for that
// order only. A lease runs from its ready time for the workload's duration
// and is then terminated, freeing capacity; the operator learns the launch
// latency when the lease turns running, as a node polling Status would.
package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/sim"
	"github.com/aurora-federation/aurora/treaty"
)

// Config configures a run. The zero value works: 3 operators, every
// profile, 10,000 orders, seed 0, no extra failures, the reputation
// strategy and no policy.
type Config struct {
	// Operators is the federation size. Default 3.
	Operators int
	// Providers names the profiles (Profiles()) each operator attaches.
	// Default: all of them.
	Providers []string
	// Orders is how many orders arrive. Default 10,000.
	Orders int
	// Seed seeds everything: providers, orders, arrivals.
	Seed uint64
	// Fail is an extra launch failure rate (0..1) on top of each profile's.
	Fail float64
	// Strategy is "cheapest", "fastest" or "reputation" (default).
	Strategy string
	// Judge decides each order at each operator that receives it: 0 allows,
	// anything else denies (the fedpolicy/1 decision word). The order is
	// reused after the call returns. nil allows everything. Compare calls
	// it from several goroutines.
	Judge func(order *treaty.Order, now time.Time) (word uint32)
	// Rate is the mean order arrival rate per operator, per virtual second.
	// Default 20.
	Rate float64
	// MaxForwards bounds how many treaty peers one order is forwarded to,
	// in plan order; further peer candidates are skipped. 0 = every peer in
	// the plan.
	MaxForwards int
	// Start is the virtual time of the first arrival. Default
	// 2026-01-01T00:00:00Z.
	Start time.Time
	// OnDecision, if set, sees every decision as it is made (for invariant
	// checks). The Decision's Order is reused after the call.
	OnDecision func(Decision)
}

func (c *Config) validate() error {
	if c.Operators == 0 {
		c.Operators = 3
	}
	if c.Operators < 1 || c.Operators > 64 {
		return fmt.Errorf("simulate: %d operators, want 1 to 64", c.Operators)
	}
	if len(c.Providers) == 0 {
		c.Providers = Profiles()
	}
	seen := map[string]bool{}
	for _, p := range c.Providers {
		if _, err := profileByName(p); err != nil {
			return err
		}
		if seen[p] {
			return fmt.Errorf("simulate: provider profile %q listed twice", p)
		}
		seen[p] = true
	}
	if c.Orders == 0 {
		c.Orders = 10_000
	}
	if c.Orders < 0 {
		return fmt.Errorf("simulate: %d orders", c.Orders)
	}
	if !(c.Fail >= 0 && c.Fail <= 1) {
		return fmt.Errorf("simulate: extra failure rate %g not in [0, 1]", c.Fail)
	}
	if c.Strategy == "" {
		c.Strategy = "reputation"
	}
	if _, err := providers.StrategyByName(c.Strategy); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if c.Rate == 0 {
		c.Rate = 20
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		return fmt.Errorf("simulate: arrival rate %g", c.Rate)
	}
	if c.MaxForwards < 0 {
		return fmt.Errorf("simulate: max forwards %d is negative", c.MaxForwards)
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return nil
}

// Outcome is what became of an order.
type Outcome uint8

const (
	Denied   Outcome = iota + 1 // the judge denied it at the receiving operator
	Unrouted                    // no candidate: the operator would send a Denial
	Filled                      // a lease reached running
	Unfilled                    // acknowledged, but every candidate failed
)

func (o Outcome) String() string {
	switch o {
	case Denied:
		return "denied"
	case Unrouted:
		return "unrouted"
	case Filled:
		return "filled"
	case Unfilled:
		return "unfilled"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Decision is one order's fate.
type Decision struct {
	Seq      int
	Operator int           // the operator that received the order
	Order    *treaty.Order // reused after the OnDecision call
	At       time.Time     // arrival
	Word     uint32        // the receiving operator's judge word
	Outcome  Outcome
	Via      int             // the peer operator that ran it, -1 if none
	Provider string          // the provider that ran it
	Price    providers.Money // the lease's price per hour
	RTT      time.Duration   // arrival → running
	Attempts int             // launch attempts, over every operator involved
	// PlanOverCap counts plan candidates priced above the order's cap
	// (must be 0).
	PlanOverCap int
}

// Result summarises a run.
type Result struct {
	Strategy  string
	Orders    int
	Denied    int // by the judge
	Unrouted  int // no candidate
	Acked     int // Orders - Denied - Unrouted
	Filled    int
	Forwarded int // filled by a treaty peer
	Forwards  int // orders sent to a peer (acknowledged or not)
	FillRate  float64
	RTTP50    time.Duration // arrival → running, filled orders
	RTTP95    time.Duration
	RTTP99    time.Duration
	TotalCost providers.Money // price × duration of every filled order
	// PerProvider is each profile's share of filled orders.
	PerProvider map[string]float64
	Attempts    int // launch attempts
	Failures    int // failed attempts (429s included)
	RateLimited int // attempts answered 429
	NoCapacity  int // attempts refused for capacity (stale offers)
	// Violations counts broken invariants: a lease above its order's cap, a
	// plan candidate above it, or a lease no filled order accounts for (a
	// launch on a denied order would be one). Always 0 unless there is a bug.
	Violations  int
	VirtualTime time.Duration // first arrival → last arrival
	Digest      string        // hex sha256 over every decision in order
}

// operator is one simulated node.
type operator struct {
	idx    int
	did    treaty.DID
	law    providers.Law
	router *providers.Router
	rep    *providers.Reputation
	provs  []*sim.Provider
	byName map[string]*sim.Provider
	peers  []providers.PeerOption
	peerOf map[treaty.DID]int
	rtt    []time.Duration // to each operator
}

// event is a lease's pending milestone: turning running (observe the
// latency), then ending (terminate).
type event struct {
	running bool
	op      *operator
	prov    *sim.Provider
	lease   string
	latency time.Duration
	end     int64
}

type heapItem struct {
	at int64 // unix ns
	ev int32
}

// run is one simulation's state.
type run struct {
	cfg    Config
	ctx    context.Context
	clock  *providers.VirtualClock
	ops    []*operator
	heap   []heapItem
	events []event // slab, indexed by heapItem.ev
	free   []int32
	res    Result
	rtts   []int64
	names  []string
	share  map[string]int

	plan, peerPlan providers.Plan // reused by every order

	attempts int // per order, reset by step
	onAtt    func(providers.Attempt)
	rec      [64]byte
}

// Run simulates cfg and returns its result. It fails only on an invalid
// Config or when ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	strategy, _ := providers.StrategyByName(cfg.Strategy)
	s := &run{
		cfg:   cfg,
		ctx:   ctx,
		clock: providers.NewVirtualClock(cfg.Start),
		share: map[string]int{},
		names: cfg.Providers,
		rtts:  make([]int64, 0, cfg.Orders),
	}
	s.res.Strategy = strategy.Name()
	s.onAtt = func(a providers.Attempt) {
		s.attempts++
		s.res.Attempts++
		if a.Err != nil {
			s.res.Failures++
			switch {
			case errors.Is(a.Err, providers.ErrRateLimited):
				s.res.RateLimited++
			case errors.Is(a.Err, providers.ErrNoCapacity):
				s.res.NoCapacity++
			}
		}
	}
	if err := s.build(strategy); err != nil {
		return Result{}, err
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0xa11ce))
	clients := make([]treaty.DID, 8)
	for i := range clients {
		clients[i] = didFor(cfg.Seed, "client", i)
	}
	gen := newOrderGen(rng.Uint64(), cfg.Providers, clients)
	h := sha256.New()
	var order treaty.Order
	totalRate := cfg.Rate * float64(cfg.Operators)
	t := cfg.Start.UnixNano()
	var jobBuf []byte
	for seq := range cfg.Orders {
		if seq&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
		}
		t += int64(rng.ExpFloat64() / totalRate * 1e9)
		s.drain(t)
		now := time.Unix(0, t).UTC()
		s.clock.Set(now)
		origin := s.ops[rng.IntN(len(s.ops))]
		gen.next(&order, now)
		jobBuf = strconv.AppendInt(append(jobBuf[:0], 'j'), int64(seq), 10)
		d := s.step(seq, origin, &order, now, string(jobBuf))
		s.tally(&d, h)
		if cfg.OnDecision != nil {
			cfg.OnDecision(d)
		}
	}
	s.res.VirtualTime = time.Duration(t - cfg.Start.UnixNano())
	s.finish(h)
	return s.res, nil
}

// build creates the operators, their providers and routers, and the treaty
// peer options between them.
func (s *run) build(strategy providers.Strategy) error {
	for i := range s.cfg.Operators {
		op := &operator{
			idx:    i,
			did:    didFor(s.cfg.Seed, "operator", i),
			law:    lawFor(i),
			byName: map[string]*sim.Provider{},
			peerOf: map[treaty.DID]int{},
		}
		var err error
		// Routing reads reputation once per plan; a second of virtual staleness
		// spares a snapshot rebuild per order.
		op.rep, err = providers.NewReputation(providers.ReputationConfig{Clock: s.clock, MaxStaleness: time.Second})
		if err != nil {
			return err
		}
		var ps []providers.Provider
		for j, name := range s.cfg.Providers {
			prof, _ := profileByName(name)
			p, err := prof.instance(mix(s.cfg.Seed, uint64(i), uint64(j)), s.cfg.Fail, s.clock)
			if err != nil {
				return fmt.Errorf("simulate: operator %d: %w", i, err)
			}
			op.provs = append(op.provs, p)
			op.byName[name] = p
			ps = append(ps, p)
		}
		op.router, err = providers.NewRouter(providers.RouterConfig{
			Providers:     ps,
			Strategy:      strategy,
			Reputation:    op.rep,
			Clock:         s.clock,
			LaunchTimeout: -1, // virtual time: a real-time deadline would only cost
			// In-process providers answer at once: fetch inline, no goroutines.
			FetchParallelism: 1,
			// At 20 orders/s an operator sees each GPU shape every few seconds;
			// a 30 s cache keeps offer fetches below one per order.
			OfferTTL: 30 * time.Second,
		})
		if err != nil {
			return err
		}
		s.ops = append(s.ops, op)
	}
	rng := rand.New(rand.NewPCG(s.cfg.Seed, 0x9ee25))
	for _, a := range s.ops {
		a.rtt = make([]time.Duration, len(s.ops))
		for _, b := range s.ops {
			if a == b {
				continue
			}
			a.rtt[b.idx] = time.Duration(20+rng.IntN(130)) * time.Millisecond
			var regions []string
			for _, p := range b.provs {
				for _, r := range p.Capabilities().Regions {
					if !contains(regions, r) && (len(b.law.AllowedRegions) == 0 || contains(b.law.AllowedRegions, r)) {
						regions = append(regions, r)
					}
				}
			}
			slices.Sort(regions)
			a.peerOf[b.did] = b.idx
			a.peers = append(a.peers, providers.PeerOption{
				DID:     b.did,
				Treaty:  treaty.LinkTo(treaty.CIDOf([]byte("aurora/sim/treaty\n" + string(a.did) + "\n" + string(b.did)))),
				Regions: regions,
				RTT:     a.rtt[b.idx],
			})
		}
	}
	return nil
}

// lawFor gives operators different treaty laws: none, a per-GPU-hour price
// cap, a reputation floor, EU-only.
func lawFor(i int) providers.Law {
	switch i % 4 {
	case 1:
		return providers.Law{MaxPricePerGPUHour: 3_000_000}
	case 2:
		return providers.Law{MinProviderReputation: 600}
	case 3:
		return providers.Law{AllowedRegions: regionsEU}
	}
	return providers.Law{}
}

// step decides one order at origin. The order is acknowledged when a route
// accepts it: at once if the plan holds a local provider, or when a peer it
// is forwarded to acknowledges (its judge allows and it has a plan). Plan
// candidates are walked in order: runs of providers through Router.Launch,
// peers by forwarding.
func (s *run) step(seq int, origin *operator, order *treaty.Order, now time.Time, job string) Decision {
	s.attempts = 0
	d := s.decide(seq, origin, order, now, job)
	d.Attempts = s.attempts
	return d
}

func (s *run) decide(seq int, origin *operator, order *treaty.Order, now time.Time, job string) Decision {
	d := Decision{Seq: seq, Operator: origin.idx, Order: order, At: now, Via: -1}
	if s.cfg.Judge != nil {
		if d.Word = s.cfg.Judge(order, now); d.Word != 0 {
			d.Outcome = Denied
			return d
		}
	}
	plan := &s.plan
	if err := origin.router.PlanInto(s.ctx, plan, order, origin.law, origin.peers); err != nil {
		d.Outcome = Unrouted
		return d
	}
	d.PlanOverCap = overCap(*plan, order)
	spec := providers.LaunchSpec{JobID: job, Workload: order.Workload, MaxPricePerHour: providers.Money(order.Constraints.MaxPricePerHour)}
	acked := false
	forwards := 0
	cands := plan.Candidates
	for i := 0; i < len(cands); {
		if cands[i].Kind == treaty.RoutePeer {
			if forwards == s.cfg.MaxForwards && forwards > 0 {
				i++
				continue
			}
			forwards++
			peer := s.ops[origin.peerOf[cands[i].Peer]]
			rtt := origin.rtt[peer.idx]
			peerAcked, filled := s.forward(&d, peer, order, now, rtt, spec)
			acked = acked || peerAcked
			if peerAcked {
				origin.rep.ObservePeer(peer.did, filled, rtt)
			}
			if filled {
				return d
			}
			i++
			continue
		}
		acked = true
		j := i + 1
		for j < len(cands) && cands[j].Kind == treaty.RouteProvider {
			j++
		}
		if s.launch(&d, origin, providers.Plan{Candidates: cands[i:j]}, spec, now) {
			return d
		}
		i = j
	}
	if acked {
		d.Outcome = Unfilled
	} else {
		d.Outcome = Unrouted // every peer sent a Denial
	}
	return d
}

// forward sends order to peer, where it arrives rtt/2 after the origin's
// clock (which includes the origin's own attempts so far). The peer judges
// and plans without forwarding further; it acknowledges if both pass.
func (s *run) forward(d *Decision, peer *operator, order *treaty.Order, arrival time.Time, rtt time.Duration, spec providers.LaunchSpec) (acked, filled bool) {
	s.res.Forwards++
	at := s.clock.Advance(rtt / 2)
	if s.cfg.Judge != nil && s.cfg.Judge(order, at) != 0 {
		return false, false
	}
	plan := &s.peerPlan
	if err := peer.router.PlanInto(s.ctx, plan, order, peer.law, nil); err != nil {
		return false, false
	}
	d.PlanOverCap += overCap(*plan, order)
	if s.launch(d, peer, *plan, spec, arrival) {
		d.Via = peer.idx
		return true, true
	}
	return true, false
}

// launch walks plan at op; on success it records the fill in d and
// schedules the lease's milestones.
func (s *run) launch(d *Decision, op *operator, plan providers.Plan, spec providers.LaunchSpec, arrival time.Time) bool {
	launchedAt := s.clock.Now()
	lease, c, err := op.router.Launch(s.ctx, plan, spec, s.onAtt)
	if err != nil {
		return false
	}
	p := op.byName[c.Name]
	info, ok := p.Inspect(lease.ID)
	if !ok {
		s.res.Violations++
		return false
	}
	d.Outcome = Filled
	d.Provider = c.Name
	d.Price = lease.PricePerHour
	d.RTT = info.Ready.Sub(arrival)
	s.schedule(info.Ready.UnixNano(), event{
		running: true,
		op:      op,
		prov:    p,
		lease:   lease.ID,
		latency: info.Ready.Sub(launchedAt),
		end:     info.Ready.UnixNano() + spec.Workload.Duration*int64(time.Second),
	})
	return true
}

func overCap(plan providers.Plan, order *treaty.Order) int {
	n := 0
	for i := range plan.Candidates {
		c := &plan.Candidates[i]
		if c.Offer.PricePerHour > providers.Money(order.Constraints.MaxPricePerHour) {
			n++
		}
	}
	return n
}

// tally adds d to the result and the digest.
func (s *run) tally(d *Decision, h hash.Hash) {
	r := &s.res
	r.Orders++
	r.Violations += d.PlanOverCap
	provIdx := uint16(0xffff)
	switch d.Outcome {
	case Denied:
		r.Denied++
	case Unrouted:
		r.Unrouted++
	case Filled:
		r.Filled++
		if d.Via >= 0 {
			r.Forwarded++
		}
		if d.Price > providers.Money(d.Order.Constraints.MaxPricePerHour) {
			r.Violations++
		}
		s.rtts = append(s.rtts, int64(d.RTT))
		s.share[d.Provider]++
		r.TotalCost += d.Price * providers.Money(d.Order.Workload.Duration) / 3600
		if i := slices.Index(s.names, d.Provider); i >= 0 {
			provIdx = uint16(i)
		}
	}
	b := s.rec[:0]
	b = binary.BigEndian.AppendUint64(b, uint64(d.Seq))
	b = append(b, byte(d.Operator), byte(d.Outcome), byte(d.Via+1), byte(d.Attempts))
	b = binary.BigEndian.AppendUint32(b, d.Word)
	b = binary.BigEndian.AppendUint16(b, provIdx)
	b = binary.BigEndian.AppendUint64(b, uint64(d.Price))
	b = binary.BigEndian.AppendUint64(b, uint64(d.RTT))
	h.Write(b)
}

func (s *run) finish(h hash.Hash) {
	r := &s.res
	r.Acked = r.Orders - r.Denied - r.Unrouted
	if r.Acked > 0 {
		r.FillRate = float64(r.Filled) / float64(r.Acked)
	}
	slices.Sort(s.rtts)
	r.RTTP50 = time.Duration(quantile(s.rtts, 0.50))
	r.RTTP95 = time.Duration(quantile(s.rtts, 0.95))
	r.RTTP99 = time.Duration(quantile(s.rtts, 0.99))
	r.PerProvider = make(map[string]float64, len(s.share))
	for name, n := range s.share {
		r.PerProvider[name] = float64(n) / float64(r.Filled)
	}
	// Every lease ever created must belong to a filled order.
	var leases int64
	for _, op := range s.ops {
		for _, p := range op.provs {
			leases += p.Stats().Launched
		}
	}
	if leases != int64(r.Filled) {
		r.Violations += int(max(leases-int64(r.Filled), int64(r.Filled)-leases))
	}
	r.Digest = hex.EncodeToString(h.Sum(nil))
}

// quantile returns the nearest-rank q quantile of sorted xs.
func quantile(xs []int64, q float64) int64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// drain processes lease milestones due by t.
func (s *run) drain(t int64) {
	for len(s.heap) > 0 && s.heap[0].at <= t {
		h := s.pop()
		e := &s.events[h.ev]
		s.clock.Set(time.Unix(0, h.at))
		if e.running {
			e.op.rep.ObserveLatency(e.prov.Name(), e.latency)
			e.running = false
			s.push(e.end, h.ev)
			continue
		}
		// The lease is ours and live: Terminate cannot fail.
		_ = e.prov.Terminate(s.ctx, e.lease)
		*e = event{}
		s.free = append(s.free, h.ev)
	}
}

// schedule stores e and queues it at time at.
func (s *run) schedule(at int64, e event) {
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		i = int32(len(s.events))
		s.events = append(s.events, event{})
	}
	s.events[i] = e
	s.push(at, i)
}

// push and pop keep s.heap a binary min-heap on at. Ties pop in an order
// fixed by the push sequence, so runs stay deterministic.
func (s *run) push(at int64, ev int32) {
	s.heap = append(s.heap, heapItem{at, ev})
	h := s.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (s *run) pop() heapItem {
	h := s.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].at < h[l].at {
			m = r
		}
		if h[i].at <= h[m].at {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}

// Compare runs cfg once per strategy (same seed, same orders) and returns
// the results in the order of strategies. Runs execute concurrently, up to
// GOMAXPROCS at a time, so cfg.Judge and cfg.OnDecision must be safe for
// concurrent use.
func Compare(ctx context.Context, cfg Config, strategies []string) ([]Result, error) {
	for _, st := range strategies {
		if _, err := providers.StrategyByName(st); err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
	}
	out := make([]Result, len(strategies))
	errs := make([]error, len(strategies))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, st := range strategies {
		c := cfg
		c.Strategy = st
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = Run(ctx, c)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// didFor derives a deterministic did:key for a simulated party.
func didFor(seed uint64, role string, i int) treaty.DID {
	sum := sha256.Sum256(fmt.Appendf(nil, "aurora/sim/%s/%d/%d", role, seed, i))
	k, err := treaty.NewKeyFromSeed(sum[:])
	if err != nil {
		panic(err) // 32-byte seed: cannot fail
	}
	return k.DID()
}

// mix derives a sub-seed.
func mix(seed uint64, xs ...uint64) uint64 {
	h := seed ^ 0x9e3779b97f4a7c15
	for _, x := range xs {
		h ^= x + 0x9e3779b97f4a7c15 + h<<6 + h>>2
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	return h
}
