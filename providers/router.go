package providers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/treaty"
)

// Law is the local operator's treaty law as it bears on routing. Zero values
// mean no restriction.
type Law struct {
	AllowedRegions        []string // empty = any region
	AllowedProviders      []string // empty = any provider
	MinProviderReputation int64    // permille
	MaxPricePerGPUHour    Money    // micro-USD per GPU-hour; 0 = no cap
}

// LawFromTreaty returns the routing part of t's law. The slices are shared
// with t.
func LawFromTreaty(t *treaty.Treaty) Law {
	return Law{
		AllowedRegions:        t.Regions,
		AllowedProviders:      t.Providers,
		MinProviderReputation: t.MinProviderReputation,
		MaxPricePerGPUHour:    Money(t.MaxPricePerGPUHour),
	}
}

// PeerOption is a treaty peer the order could be forwarded to.
type PeerOption struct {
	DID    treaty.DID
	Treaty treaty.Link // the treaty whose lane carries the forward
	// PricePerHour estimates what the peer would charge; 0 = unknown (ranked
	// after every candidate with a known price).
	PricePerHour Money
	// Regions the peer can place work in. When the order or the law restricts
	// regions, a peer qualifies only if it names an allowed one.
	Regions []string
	// Reputation is the peer's fill score in permille; 0 = ask the router's
	// Reputation.
	Reputation int64
	// RTT is the expected send → Ack round trip; 0 = ask the Reputation.
	RTT time.Duration
}

// Candidate is one ranked way to run an order.
type Candidate struct {
	Kind   string // treaty.RouteProvider or treaty.RoutePeer
	Name   string // provider name, or the peer's DID
	Offer  Offer  // for a provider: the offer to launch
	Peer   treaty.DID
	Treaty treaty.Link
	Score  float64 // the strategy's cost; lower ranks first
}

// Plan is a ranked candidate list, best first. The Candidates slice belongs
// to the caller.
type Plan struct {
	Candidates []Candidate
}

// Attempt is one launch attempt, reported to Launch's onAttempt callback.
type Attempt struct {
	Candidate Candidate
	N         int           // 1-based attempt number within the Launch call
	Retry     bool          // a retry of the same candidate after a 429
	Lease     Lease         // the lease, when Err is nil
	Err       error         // nil on success
	Latency   time.Duration // duration of the provider's Launch call on the router's clock
}

// Estimate is what a Strategy knows about a candidate.
type Estimate struct {
	Price   Money         // per hour for the whole offer; 0 = unknown (peer)
	Success float64       // probability the launch (or forward) succeeds, from reputation
	Latency time.Duration // expected launch latency (provider) or RTT (peer); 0 = unknown
	Peer    bool          // the candidate is a treaty peer
}

// Strategy ranks candidates: Score returns a cost, lower ranks first. Ties
// are broken by price, then success, latency, providers before peers, name
// and offer ID, so plans are deterministic. Implementations must be safe for
// concurrent use.
type Strategy interface {
	Name() string
	Score(Estimate) float64
}

// StrategyFunc adapts a function to a Strategy named "custom".
type StrategyFunc func(Estimate) float64

// Name returns "custom".
func (StrategyFunc) Name() string { return "custom" }

// Score calls f.
func (f StrategyFunc) Score(e Estimate) float64 { return f(e) }

// Cheapest ranks by price alone.
type Cheapest struct{}

// Name returns "cheapest".
func (Cheapest) Name() string { return "cheapest" }

// Score returns the price.
func (Cheapest) Score(e Estimate) float64 { return float64(e.Price) }

// Fastest ranks by expected launch latency (RTT for peers). Providers never
// observed are expected at the Reputation's PriorLatency.
type Fastest struct{}

// Name returns "fastest".
func (Fastest) Name() string { return "fastest" }

// Score returns the latency in seconds.
func (Fastest) Score(e Estimate) float64 { return e.Latency.Seconds() }

// ReputationWeighted ranks by expected cost: the price divided by the
// success probability (the expected number of attempts), inflated by the
// expected wait: cost = price / p × (1 + latency / LatencyHorizon).
type ReputationWeighted struct {
	// LatencyHorizon is the wait that doubles a candidate's cost. Default
	// 10 minutes.
	LatencyHorizon time.Duration
}

// Name returns "reputation".
func (ReputationWeighted) Name() string { return "reputation" }

// Score returns the expected cost. An unknown price counts as 1 micro-USD, so
// unknown-price peers rank among themselves by reliability and latency.
func (s ReputationWeighted) Score(e Estimate) float64 {
	h := s.LatencyHorizon
	if h <= 0 {
		h = 10 * time.Minute
	}
	price := max(float64(e.Price), 1)
	p := min(max(e.Success, 0.01), 1)
	return price / p * (1 + e.Latency.Seconds()/h.Seconds())
}

// StrategyByName returns the strategy called name: "cheapest", "fastest" or
// "reputation" ("" = "reputation").
func StrategyByName(name string) (Strategy, error) {
	switch name {
	case "cheapest":
		return Cheapest{}, nil
	case "fastest":
		return Fastest{}, nil
	case "reputation", "":
		return ReputationWeighted{}, nil
	}
	return nil, fmt.Errorf("providers: unknown strategy %q (want cheapest, fastest or reputation)", name)
}

// RouterConfig configures a Router. The zero value of every field but
// Providers works.
type RouterConfig struct {
	// Providers the router may launch on. Names must be unique. Adapters
	// without Offers and Launch capabilities (or ManualOnly) are never routed to.
	Providers []Provider
	// Strategy ranks candidates. Default ReputationWeighted{}.
	Strategy Strategy
	// Reputation supplies scores and receives launch outcomes. Default: a
	// private one with default settings on Clock.
	Reputation *Reputation
	// Clock times offer freshness, attempts and backoff. If it implements
	// Sleeper, backoff waits through it (a VirtualClock advances instead
	// of waiting). Default SystemClock.
	Clock Clock
	// OfferTTL is how long a provider's offers for one query shape (GPU
	// model and count) are reused; real networks cannot be asked once per
	// order. Default 10s; < 0 disables the cache.
	OfferTTL time.Duration
	// MaxShapes bounds the offer cache: distinct (GPU model, count)
	// requests remembered. Default 1024.
	MaxShapes int
	// FetchParallelism bounds how many providers one Plan asks for offers
	// at once (on goroutines it joins before returning). 1 fetches inline,
	// one after another. Default 8.
	FetchParallelism int
	// MaxCandidates bounds a plan. Default 8.
	MaxCandidates int
	// MaxPerProvider bounds how many offers of one provider a plan holds, so
	// a fallback chain spreads over networks. Default 3; < 0 = no bound.
	MaxPerProvider int
	// LaunchTimeout bounds each Launch attempt (a real-time context
	// deadline). Default 30s; < 0 = none.
	LaunchTimeout time.Duration
	// Backoff is the wait before retrying a provider that answered 429; it
	// doubles with every 429 within one Launch call, up to MaxBackoff, and an
	// error carrying RetryAfter() overrides it (still capped). The same
	// duration is how long a failed offers fetch is remembered. Default 500ms.
	Backoff time.Duration
	// MaxBackoff caps Backoff. Default 5s.
	MaxBackoff time.Duration
	// Logger receives debug records about failed fetches and attempts.
	// Default: discard.
	Logger *slog.Logger
}

func (c *RouterConfig) validate() error {
	if c.Strategy == nil {
		c.Strategy = ReputationWeighted{}
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Reputation == nil {
		rep, err := NewReputation(ReputationConfig{Clock: c.Clock})
		if err != nil {
			return err
		}
		c.Reputation = rep
	}
	if c.OfferTTL == 0 {
		c.OfferTTL = 10 * time.Second
	}
	if c.MaxShapes <= 0 {
		c.MaxShapes = 1024
	}
	if c.FetchParallelism <= 0 {
		c.FetchParallelism = 8
	}
	if c.MaxCandidates == 0 {
		c.MaxCandidates = 8
	}
	if c.MaxCandidates < 0 {
		return fmt.Errorf("providers: router max candidates %d is negative", c.MaxCandidates)
	}
	if c.MaxPerProvider == 0 {
		c.MaxPerProvider = 3
	}
	if c.MaxPerProvider < 0 || c.MaxPerProvider > c.MaxCandidates {
		c.MaxPerProvider = c.MaxCandidates
	}
	if c.LaunchTimeout == 0 {
		c.LaunchTimeout = 30 * time.Second
	}
	if c.Backoff == 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.Backoff < 0 || c.MaxBackoff < 0 {
		return errors.New("providers: router backoff must not be negative")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Router ranks local providers and treaty peers for an order and walks the
// fallback chain of a plan. It caches offers per provider and query shape,
// and starts goroutines only inside Plan, to fetch several providers' offers
// in parallel, always joined before Plan returns. A Router is safe for
// concurrent use and needs no Close.
type Router struct {
	cfg    RouterConfig
	provs  []*routed
	byName map[string]*routed

	mu    sync.Mutex // protects cache and every entry in it
	cache map[shape]*shapeCache
}

// routed is one routable provider.
type routed struct {
	p    Provider
	name string
	idx  int   // in Router.provs
	slot int32 // in the Reputation
	// secretEnv: the adapter takes LaunchSpec.SecretEnv
	// (FeatureSecretEnv); orders with sealed secrets go only to such.
	secretEnv bool
}

// shape is the part of a query the offer cache is keyed by. VRAM, regions
// and price are filtered by the router, not asked of the network, so one
// answer serves every order for the same GPU model and count.
type shape struct {
	model string
	count int64
}

// shapeCache holds one entry per routable provider, by index.
type shapeCache struct {
	ents []offerEntry
}

// offerEntry is one provider's cached answer. offers is immutable once
// stored.
type offerEntry struct {
	offers     []Offer
	err        error // the last fetch's error, nil after a success
	expires    time.Time
	fetched    bool          // a fetch completed (successfully or not)
	refreshing bool          // a fetch is in flight
	ready      chan struct{} // while the first fetch is in flight; closed when done
}

// NewRouter returns a router over cfg.Providers.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Router{cfg: cfg, byName: make(map[string]*routed, len(cfg.Providers)), cache: map[shape]*shapeCache{}}
	for i, p := range cfg.Providers {
		if p == nil {
			return nil, fmt.Errorf("providers: router provider %d is nil", i)
		}
		name := p.Name()
		if name == "" {
			return nil, fmt.Errorf("providers: router provider %d has no name", i)
		}
		if _, dup := r.byName[name]; dup {
			return nil, fmt.Errorf("providers: router provider %q listed twice", name)
		}
		caps := p.Capabilities()
		if !caps.Offers || !caps.Launch || caps.ManualOnly {
			cfg.Logger.Info("provider not routable", slog.String("provider", name),
				slog.Bool("offers", caps.Offers), slog.Bool("launch", caps.Launch), slog.Bool("manual_only", caps.ManualOnly))
			r.byName[name] = nil
			continue
		}
		rp := &routed{p: p, name: name, idx: len(r.provs), slot: cfg.Reputation.track(name), secretEnv: caps.Supports(FeatureSecretEnv)}
		r.provs = append(r.provs, rp)
		r.byName[name] = rp
	}
	return r, nil
}

// Reputation returns the router's reputation store.
func (r *Router) Reputation() *Reputation { return r.cfg.Reputation }

// Strategy returns the ranking strategy.
func (r *Router) Strategy() Strategy { return r.cfg.Strategy }

// Providers returns the names of the routable providers, in config order.
func (r *Router) Providers() []string {
	out := make([]string, len(r.provs))
	for i, rp := range r.provs {
		out[i] = rp.name
	}
	return out
}

// Rejections counts why offers and peers were left out of a plan.
type Rejections struct {
	Provider    int // provider not in the order's or the law's allow-list
	Reputation  int // provider or peer below the minimum reputation
	Unavailable int // offers could not be fetched
	Shape       int // offer does not fit the workload (model, count, VRAM, no price)
	Region      int // region not allowed by the order or the law
	Price       int // above the order's MaxPricePerHour
	LawPrice    int // above the law's MaxPricePerGPUHour
	// Secrets: the order carries sealed secrets, which this node alone can
	// open, and the provider cannot take secret env or the candidate is a
	// treaty peer.
	Secrets int
}

// NoCandidateError is Plan's evidence when nothing qualifies. It wraps
// ErrNoCapacity.
type NoCandidateError struct {
	Offers   int // offers considered
	Peers    int // peers considered
	Rejected Rejections
}

func (e *NoCandidateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "providers: no candidate among %d offers and %d peers", e.Offers, e.Peers)
	sep := " (rejected:"
	for _, f := range []struct {
		n    int
		what string
	}{
		{e.Rejected.Provider, "provider"}, {e.Rejected.Reputation, "reputation"},
		{e.Rejected.Unavailable, "unavailable"}, {e.Rejected.Shape, "shape"},
		{e.Rejected.Region, "region"}, {e.Rejected.Price, "price"}, {e.Rejected.LawPrice, "law price"}, {e.Rejected.Secrets, "sealed secrets"},
	} {
		if f.n > 0 {
			fmt.Fprintf(&b, "%s %s %d", sep, f.what, f.n)
			sep = ","
		}
	}
	if sep == "," {
		b.WriteString(")")
	}
	return b.String()
}

func (e *NoCandidateError) Unwrap() error { return ErrNoCapacity }

// ref is a candidate while ranking: no copies of offers until the end.
type ref struct {
	score   float64
	price   Money
	unknown bool // price unknown
	succ    float64
	lat     time.Duration
	prov    *routed     // nil for a peer
	offer   *Offer      // into the immutable cached slice
	peer    *PeerOption // into the caller's slice
}

func (a *ref) name() string {
	if a.prov != nil {
		return a.prov.name
	}
	return string(a.peer.DID)
}

func refCompare(a, b *ref) int {
	if a.unknown != b.unknown {
		if a.unknown {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.score, b.score); c != 0 {
		return c
	}
	if c := cmp.Compare(a.price, b.price); c != 0 {
		return c
	}
	if c := cmp.Compare(b.succ, a.succ); c != 0 {
		return c
	}
	if c := cmp.Compare(a.lat, b.lat); c != 0 {
		return c
	}
	if (a.prov == nil) != (b.prov == nil) {
		if a.prov == nil {
			return 1
		}
		return -1
	}
	if c := strings.Compare(a.name(), b.name()); c != 0 {
		return c
	}
	if a.offer != nil && b.offer != nil {
		return strings.Compare(a.offer.ID, b.offer.ID)
	}
	return 0
}

// topAdd adds x to items, the best refs seen so far, sorted, at most limit
// of them and at most per from one provider: one pass, no sort, no copies
// of offers. (A function, not a method, so the caller's array stays on the
// stack.)
func topAdd(items []ref, x *ref, limit, per int) []ref {
	if n := len(items); n == limit && refCompare(x, &items[n-1]) >= 0 {
		return items
	}
	if x.prov != nil && per < limit {
		cnt, worst := 0, -1
		for i := range items {
			if items[i].prov == x.prov {
				cnt++
				worst = i
			}
		}
		if cnt >= per {
			if refCompare(x, &items[worst]) >= 0 {
				return items
			}
			items = append(items[:worst], items[worst+1:]...)
		}
	}
	i := len(items)
	for i > 0 && refCompare(x, &items[i-1]) < 0 {
		i--
	}
	if len(items) < limit {
		items = append(items, ref{})
	}
	copy(items[i+1:], items[i:len(items)-1])
	items[i] = *x
	return items
}

// Plan ranks the local providers' offers matching QueryFor(order.Workload,
// order.Constraints) and the given treaty peers, keeping those allowed by the
// order's constraints (regions, providers, minimum reputation, price cap) and
// by law. No candidate is ever priced above the order's MaxPricePerHour
// (peers with unknown prices are forwarded with the order, whose cap the
// peer enforces). The minimum reputation, max(order, law), applies to
// providers and peers; provider allow-lists apply to local providers only.
// When nothing qualifies, the error is a *NoCandidateError wrapping
// ErrNoCapacity.
//
// Offers come from the cache. Missing or expired entries are fetched by
// this call (several providers in parallel, see FetchParallelism) while
// concurrent calls use the stale offers; a provider whose fetch fails serves
// its last offers, or none, for Backoff.
func (r *Router) Plan(ctx context.Context, order *treaty.Order, law Law, peers []PeerOption) (Plan, error) {
	var p Plan
	err := r.PlanInto(ctx, &p, order, law, peers)
	return p, err
}

// PlanInto is Plan writing into plan and reusing the storage of
// plan.Candidates, so a hot loop (the routing simulator) plans without
// allocating. On error plan.Candidates is empty.
func (r *Router) PlanInto(ctx context.Context, plan *Plan, order *treaty.Order, law Law, peers []PeerOption) error {
	return r.planInto(ctx, plan, order, law, peers, false)
}

// PlanCached is PlanInto from the offer cache alone: it never calls a
// provider (stale offers count; a shape never fetched has none, so the plan
// may hold only peers, or fail). The order core takes the policy's price and
// reputation facts from it, so an order the policy denies costs no provider
// API call.
func (r *Router) PlanCached(ctx context.Context, plan *Plan, order *treaty.Order, law Law, peers []PeerOption) error {
	return r.planInto(ctx, plan, order, law, peers, true)
}

func (r *Router) planInto(ctx context.Context, plan *Plan, order *treaty.Order, law Law, peers []PeerOption, cacheOnly bool) error {
	plan.Candidates = plan.Candidates[:0]
	if err := ctx.Err(); err != nil {
		return err
	}
	q := QueryFor(order.Workload, order.Constraints)
	sh := shape{model: q.GPUModel, count: q.GPUCount}
	k := &order.Constraints
	minRep := max(k.MinReputation, law.MinProviderReputation)
	priceCap := Money(k.MaxPricePerHour)
	snap := r.cfg.Reputation.Snapshot()
	strat := r.cfg.Strategy
	limit := r.cfg.MaxCandidates
	per := r.cfg.MaxPerProvider

	var (
		nerr   NoCandidateError
		buf    [32]ref
		top    = buf[:0]
		slotb  [16]slot
		slots  = slotb[:0]
		ents   [16]ReputationEntry
		entsl  = ents[:0]
		other  error
		models modelMatcher
	)
	sealed := order.Secrets != nil
	for _, rp := range r.provs {
		if !allowed(k.Providers, rp.name) || !allowed(law.AllowedProviders, rp.name) {
			nerr.Rejected.Provider++
			continue
		}
		if sealed && !rp.secretEnv {
			nerr.Rejected.Secrets++
			continue
		}
		ent := snap.providerAt(rp.slot, rp.name)
		if ent.Score < minRep {
			nerr.Rejected.Reputation++
			continue
		}
		slots = append(slots, slot{rp: rp})
		entsl = append(entsl, ent)
	}
	if cacheOnly {
		r.cached(sh, slots)
	} else if err := r.gather(ctx, sh, slots); err != nil {
		return err
	}
	for si := range slots {
		rp, offers := slots[si].rp, slots[si].offers
		if len(offers) == 0 && slots[si].err != nil {
			other = slots[si].err
			nerr.Rejected.Unavailable++
			continue
		}
		ent := &entsl[si]
		succ := float64(ent.Score) / 1000
		lat := ent.Latency
		for i := range offers {
			o := &offers[i]
			nerr.Offers++
			switch {
			case o.PricePerHour <= 0,
				q.GPUModel != "" && o.GPUModel != q.GPUModel && !models.same(q.GPUModel, o.GPUModel),
				o.GPUCount < q.GPUCount,
				o.VRAMMiB > 0 && o.VRAMMiB < q.MinVRAMMiB:
				nerr.Rejected.Shape++
				continue
			case !allowed(k.Regions, o.Region) || !allowed(law.AllowedRegions, o.Region):
				nerr.Rejected.Region++
				continue
			case priceCap > 0 && o.PricePerHour > priceCap:
				nerr.Rejected.Price++
				continue
			case overLaw(law.MaxPricePerGPUHour, o.PricePerHour, o.GPUCount):
				nerr.Rejected.LawPrice++
				continue
			}
			x := ref{price: o.PricePerHour, succ: succ, lat: lat, prov: rp, offer: o}
			x.score = sanitize(strat.Score(Estimate{Price: o.PricePerHour, Success: succ, Latency: lat}))
			top = topAdd(top, &x, limit, per)
		}
	}

	gpus := int64(1)
	if order.Workload.GPU != nil {
		gpus = order.Workload.GPU.Count
	}
	restricted := len(k.Regions) > 0 || len(law.AllowedRegions) > 0
	for i := range peers {
		p := &peers[i]
		nerr.Peers++
		if sealed {
			// Sealed to this operator: a peer could not open them, and
			// re-sealing would need the tenant's signature again.
			nerr.Rejected.Secrets++
			continue
		}
		if p.PricePerHour <= 0 && len(top) == limit && !top[limit-1].unknown {
			continue // it would rank after a full list of known prices
		}
		rep := p.Reputation
		var lat time.Duration
		if rep == 0 || p.RTT == 0 {
			ent, _ := snap.Peer(p.DID)
			if rep == 0 {
				rep = ent.Score
			}
			if ent.LatencyKnown {
				lat = ent.Latency
			}
		}
		if p.RTT > 0 {
			lat = p.RTT
		}
		switch {
		case rep < minRep:
			nerr.Rejected.Reputation++
			continue
		case restricted && !slices.ContainsFunc(p.Regions, func(rg string) bool {
			return allowed(k.Regions, rg) && allowed(law.AllowedRegions, rg)
		}):
			nerr.Rejected.Region++
			continue
		case p.PricePerHour > 0 && priceCap > 0 && p.PricePerHour > priceCap:
			nerr.Rejected.Price++
			continue
		case p.PricePerHour > 0 && overLaw(law.MaxPricePerGPUHour, p.PricePerHour, gpus):
			nerr.Rejected.LawPrice++
			continue
		}
		succ := float64(rep) / 1000
		x := ref{price: p.PricePerHour, unknown: p.PricePerHour <= 0, succ: succ, lat: lat, peer: p}
		x.score = sanitize(strat.Score(Estimate{Price: p.PricePerHour, Success: succ, Latency: lat, Peer: true}))
		top = topAdd(top, &x, limit, per)
	}

	sel := top
	if len(sel) == 0 {
		if nerr.Offers == 0 && nerr.Peers == 0 && other != nil {
			e := nerr // copied, so nerr itself stays on the stack
			return fmt.Errorf("%w: last offers error: %w", &e, other)
		}
		e := nerr
		return &e
	}
	out := plan.Candidates[:0]
	if cap(out) < len(sel) {
		out = make([]Candidate, 0, len(sel))
	}
	out = out[:len(sel)]
	for i := range sel {
		x := &sel[i]
		c := &out[i]
		*c = Candidate{Score: x.score}
		if x.prov != nil {
			c.Kind, c.Name, c.Offer = treaty.RouteProvider, x.prov.name, *x.offer
		} else {
			c.Kind, c.Name, c.Peer, c.Treaty = treaty.RoutePeer, string(x.peer.DID), x.peer.DID, x.peer.Treaty
			c.Offer.PricePerHour = x.peer.PricePerHour
		}
	}
	plan.Candidates = out
	return nil
}

// modelMatcher compares offer GPU models with the order's by
// SameGPUModel, canonicalizing lazily: only offers spelled differently from
// the order pay for it, and runs of one spelling pay once.
type modelMatcher struct {
	want      string // canonical order model, once computed
	last      string // last offer model compared
	lastMatch bool
}

func (m *modelMatcher) same(order, offer string) bool {
	if m.want == "" {
		m.want = CanonicalGPUModel(order)
		if m.want == "" {
			m.want = "\x00" // matches no canonical name
		}
	}
	if offer != m.last || m.last == "" {
		m.last = offer
		m.lastMatch = CanonicalGPUModel(offer) == m.want
	}
	return m.lastMatch
}

// allowed reports whether s is in list; an empty list allows everything.
func allowed(list []string, s string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// overLaw reports whether price for gpus GPUs exceeds a per-GPU-hour cap.
func overLaw(perGPU, price Money, gpus int64) bool {
	if perGPU <= 0 {
		return false
	}
	gpus = max(gpus, 1)
	if int64(perGPU) > math.MaxInt64/gpus {
		return false
	}
	return price > perGPU*Money(gpus)
}

func sanitize(f float64) float64 {
	if math.IsNaN(f) {
		return math.Inf(1)
	}
	return f
}

// slot is one provider's offers while planning.
type slot struct {
	rp     *routed
	offers []Offer
	err    error
	wait   chan struct{} // another caller's first fetch, to wait for
	fetch  bool          // this caller fetches
}

// gather fills each slot's offers for sh from the cache, fetching what is
// missing or expired (in parallel, up to FetchParallelism) and waiting for
// first fetches in flight elsewhere. A stale entry being refreshed by
// another caller is served stale. It fails only when ctx ends.
func (r *Router) gather(ctx context.Context, sh shape, slots []slot) error {
	if len(slots) == 0 {
		return nil
	}
	q := Query{GPUModel: sh.model, GPUCount: sh.count}
	if r.cfg.OfferTTL < 0 {
		for i := range slots {
			slots[i].fetch = true
		}
		r.fetch(ctx, q, slots)
		return ctx.Err()
	}
	now := r.cfg.Clock.Now()
	r.mu.Lock()
	sc := r.cache[sh]
	if sc == nil {
		r.evictLocked()
		sc = &shapeCache{ents: make([]offerEntry, len(r.provs))}
		r.cache[sh] = sc
	}
	nfetch := 0
	for i := range slots {
		sl := &slots[i]
		e := &sc.ents[sl.rp.idx]
		sl.offers, sl.err = e.offers, e.err
		switch {
		case e.ready != nil:
			sl.wait = e.ready
		case e.fetched && (e.refreshing || now.Before(e.expires)):
		default:
			e.refreshing = true
			if !e.fetched {
				e.ready = make(chan struct{})
			}
			sl.fetch = true
			nfetch++
		}
	}
	r.mu.Unlock()

	if nfetch > 0 {
		r.fetch(ctx, q, slots)
		r.mu.Lock()
		for i := range slots {
			sl := &slots[i]
			if !sl.fetch {
				continue
			}
			e := &sc.ents[sl.rp.idx]
			e.refreshing = false
			switch {
			case sl.err == nil:
				e.offers, e.err, e.fetched = sl.offers, nil, true
				e.expires = now.Add(r.cfg.OfferTTL)
			case ctx.Err() != nil:
				// Our caller gave up: the next one fetches again.
			default:
				// Keep serving what we had (possibly nothing); retry after Backoff.
				e.err, e.fetched = sl.err, true
				e.expires = now.Add(r.cfg.Backoff)
				r.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "offers fetch failed",
					slog.String("provider", sl.rp.name), slog.String("gpu", sh.model), slog.Any("err", sl.err))
			}
			sl.offers, sl.err = e.offers, e.err
			if e.ready != nil {
				close(e.ready)
				e.ready = nil
			}
		}
		r.mu.Unlock()
	}
	for i := range slots {
		sl := &slots[i]
		if sl.wait == nil {
			continue
		}
		select {
		case <-sl.wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.mu.Lock()
		e := &sc.ents[sl.rp.idx]
		sl.offers, sl.err = e.offers, e.err
		r.mu.Unlock()
	}
	return ctx.Err()
}

// cached fills each slot's offers for sh from the cache as it stands, stale
// or not, fetching nothing.
func (r *Router) cached(sh shape, slots []slot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sc := r.cache[sh]
	for i := range slots {
		if sc == nil {
			slots[i].offers = nil
			continue
		}
		e := &sc.ents[slots[i].rp.idx]
		slots[i].offers, slots[i].err = e.offers, e.err
	}
}

// fetch asks every slot marked fetch for offers: inline when there is one
// (or FetchParallelism is 1), else on joined goroutines.
func (r *Router) fetch(ctx context.Context, q Query, slots []slot) {
	n := 0
	for i := range slots {
		if slots[i].fetch {
			n++
		}
	}
	if n <= 1 || r.cfg.FetchParallelism == 1 {
		for i := range slots {
			if sl := &slots[i]; sl.fetch {
				sl.offers, sl.err = r.fetchOne(ctx, sl.rp, q)
			}
		}
		return
	}
	type result struct {
		offers []Offer
		err    error
	}
	res := make([]result, len(slots))
	sem := make(chan struct{}, r.cfg.FetchParallelism)
	var wg sync.WaitGroup
	for i := range slots {
		if !slots[i].fetch {
			continue
		}
		rp := slots[i].rp
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res[i].offers, res[i].err = r.fetchOne(ctx, rp, q)
		})
	}
	wg.Wait()
	for i := range slots {
		if slots[i].fetch {
			slots[i].offers, slots[i].err = res[i].offers, res[i].err
		}
	}
}

func (r *Router) fetchOne(ctx context.Context, rp *routed, q Query) ([]Offer, error) {
	offers, err := rp.p.Offers(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("providers: %s offers: %w", rp.name, err)
	}
	return offers, nil
}

// evictLocked makes room for a new shape when the cache is full (order GPU
// models are client input): it drops an entry with nothing in flight.
func (r *Router) evictLocked() {
	if len(r.cache) < r.cfg.MaxShapes {
		return
	}
	for sh, sc := range r.cache {
		busy := false
		for i := range sc.ents {
			busy = busy || sc.ents[i].refreshing || sc.ents[i].ready != nil
		}
		if !busy {
			delete(r.cache, sh)
			return
		}
	}
}

// invalidate marks rp's cached offers for sh stale (a launch found them
// gone), so the next plan refetches.
func (r *Router) invalidate(rp *routed, sh shape) {
	r.mu.Lock()
	if sc := r.cache[sh]; sc != nil {
		if e := &sc.ents[rp.idx]; !e.refreshing && e.ready == nil {
			e.expires = time.Time{}
		}
	}
	r.mu.Unlock()
}

// LaunchKey is the idempotency key of job's launch on provider: the same on
// every attempt of that job there (also across restarts), different per
// provider so a fallback never collides with an earlier attempt elsewhere.
// It is IdempotencyKey(jobID + "/" + provider).
func LaunchKey(jobID, provider string) string {
	// IdempotencyKey inlined with one allocation: the router computes a key
	// per attempt.
	var buf [128]byte
	msg := append(buf[:0], "aurora/v1/launch\n"...)
	msg = append(msg, jobID...)
	msg = append(msg, '/')
	msg = append(msg, provider...)
	sum := sha256.Sum256(msg)
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567" // base32, lowercase
	var out [4 + 16]byte
	copy(out[:], "aur-")
	var acc uint64
	bits, j := 0, 4
	for _, b := range sum[:10] {
		acc = acc<<8 | uint64(b)
		for bits += 8; bits >= 5; j++ {
			bits -= 5
			out[j] = alphabet[acc>>bits&31]
		}
	}
	return string(out[:])
}

// Launch walks plan's provider candidates in order (peers are skipped: the
// caller forwards to peers itself) and returns the first lease with the
// candidate that produced it. Each attempt launches spec with the
// candidate's offer, IdempotencyKey = LaunchKey(spec.JobID, provider) and
// MaxPricePerHour = spec.MaxPricePerHour (the order's cap; when 0, the
// offer's price). Candidates above spec.MaxPricePerHour are skipped, and a
// lease priced above the cap is terminated and counted as a failure.
//
// A provider answering ErrRateLimited is retried once after a backoff
// (through the clock's Sleeper); any other error moves to the next
// candidate. Failures and leases already running feed the Reputation (a 429
// followed by a retry counts once); a lease accepted but not yet running is
// the caller's to report when it runs or fails. onAttempt, if not nil, is called synchronously after every attempt.
// When the chain is exhausted the error wraps the last failure; when ctx ends
// it wraps ctx.Err().
func (r *Router) Launch(ctx context.Context, plan Plan, spec LaunchSpec, onAttempt func(Attempt)) (Lease, Candidate, error) {
	var (
		last    error
		n       int
		limited int
		sh      shape
		shSet   bool
	)
	redact := spec.Redactions()
	for _, c := range plan.Candidates {
		if c.Kind != treaty.RouteProvider {
			continue
		}
		rp := r.byName[c.Name]
		if rp == nil {
			last = fmt.Errorf("providers: plan names unknown provider %q: %w", c.Name, ErrNotFound)
			continue
		}
		priceCap := spec.MaxPricePerHour
		if priceCap > 0 && c.Offer.PricePerHour > priceCap {
			last = fmt.Errorf("providers: %s offer %s at %s above cap %s: %w", c.Name, c.Offer.ID, c.Offer.PricePerHour, priceCap, ErrOverPrice)
			continue
		}
		if priceCap <= 0 {
			priceCap = c.Offer.PricePerHour
		}
		s := spec
		s.Offer = c.Offer
		s.MaxPricePerHour = priceCap
		s.IdempotencyKey = LaunchKey(spec.JobID, c.Name)
		for try := 0; ; try++ {
			if err := ctx.Err(); err != nil {
				return Lease{}, Candidate{}, launchCtxError(spec.JobID, err, last)
			}
			n++
			lease, lat, err := r.attempt(ctx, rp, s)
			err = RedactError(err, redact)
			if err == nil && lease.PricePerHour > priceCap {
				err = fmt.Errorf("providers: %s leased %s at %s above cap %s: %w", c.Name, lease.ID, lease.PricePerHour, priceCap, ErrOverPrice)
				if terr := rp.p.Terminate(context.WithoutCancel(ctx), lease.ID); terr != nil {
					r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "terminate over-cap lease failed",
						slog.String("provider", c.Name), slog.String("lease", lease.ID), slog.Any("err", terr))
				}
			}
			parentDone := ctx.Err() != nil
			retry := err != nil && try == 0 && !parentDone && errors.Is(err, ErrRateLimited)
			switch {
			case err == nil && lease.State == StateRunning:
				r.cfg.Reputation.Observe(c.Name, true, lat)
			case err == nil:
				// Accepted, not yet running: success is the caller's to
				// report once the lease runs (fill means running), a failure
				// once it does not (Reputation.Observe).
			case !parentDone && !retry:
				r.cfg.Reputation.Observe(c.Name, false, lat)
			}
			if onAttempt != nil {
				a := Attempt{Candidate: c, N: n, Retry: try > 0, Err: err, Latency: lat}
				if err == nil {
					a.Lease = lease
				}
				onAttempt(a)
			}
			if err == nil {
				return lease, c, nil
			}
			last = err
			if parentDone {
				return Lease{}, Candidate{}, launchCtxError(spec.JobID, ctx.Err(), last)
			}
			r.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "launch attempt failed",
				slog.String("job", spec.JobID), slog.String("provider", c.Name), slog.String("offer", c.Offer.ID), slog.Any("err", err))
			if retry {
				if err := sleep(ctx, r.cfg.Clock, r.backoff(limited, err)); err != nil {
					return Lease{}, Candidate{}, launchCtxError(spec.JobID, err, last)
				}
				limited++
				continue
			}
			if errors.Is(err, ErrNoCapacity) {
				if !shSet {
					q := QueryFor(spec.Workload, treaty.Constraints{})
					sh, shSet = shape{model: q.GPUModel, count: q.GPUCount}, true
				}
				r.invalidate(rp, sh)
			}
			break
		}
	}
	if last == nil {
		return Lease{}, Candidate{}, fmt.Errorf("providers: launch %s: plan has no provider candidate: %w", spec.JobID, ErrNoCapacity)
	}
	return Lease{}, Candidate{}, fmt.Errorf("providers: launch %s: %d attempts failed, last: %w", spec.JobID, n, last)
}

func launchCtxError(job string, ctxErr, last error) error {
	if last != nil {
		return fmt.Errorf("providers: launch %s: %w (last attempt: %v)", job, ctxErr, last)
	}
	return fmt.Errorf("providers: launch %s: %w", job, ctxErr)
}

// attempt runs one Launch under LaunchTimeout and times it on the clock.
func (r *Router) attempt(ctx context.Context, rp *routed, s LaunchSpec) (Lease, time.Duration, error) {
	actx := ctx
	if r.cfg.LaunchTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, r.cfg.LaunchTimeout)
		defer cancel()
	}
	start := r.cfg.Clock.Now()
	lease, err := rp.p.Launch(actx, s)
	lat := r.cfg.Clock.Now().Sub(start)
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = fmt.Errorf("providers: %s launch timed out after %s: %w", rp.name, r.cfg.LaunchTimeout, err)
	}
	return lease, lat, err
}

// backoff is the wait before the retry following the (limited+1)-th 429 of a
// Launch call.
func (r *Router) backoff(limited int, err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			return min(d, r.cfg.MaxBackoff)
		}
	}
	d := r.cfg.Backoff
	for i := 0; i < limited && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.cfg.MaxBackoff)
}
