// Package simulate is Aurora's routing simulator: a federation of operators,
// each running the node's own order core (order.Core: verification,
// idempotent answers, policy before planning, quotas, forwarding with its
// exactly-once protocol, the launch walk with fallbacks and status polls)
// with the real providers.Router and providers.Reputation over its own
// seeded set of in-process providers (providers/sim, shaped by per-network
// profiles), a policy judge, and a deterministic stream of signed orders
// arriving on a virtual clock. Nothing sleeps; Run drives the cores on its
// own goroutine (Compare runs one Run per strategy in parallel); the same
// Config always yields the same decisions, summarised by a digest.
// BenchmarkSimulate reports the speed in orders per second.
//
// The model: orders arrive as a Poisson process (Rate per operator) at a
// uniformly chosen operator, whose core answers it as a node would. A
// forward reaches the peer half the RTT later on the virtual clock; the
// peer's core judges it under the lane's treaty (which carries the peer's
// own law) and runs it on its own providers. Launch steps and status polls
// run on the virtual clock's timers; a lease runs from its ready time for
// the workload's duration and is then terminated, freeing capacity.
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
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/order"
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
	// Judge decides each order at each operator that receives it, with the
	// facts the order core computes (the node's judge: judge.Native runs
	// the standard law). nil allows everything. Compare calls it from
	// several goroutines.
	Judge order.Judge
	// Laws are the operators' own laws, by operator index (cycled); a
	// forward is judged under a treaty that carries the receiving
	// operator's law. Default: none, a per-GPU-hour price cap, a
	// reputation floor, EU-only, in turn.
	Laws []providers.Law
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
	Errors      int // orders refused with an error (503 busy): counted as unrouted
	// Violations counts broken invariants: a lease above its order's cap, a
	// job settled that no order was acknowledged for, an acknowledged order
	// that never settled, or fewer leases than fills. Always 0 unless there
	// is a bug.
	Violations  int
	VirtualTime time.Duration // first arrival → last arrival
	Digest      string        // hex sha256 over every decision in order
}

// operator is one simulated node: the order core the node runs, on a
// MemStore ledger, with the real router and reputation over its providers.
type operator struct {
	idx    int
	key    *treaty.PrivateKey
	did    treaty.DID
	law    providers.Law
	router *providers.Router
	rep    *providers.Reputation
	provs  []*sim.Provider
	byName map[string]*sim.Provider
	peers  []providers.PeerOption
	peerOf map[treaty.DID]int
	rtt    []time.Duration // to each operator
	core   *order.Core
	lanes  map[treaty.DID]order.LaneInfo // forwards from each peer
}

// run is one simulation's state.
type run struct {
	cfg   Config
	ctx   context.Context
	clock *clock.Virtual
	ops   []*operator
	res   Result
	rtts  []int64
	names []string
	share map[string]int

	decisions []Decision     // by Seq
	pending   map[string]int // job ID (order CID) → Seq, until settled
	origin    map[string]int // job ID → the operator that received it
	attempts  map[string]int // job ID → launch attempts so far
	rec       [64]byte
}

// Run simulates cfg and returns its result. It fails only on an invalid
// Config or when ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	strategy, _ := providers.StrategyByName(cfg.Strategy)
	s := &run{
		cfg:       cfg,
		ctx:       ctx,
		clock:     clock.NewVirtual(cfg.Start),
		share:     map[string]int{},
		names:     cfg.Providers,
		rtts:      make([]int64, 0, cfg.Orders),
		decisions: make([]Decision, cfg.Orders),
		pending:   map[string]int{},
		origin:    map[string]int{},
		attempts:  map[string]int{},
	}
	s.res.Strategy = strategy.Name()
	if err := s.build(strategy); err != nil {
		return Result{}, err
	}
	defer func() {
		for _, op := range s.ops {
			op.core.Close()
		}
	}()

	rng := rand.New(rand.NewPCG(cfg.Seed, 0xa11ce))
	clients := make([]*treaty.PrivateKey, 8)
	dids := make([]treaty.DID, len(clients))
	for i := range clients {
		clients[i] = keyFor(cfg.Seed, "client", i)
		dids[i] = clients[i].DID()
	}
	gen := newOrderGen(rng.Uint64(), cfg.Providers, dids)
	totalRate := cfg.Rate * float64(cfg.Operators)
	t := cfg.Start.UnixNano()
	for seq := range cfg.Orders {
		if seq&255 == 0 {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
		}
		t += int64(rng.ExpFloat64() / totalRate * 1e9)
		now := time.Unix(0, t).UTC()
		s.runUntil(now)
		origin := s.ops[rng.IntN(len(s.ops))]
		o := new(treaty.Order)
		ci := gen.next(o, now)
		if err := treaty.Sign(o, clients[ci]); err != nil {
			return Result{}, err
		}
		s.submit(seq, origin, o, now)
		s.clock.Set(now) // the answer's waits (forwards) were this order's own
		s.drain()
	}
	s.res.VirtualTime = time.Duration(t - cfg.Start.UnixNano())
	// Let every acknowledged order reach running or fail.
	for len(s.pending) > 0 {
		next, ok := s.clock.Next()
		if !ok {
			break
		}
		s.runUntil(next)
	}
	s.res.Violations += len(s.pending) // acked and never settled
	h := sha256.New()
	for i := range s.decisions {
		d := &s.decisions[i]
		s.tally(d, h)
		if cfg.OnDecision != nil {
			cfg.OnDecision(*d)
		}
	}
	s.finish(h)
	return s.res, nil
}

// runUntil fires every timer due by t, running the steps each one readies
// at its own instant, then moves the clock to t.
func (s *run) runUntil(t time.Time) {
	for {
		next, ok := s.clock.Next()
		if !ok || next.After(t) {
			break
		}
		s.clock.AdvanceTo(next)
		s.drain()
	}
	s.clock.AdvanceTo(t)
}

// drain runs every ready step of every operator, each from the current
// instant: waits inside a step (API call latency, 429 backoff) advance the
// clock for that step only, as concurrent workers of a node would, and the
// clock is set back after it. Timers a step sets count from its own end.
func (s *run) drain() {
	t0 := s.clock.Now()
	for {
		n := 0
		for _, op := range s.ops {
			for op.core.Step(s.ctx) {
				s.clock.Set(t0)
				n++
			}
		}
		if n == 0 {
			return
		}
	}
}

// submit gives order seq to origin's core, as a client's POST would.
func (s *run) submit(seq int, origin *operator, o *treaty.Order, now time.Time) {
	d := &s.decisions[seq]
	*d = Decision{Seq: seq, Operator: origin.idx, Order: o, At: now, Via: -1}
	reply, err := origin.core.Submit(s.ctx, o)
	switch {
	case err != nil:
		s.res.Errors++
		d.Outcome = Unrouted
	case reply.Denial != nil:
		d.Word = uint32(reply.Denial.ReasonBits)
		d.Outcome = Denied
		if d.Word == 0 {
			d.Outcome = Unrouted // no candidate, or every peer refused
		}
	default:
		d.Outcome = Unfilled // until a lease runs
		s.pending[reply.Job] = seq
		s.origin[reply.Job] = origin.idx
	}
}

// settled is every operator's OnSettled: the job's lease runs (its
// workload ends after its duration) or its chain failed.
func (s *run) settled(op *operator, j *order.Job) {
	id := j.Record.Job
	seq, ok := s.pending[id]
	if !ok {
		s.res.Violations++ // a job nobody acknowledged
		return
	}
	delete(s.pending, id)
	d := &s.decisions[seq]
	for _, tr := range j.Record.Transitions {
		if tr.Status == treaty.StatusLaunching {
			d.Attempts++
		}
	}
	if j.Status() != treaty.StatusRunning {
		return
	}
	d.Attempts++
	name, lease, _ := strings.Cut(j.Record.Lease, "/")
	p := op.byName[name]
	info, ok := p.Inspect(lease)
	if !ok {
		s.res.Violations++
		return
	}
	d.Outcome = Filled
	d.Provider = name
	d.Price = providers.Money(j.Record.Price)
	d.RTT = info.Ready.Sub(d.At)
	if op.idx != s.origin[id] {
		d.Via = op.idx
	}
	end := info.Ready.Add(time.Duration(d.Order.Workload.Duration) * time.Second)
	s.clock.AfterFunc(end.Sub(s.clock.Now()), func() {
		_ = p.Terminate(s.ctx, lease) // ours and live: cannot fail
	})
}

// build creates the operators, their providers, routers and cores, and the
// treaty lanes between them.
func (s *run) build(strategy providers.Strategy) error {
	for i := range s.cfg.Operators {
		k := keyFor(s.cfg.Seed, "operator", i)
		op := &operator{
			idx:    i,
			key:    k,
			did:    k.DID(),
			law:    s.lawFor(i),
			byName: map[string]*sim.Provider{},
			peerOf: map[treaty.DID]int{},
			lanes:  map[treaty.DID]order.LaneInfo{},
		}
		var err error
		// Routing reads reputation once per plan; a second of virtual staleness
		// spares a snapshot rebuild per order.
		op.rep, err = providers.NewReputation(providers.ReputationConfig{Clock: s.clock, MaxStaleness: time.Second})
		if err != nil {
			return err
		}
		var ps []providers.Provider
		pm := map[string]providers.Provider{}
		for j, name := range s.cfg.Providers {
			prof, _ := profileByName(name)
			p, err := prof.instance(mix(s.cfg.Seed, uint64(i), uint64(j)), s.cfg.Fail, s.clock)
			if err != nil {
				return fmt.Errorf("simulate: operator %d: %w", i, err)
			}
			op.provs = append(op.provs, p)
			op.byName[name] = p
			ps = append(ps, p)
			pm[name] = p
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
		judge := s.cfg.Judge
		if judge == nil {
			judge = order.JudgeFunc(func(context.Context, *order.JudgeInput) (order.Verdict, error) { return order.Verdict{}, nil })
		}
		op.core, err = order.New(order.Config{
			Key: k, Clock: s.clock, Ledger: order.NewLedger(order.LedgerConfig{Store: order.NewMemStore(s.clock)}),
			Judge:  judge,
			Router: op.router, Reputation: op.rep, Providers: pm, Law: op.law,
			Peers: simPeers{op}, Forward: &simLink{s: s, from: op}, Lanes: simLanes{op}, MaxForwards: s.cfg.MaxForwards,
			// A node polls booting leases from 100 ms, doubling; the
			// simulator polls finer so RTTs are the providers' own.
			PollMin: 50 * time.Millisecond, PollMax: time.Second,
			OnSettled: func(j *order.Job) { s.settled(op, j) },
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
			tl := treaty.LinkTo(treaty.CIDOf([]byte("aurora/sim/treaty\n" + string(a.did) + "\n" + string(b.did))))
			a.peerOf[b.did] = b.idx
			a.peers = append(a.peers, providers.PeerOption{DID: b.did, Treaty: tl, Regions: regions, RTT: a.rtt[b.idx]})
			// b's side: a lane a → b under b's own law.
			lane := treaty.Lane{From: a.did, To: b.did}
			t := &treaty.Treaty{Parties: []treaty.DID{a.did, b.did}, Lanes: []treaty.Lane{lane}, Regions: b.law.AllowedRegions,
				MinProviderReputation: b.law.MinProviderReputation, MaxPricePerGPUHour: int64(b.law.MaxPricePerGPUHour)}
			b.lanes[a.did] = order.LaneInfo{Treaty: t, Lane: lane, Canonical: tl}
		}
	}
	return nil
}

// simPeers offers an operator's treaty peers to its core.
type simPeers struct{ op *operator }

func (p simPeers) PeersFor(*treaty.Order) []providers.PeerOption { return slices.Clone(p.op.peers) }

// simLanes are the lanes into an operator.
type simLanes struct{ op *operator }

func (l simLanes) Lane(_ context.Context, _ treaty.Link, from treaty.DID) (order.LaneInfo, error) {
	li, ok := l.op.lanes[from]
	if !ok {
		return order.LaneInfo{}, errors.New("simulate: no lane")
	}
	return li, nil
}

// simLink forwards in process: the order reaches the peer half the RTT
// after it left (on the virtual clock), and the peer's core judges it.
type simLink struct {
	s    *run
	from *operator
}

type refused struct{ error }

func (refused) Refused() bool { return true }

func (l *simLink) Forward(ctx context.Context, peer treaty.DID, tl treaty.Link, ob []byte) ([]byte, error) {
	p := l.s.ops[l.from.peerOf[peer]]
	l.s.res.Forwards++
	_ = l.s.clock.Sleep(ctx, l.from.rtt[p.idx]/2)
	r, err := p.core.SubmitForwarded(ctx, l.from.did, tl, ob)
	if err != nil {
		return nil, refused{err} // refused before judgement: nothing committed
	}
	return r.Bytes, nil
}

func (l *simLink) Query(ctx context.Context, peer treaty.DID, tl treaty.Link, ocid cid.Cid) ([]byte, error) {
	return l.s.ops[l.from.peerOf[peer]].core.Held(ctx, l.from.did, tl, ocid)
}

// lawFor gives operators their laws: Config.Laws, or by default none, a
// per-GPU-hour price cap, a reputation floor, EU-only.
func (s *run) lawFor(i int) providers.Law {
	if len(s.cfg.Laws) > 0 {
		return s.cfg.Laws[i%len(s.cfg.Laws)]
	}
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

// tally adds d to the result and the digest.
func (s *run) tally(d *Decision, h hash.Hash) {
	r := &s.res
	r.Orders++
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
	r.Attempts += d.Attempts
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
	// Every lease ever created must belong to a filled order, and every
	// launch attempt is the core's.
	var leases int64
	for _, op := range s.ops {
		for _, p := range op.provs {
			st := p.Stats()
			leases += st.Launched
			r.Failures += int(st.Failed + st.RateLimited + st.NoCapacity)
			r.RateLimited += int(st.RateLimited)
			r.NoCapacity += int(st.NoCapacity)
		}
	}
	if leases < int64(r.Filled) {
		r.Violations += int(int64(r.Filled) - leases)
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

// keyFor derives a deterministic key for a simulated party.
func keyFor(seed uint64, role string, i int) *treaty.PrivateKey {
	sum := sha256.Sum256(fmt.Appendf(nil, "aurora/sim/%s/%d/%d", role, seed, i))
	k, err := treaty.NewKeyFromSeed(sum[:])
	if err != nil {
		panic(err) // 32-byte seed: cannot fail
	}
	return k
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

// OperatorProviders builds operator i's providers exactly as Run does for
// cfg (same profiles, seeds and extra failure rate), on clock c: a node
// given them (node.Options.ExtraProviders) faces the same networks as the
// simulated operator.
func OperatorProviders(cfg Config, i int, c providers.Clock) ([]providers.Provider, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var out []providers.Provider
	for j, name := range cfg.Providers {
		prof, _ := profileByName(name)
		p, err := prof.instance(mix(cfg.Seed, uint64(i), uint64(j)), cfg.Fail, c)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
