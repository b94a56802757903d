package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/treaty"
	gocmp "github.com/google/go-cmp/cmp"
)

// rtFake is a hand-written Provider for router tests: a fixed offer list and
// a launch func.
type rtFake struct {
	name      string
	caps      *Capabilities
	offers    []Offer
	offersErr error
	launch    func(ctx context.Context, spec LaunchSpec) (Lease, error)

	offersCalls atomic.Int64
	mu          sync.Mutex // protects following
	launches    []LaunchSpec
	terminated  []string
}

func (f *rtFake) Name() string { return f.name }
func (f *rtFake) Capabilities() Capabilities {
	if f.caps != nil {
		return *f.caps
	}
	return Capabilities{Offers: true, Launch: true, Terminate: true, GPU: true}
}
func (f *rtFake) Offers(ctx context.Context, q Query) ([]Offer, error) {
	f.offersCalls.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f.offers, f.offersErr
}
func (f *rtFake) Launch(ctx context.Context, spec LaunchSpec) (Lease, error) {
	f.mu.Lock()
	f.launches = append(f.launches, spec)
	f.mu.Unlock()
	if f.launch != nil {
		return f.launch(ctx, spec)
	}
	return Lease{ID: f.name + "-lease", Provider: f.name, Offer: spec.Offer, PricePerHour: spec.Offer.PricePerHour, State: StateLaunching}, nil
}
func (f *rtFake) Status(ctx context.Context, id string) (Status, error) { return Status{}, ErrNotFound }
func (f *rtFake) Terminate(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.terminated = append(f.terminated, id)
	return nil
}
func (f *rtFake) launched() []LaunchSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.launches)
}

var _ Provider = (*rtFake)(nil)

// rtOffer builds an offer of provider p for an H100 x1.
func rtOffer(p, id, region string, price Money) Offer {
	return Offer{Provider: p, ID: id, GPUModel: "H100", GPUCount: 1, VRAMMiB: 80 << 10, Region: region, PricePerHour: price}
}

func rtOrder(mut func(*treaty.Order)) *treaty.Order {
	o := &treaty.Order{
		V: treaty.Version,
		Workload: treaty.Workload{
			Image: "img", GPU: &treaty.GPU{Model: "H100", Count: 1, MinVRAM: 40 << 10}, Duration: 3600,
		},
		Constraints: treaty.Constraints{MaxPricePerHour: 5_000_000},
	}
	if mut != nil {
		mut(o)
	}
	return o
}

func newRouter(t testing.TB, cfg RouterConfig) (*Router, *VirtualClock) {
	t.Helper()
	clock := NewVirtualClock(repEpoch)
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	if cfg.Reputation == nil {
		rep, err := NewReputation(ReputationConfig{Clock: cfg.Clock, HalfLife: -1})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Reputation = rep
	}
	r, err := NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, clock
}

func planIDs(p Plan) []string {
	var out []string
	for _, c := range p.Candidates {
		if c.Kind == treaty.RoutePeer {
			out = append(out, "peer:"+c.Name[len(c.Name)-4:])
		} else {
			out = append(out, c.Offer.ID)
		}
	}
	return out
}

// rtWorld is two providers with offers across regions and prices.
func rtWorld() []Provider {
	return []Provider{
		&rtFake{name: "alpha", offers: []Offer{
			rtOffer("alpha", "a-eu-1", "eu-de", 1_000_000),
			rtOffer("alpha", "a-us-1", "us-east", 800_000),
			rtOffer("alpha", "a-us-2", "us-east", 3_000_000),
		}},
		&rtFake{name: "beta", offers: []Offer{
			rtOffer("beta", "b-eu-1", "eu-de", 900_000),
			rtOffer("beta", "b-eu-2", "eu-fr", 2_000_000),
			{Provider: "beta", ID: "b-a100", GPUModel: "A100", GPUCount: 1, Region: "eu-de", PricePerHour: 100},
			{Provider: "beta", ID: "b-small", GPUModel: "H100", GPUCount: 1, VRAMMiB: 16 << 10, Region: "eu-de", PricePerHour: 100},
			{Provider: "beta", ID: "b-free", GPUModel: "H100", GPUCount: 1, Region: "eu-de", PricePerHour: 0},
			{Provider: "beta", ID: "b-spelled", GPUModel: "NVIDIA H100 SXM5 80GB", GPUCount: 2, Region: "eu-nl", PricePerHour: 4_000_000},
		}},
	}
}

func TestRouterPlanFilters(t *testing.T) {
	tests := []struct {
		name    string
		order   func(*treaty.Order)
		law     Law
		rep     func(*Reputation)
		want    []string
		wantErr bool
		wantRej Rejections
	}{
		{
			name: "all qualifying offers, cheapest first",
			want: []string{"a-us-1", "b-eu-1", "a-eu-1", "b-eu-2", "a-us-2", "b-spelled"},
		},
		{
			name:  "order price cap",
			order: func(o *treaty.Order) { o.Constraints.MaxPricePerHour = 1_000_000 },
			want:  []string{"a-us-1", "b-eu-1", "a-eu-1"},
		},
		{
			name:  "cap equal to a price keeps it",
			order: func(o *treaty.Order) { o.Constraints.MaxPricePerHour = 900_000 },
			want:  []string{"a-us-1", "b-eu-1"},
		},
		{
			name:  "order regions",
			order: func(o *treaty.Order) { o.Constraints.Regions = []string{"eu-de", "eu-fr"} },
			want:  []string{"b-eu-1", "a-eu-1", "b-eu-2"},
		},
		{
			name:  "order provider allow-list",
			order: func(o *treaty.Order) { o.Constraints.Providers = []string{"beta"} },
			want:  []string{"b-eu-1", "b-eu-2", "b-spelled"},
		},
		{
			name: "law regions intersect order regions",
			order: func(o *treaty.Order) {
				o.Constraints.Regions = []string{"eu-de", "us-east"}
			},
			law:  Law{AllowedRegions: []string{"eu-de", "eu-fr"}},
			want: []string{"b-eu-1", "a-eu-1"},
		},
		{
			name: "law providers",
			law:  Law{AllowedProviders: []string{"alpha"}},
			want: []string{"a-us-1", "a-eu-1", "a-us-2"},
		},
		{
			name: "law per-GPU-hour cap counts GPUs",
			law:  Law{MaxPricePerGPUHour: 2_000_000},
			want: []string{"a-us-1", "b-eu-1", "a-eu-1", "b-eu-2", "b-spelled"}, // b-spelled: 2 GPUs at 2M each
		},
		{
			name: "min reputation from the order",
			order: func(o *treaty.Order) {
				o.Constraints.MinReputation = 700
			},
			rep:  func(r *Reputation) { observeN(r, "alpha", false, 20) },
			want: []string{"b-eu-1", "b-eu-2", "b-spelled"},
		},
		{
			name: "min reputation from the law",
			law:  Law{MinProviderReputation: 700},
			rep:  func(r *Reputation) { observeN(r, "beta", false, 20) },
			want: []string{"a-us-1", "a-eu-1", "a-us-2"},
		},
		{
			name:  "nothing under the cap",
			order: func(o *treaty.Order) { o.Constraints.MaxPricePerHour = 500_000 },
			// b-a100, b-small and b-free fail on shape before the price is looked at.
			wantErr: true, wantRej: Rejections{Shape: 3, Price: 6},
		},
		{
			name:    "no provider allowed",
			order:   func(o *treaty.Order) { o.Constraints.Providers = []string{"gamma"} },
			wantErr: true, wantRej: Rejections{Provider: 2},
		},
		{
			name:    "region nobody serves",
			order:   func(o *treaty.Order) { o.Constraints.Regions = []string{"antarctica"} },
			wantErr: true, wantRej: Rejections{Shape: 3, Region: 6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRouter(t, RouterConfig{Providers: rtWorld(), Strategy: Cheapest{}, MaxPerProvider: -1})
			if tt.rep != nil {
				tt.rep(r.Reputation())
			}
			order := rtOrder(tt.order)
			plan, err := r.Plan(t.Context(), order, tt.law, nil)
			if tt.wantErr {
				var nc *NoCandidateError
				if !errors.Is(err, ErrNoCapacity) || !errors.As(err, &nc) {
					t.Fatalf("Plan = %v, %v; want a NoCandidateError wrapping ErrNoCapacity", planIDs(plan), err)
				}
				if diff := gocmp.Diff(tt.wantRej, nc.Rejected); diff != "" {
					t.Errorf("rejections (-want +got):\n%s", diff)
				}
				if !strings.Contains(err.Error(), "no candidate") {
					t.Errorf("error text %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if diff := gocmp.Diff(tt.want, planIDs(plan)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			for _, c := range plan.Candidates {
				if c.Offer.PricePerHour > Money(order.Constraints.MaxPricePerHour) {
					t.Errorf("candidate %s at %s above the cap", c.Offer.ID, c.Offer.PricePerHour)
				}
				if c.Kind != treaty.RouteProvider || c.Name != c.Offer.Provider {
					t.Errorf("candidate %+v: kind/name mismatch", c)
				}
			}
		})
	}
}

func observeN(r *Reputation, name string, ok bool, n int) {
	for range n {
		r.Observe(name, ok, time.Second)
	}
}

func TestRouterStrategies(t *testing.T) {
	provs := []Provider{
		&rtFake{name: "cheap-slow-flaky", offers: []Offer{rtOffer("cheap-slow-flaky", "c", "eu-de", 1_000_000)}},
		&rtFake{name: "mid-fast", offers: []Offer{rtOffer("mid-fast", "m", "eu-de", 1_300_000)}},
		&rtFake{name: "dear-steady", offers: []Offer{rtOffer("dear-steady", "d", "eu-de", 1_600_000)}},
	}
	setup := func(r *Reputation) {
		for i := range 40 {
			r.Observe("cheap-slow-flaky", i%2 == 0, 8*time.Minute) // 50% failures, slow
			r.Observe("mid-fast", i%10 != 0, 10*time.Second)       // 10% failures, fast
			r.Observe("dear-steady", true, 60*time.Second)         // reliable
		}
	}
	tests := []struct {
		strategy Strategy
		want     []string
	}{
		{Cheapest{}, []string{"c", "m", "d"}},
		{Fastest{}, []string{"m", "d", "c"}},
		{ReputationWeighted{}, []string{"m", "d", "c"}},
		{ReputationWeighted{LatencyHorizon: time.Second}, []string{"m", "d", "c"}},
		{StrategyFunc(func(e Estimate) float64 { return -float64(e.Price) }), []string{"d", "m", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy.Name(), func(t *testing.T) {
			r, _ := newRouter(t, RouterConfig{Providers: provs, Strategy: tt.strategy})
			setup(r.Reputation())
			plan, err := r.Plan(t.Context(), rtOrder(nil), Law{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(tt.want, planIDs(plan)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			for i := 1; i < len(plan.Candidates); i++ {
				if plan.Candidates[i-1].Score > plan.Candidates[i].Score {
					t.Errorf("scores not ascending: %v", plan.Candidates)
				}
			}
		})
	}
	// ReputationWeighted: an unreliable provider loses its price advantage.
	rw := ReputationWeighted{}
	if a, b := rw.Score(Estimate{Price: 100, Success: 0.5}), rw.Score(Estimate{Price: 150, Success: 1}); !(a > b) {
		t.Errorf("price 100 at p=0.5 scores %g, price 150 at p=1 scores %g; want the first dearer", a, b)
	}
	if a, b := rw.Score(Estimate{Price: 100, Success: 1, Latency: 10 * time.Minute}), rw.Score(Estimate{Price: 150, Success: 1}); !(a > b) {
		t.Errorf("a 10-minute wait should double the cost: %g vs %g", a, b)
	}
	for _, name := range []string{"cheapest", "fastest", "reputation", ""} {
		if _, err := StrategyByName(name); err != nil {
			t.Errorf("StrategyByName(%q): %v", name, err)
		}
	}
	if _, err := StrategyByName("random"); err == nil {
		t.Errorf("StrategyByName(random) succeeded")
	}
}

func TestRouterPlanPeers(t *testing.T) {
	d1, d2, d3, d4 := repDID(t, 11), repDID(t, 12), repDID(t, 13), repDID(t, 14)
	peers := []PeerOption{
		{DID: d1, Regions: []string{"eu-de"}, RTT: 50 * time.Millisecond},                        // unknown price
		{DID: d2, Regions: []string{"eu-de"}, PricePerHour: 950_000, RTT: 30 * time.Millisecond}, // known, between local offers
		{DID: d3, Regions: []string{"us-east"}, PricePerHour: 9_000_000},                         // above the cap
		{DID: d4, Regions: []string{"eu-fr"}, Reputation: 100, RTT: 10 * time.Millisecond},       // low reputation
	}
	tests := []struct {
		name  string
		order func(*treaty.Order)
		law   Law
		max   int
		want  []string
	}{
		{
			name: "known price ranks by price, unknown last",
			// Among unknown prices, the more reputable peer first.
			want: []string{"a-us-1", "b-eu-1", "peer:" + string(d2)[len(d2)-4:], "a-eu-1", "b-eu-2", "a-us-2", "b-spelled", "peer:" + string(d1)[len(d1)-4:], "peer:" + string(d4)[len(d4)-4:]},
			max:  10,
		},
		{
			name: "full list of known prices leaves unknown peers out",
			max:  3,
			want: []string{"a-us-1", "b-eu-1", "peer:" + string(d2)[len(d2)-4:]},
		},
		{
			name:  "min reputation excludes peers too",
			order: func(o *treaty.Order) { o.Constraints.MinReputation = 200; o.Constraints.Regions = []string{"eu-fr"} },
			max:   10,
			want:  []string{"b-eu-2"},
		},
		{
			name:  "peer regions must meet the order's",
			order: func(o *treaty.Order) { o.Constraints.Regions = []string{"eu-fr"} },
			max:   10,
			want:  []string{"b-eu-2", "peer:" + string(d4)[len(d4)-4:]},
		},
		{
			name: "law regions bind peers",
			law:  Law{AllowedRegions: []string{"us-east"}},
			max:  10,
			want: []string{"a-us-1", "a-us-2"}, // d3 is over the cap
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRouter(t, RouterConfig{Providers: rtWorld(), Strategy: Cheapest{}, MaxCandidates: tt.max, MaxPerProvider: -1})
			plan, err := r.Plan(t.Context(), rtOrder(tt.order), tt.law, peers)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(tt.want, planIDs(plan)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			for _, c := range plan.Candidates {
				if c.Kind == treaty.RoutePeer && (c.Peer == "" || string(c.Peer) != c.Name) {
					t.Errorf("peer candidate %+v lacks its DID", c)
				}
			}
		})
	}
}

func TestRouterMaxPerProvider(t *testing.T) {
	var offers []Offer
	for i := range 6 {
		offers = append(offers, rtOffer("solo", fmt.Sprintf("s%d", i), "eu-de", Money(1_000_000+i)))
	}
	provs := []Provider{
		&rtFake{name: "solo", offers: offers},
		&rtFake{name: "other", offers: []Offer{rtOffer("other", "o0", "eu-de", 2_000_000)}},
	}
	for _, tt := range []struct {
		per, max int
		want     []string
	}{
		{per: 0, max: 8, want: []string{"s0", "s1", "s2", "o0"}}, // default 3
		{per: 1, max: 8, want: []string{"s0", "o0"}},
		{per: -1, max: 8, want: []string{"s0", "s1", "s2", "s3", "s4", "s5", "o0"}},
		{per: 2, max: 2, want: []string{"s0", "s1"}},
	} {
		t.Run(fmt.Sprintf("per=%d,max=%d", tt.per, tt.max), func(t *testing.T) {
			r, _ := newRouter(t, RouterConfig{Providers: provs, Strategy: Cheapest{}, MaxPerProvider: tt.per, MaxCandidates: tt.max})
			plan, err := r.Plan(t.Context(), rtOrder(nil), Law{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(tt.want, planIDs(plan)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTopAddMatchesReference checks the one-pass selection against sorting
// everything and taking candidates greedily under the per-provider cap.
func TestTopAddMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	provs := []*routed{{name: "a"}, {name: "b"}, {name: "c"}}
	for iter := range 2000 {
		n := rng.IntN(30)
		limit, per := 1+rng.IntN(8), 1+rng.IntN(4)
		offers := make([]Offer, n)
		refs := make([]ref, n)
		for i := range refs {
			offers[i] = Offer{ID: fmt.Sprintf("o%02d", i)}
			refs[i] = ref{score: float64(rng.IntN(5)), price: Money(rng.IntN(3)), prov: provs[rng.IntN(3)], offer: &offers[i]}
		}
		var got []ref
		for i := range refs {
			got = topAdd(got, &refs[i], limit, per)
		}
		sorted := slices.Clone(refs)
		slices.SortStableFunc(sorted, func(a, b ref) int { return refCompare(&a, &b) })
		var want []ref
		count := map[*routed]int{}
		for _, x := range sorted {
			if len(want) == limit {
				break
			}
			if per < limit && count[x.prov] >= per {
				continue
			}
			count[x.prov]++
			want = append(want, x)
		}
		ids := func(rs []ref) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.offer.ID)
			}
			return out
		}
		if diff := gocmp.Diff(ids(want), ids(got)); diff != "" {
			t.Fatalf("iteration %d (limit %d, per %d) (-want +got):\n%s", iter, limit, per, diff)
		}
	}
}

func TestRouterOfferCache(t *testing.T) {
	boom := errors.New("upstream 503")
	f := &rtFake{name: "alpha", offers: []Offer{rtOffer("alpha", "a1", "eu-de", 1_000_000)}}
	r, clock := newRouter(t, RouterConfig{Providers: []Provider{f}, OfferTTL: 10 * time.Second, Backoff: time.Second})
	plan := func() ([]string, error) {
		p, err := r.Plan(t.Context(), rtOrder(nil), Law{}, nil)
		return planIDs(p), err
	}
	steps := []struct {
		name      string
		advance   time.Duration
		setErr    error
		order     func(*treaty.Order)
		wantCalls int64
		wantPlan  []string
		wantErr   bool
	}{
		{name: "first plan fetches", wantCalls: 1, wantPlan: []string{"a1"}},
		{name: "within the TTL: cached", advance: 9 * time.Second, wantCalls: 1, wantPlan: []string{"a1"}},
		{name: "another region, same shape: cached", order: func(o *treaty.Order) { o.Constraints.Regions = []string{"eu-de"} }, wantCalls: 1, wantPlan: []string{"a1"}},
		{name: "another GPU count: new shape", order: func(o *treaty.Order) { o.Workload.GPU = &treaty.GPU{Model: "H100", Count: 2} }, wantCalls: 2, wantErr: true},
		{name: "expired: refetched", advance: 2 * time.Second, wantCalls: 3, wantPlan: []string{"a1"}},
		{name: "fetch fails: stale offers served", advance: 11 * time.Second, setErr: boom, wantCalls: 4, wantPlan: []string{"a1"}},
		{name: "failure remembered for Backoff", advance: 500 * time.Millisecond, setErr: boom, wantCalls: 4, wantPlan: []string{"a1"}},
		{name: "retried after Backoff", advance: time.Second, wantCalls: 5, wantPlan: []string{"a1"}},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		f.offersErr = st.setErr
		p, err := r.Plan(t.Context(), rtOrder(st.order), Law{}, nil)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: Plan err = %v, wantErr %v", st.name, err, st.wantErr)
		}
		if got := f.offersCalls.Load(); got != st.wantCalls {
			t.Errorf("%s: %d Offers calls, want %d", st.name, got, st.wantCalls)
		}
		if !st.wantErr {
			if diff := gocmp.Diff(st.wantPlan, planIDs(p)); diff != "" {
				t.Errorf("%s: plan (-want +got):\n%s", st.name, diff)
			}
		}
	}

	// A provider that never answered is unavailable, with the error as evidence.
	bad := &rtFake{name: "down", offersErr: boom}
	r2, _ := newRouter(t, RouterConfig{Providers: []Provider{bad}})
	_, err := r2.Plan(t.Context(), rtOrder(nil), Law{}, nil)
	var nc *NoCandidateError
	if !errors.As(err, &nc) || nc.Rejected.Unavailable != 1 || !errors.Is(err, boom) {
		t.Errorf("Plan with a failing provider = %v; want NoCandidateError (unavailable 1) wrapping the cause", err)
	}
	_ = plan

	// OfferTTL < 0: no cache.
	f3 := &rtFake{name: "alpha", offers: f.offers}
	r3, _ := newRouter(t, RouterConfig{Providers: []Provider{f3}, OfferTTL: -1})
	for range 3 {
		if _, err := r3.Plan(t.Context(), rtOrder(nil), Law{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := f3.offersCalls.Load(); got != 3 {
		t.Errorf("uncached router: %d Offers calls for 3 plans, want 3", got)
	}
}

func TestRouterLaunchFallback(t *testing.T) {
	boom := errors.New("instance exited")
	tests := []struct {
		name         string
		results      map[string][]error // per provider, per call; nil = success
		wantProvider string
		wantAttempts []string // provider per attempt
		wantErrIs    error
		wantAdvance  time.Duration // virtual time spent in backoff
	}{
		{
			name:         "first succeeds",
			wantProvider: "alpha", wantAttempts: []string{"alpha"},
		},
		{
			name:         "falls back in plan order",
			results:      map[string][]error{"alpha": {boom}},
			wantProvider: "beta", wantAttempts: []string{"alpha", "beta"},
		},
		{
			name:         "429 is retried once after the backoff",
			results:      map[string][]error{"alpha": {ErrRateLimited}},
			wantProvider: "alpha", wantAttempts: []string{"alpha", "alpha"}, wantAdvance: 500 * time.Millisecond,
		},
		{
			name:         "429 twice moves on; backoff doubles across providers",
			results:      map[string][]error{"alpha": {ErrRateLimited, ErrRateLimited}, "beta": {ErrRateLimited}},
			wantProvider: "beta", wantAttempts: []string{"alpha", "alpha", "beta", "beta"}, wantAdvance: 1500 * time.Millisecond,
		},
		{
			name:         "429 with Retry-After",
			results:      map[string][]error{"alpha": {retryAfter(2 * time.Second)}},
			wantProvider: "alpha", wantAttempts: []string{"alpha", "alpha"}, wantAdvance: 2 * time.Second,
		},
		{
			name:         "Retry-After is capped",
			results:      map[string][]error{"alpha": {retryAfter(time.Hour)}},
			wantProvider: "alpha", wantAttempts: []string{"alpha", "alpha"}, wantAdvance: 5 * time.Second,
		},
		{
			name:         "no capacity moves on",
			results:      map[string][]error{"alpha": {ErrNoCapacity}, "beta": {boom}},
			wantProvider: "gamma", wantAttempts: []string{"alpha", "beta", "gamma"},
		},
		{
			name:         "exhausted wraps the last failure",
			results:      map[string][]error{"alpha": {boom}, "beta": {ErrRateLimited, ErrRateLimited}, "gamma": {ErrNoCapacity}},
			wantAttempts: []string{"alpha", "beta", "beta", "gamma"}, wantErrIs: ErrNoCapacity, wantAdvance: 500 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var provs []Provider
			fakes := map[string]*rtFake{}
			for i, name := range []string{"alpha", "beta", "gamma"} {
				f := &rtFake{name: name, offers: []Offer{rtOffer(name, name+"-1", "eu-de", Money(1_000_000*(i+1)))}}
				calls := 0
				f.launch = func(ctx context.Context, spec LaunchSpec) (Lease, error) {
					defer func() { calls++ }()
					if errs := tt.results[name]; calls < len(errs) && errs[calls] != nil {
						return Lease{}, fmt.Errorf("%s: %w", name, errs[calls])
					}
					return Lease{ID: name + "-lease", Provider: name, PricePerHour: spec.Offer.PricePerHour, State: StateLaunching}, nil
				}
				fakes[name] = f
				provs = append(provs, f)
			}
			r, clock := newRouter(t, RouterConfig{Providers: provs, Strategy: Cheapest{}})
			start := clock.Now()
			plan, err := r.Plan(t.Context(), rtOrder(nil), Law{}, []PeerOption{{DID: repDID(t, 5), PricePerHour: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Candidates[0].Kind != treaty.RoutePeer {
				t.Fatalf("test setup: the cheap peer should rank first: %v", planIDs(plan))
			}
			var attempts []string
			lease, cand, err := r.Launch(t.Context(), plan, LaunchSpec{JobID: "job-1", MaxPricePerHour: 5_000_000}, func(a Attempt) {
				attempts = append(attempts, a.Candidate.Name)
				if a.N != len(attempts) {
					t.Errorf("attempt N = %d, want %d", a.N, len(attempts))
				}
				if (a.Err == nil) != (a.Lease.ID != "") {
					t.Errorf("attempt %+v: lease iff success", a)
				}
			})
			if diff := gocmp.Diff(tt.wantAttempts, attempts); diff != "" {
				t.Errorf("attempts (-want +got):\n%s", diff)
			}
			if got := clock.Now().Sub(start); got != tt.wantAdvance {
				t.Errorf("virtual time spent %s, want %s", got, tt.wantAdvance)
			}
			if tt.wantErrIs != nil {
				if !errors.Is(err, tt.wantErrIs) {
					t.Errorf("Launch err = %v, want %v", err, tt.wantErrIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Launch: %v", err)
			}
			if cand.Name != tt.wantProvider || lease.Provider != tt.wantProvider {
				t.Errorf("launched on %s (lease %+v), want %s", cand.Name, lease, tt.wantProvider)
			}
			// Every attempt on a provider used that provider's key and the offer.
			for name, f := range fakes {
				for _, spec := range f.launched() {
					if want := LaunchKey("job-1", name); spec.IdempotencyKey != want {
						t.Errorf("%s: key %q, want %q", name, spec.IdempotencyKey, want)
					}
					if spec.Offer.Provider != name || spec.MaxPricePerHour != 5_000_000 {
						t.Errorf("%s: spec %+v", name, spec)
					}
				}
			}
		})
	}
}

type retryAfterErr struct{ d time.Duration }

func (e retryAfterErr) Error() string             { return "429" }
func (e retryAfterErr) Unwrap() error             { return ErrRateLimited }
func (e retryAfterErr) RetryAfter() time.Duration { return e.d }
func retryAfter(d time.Duration) error            { return retryAfterErr{d} }

func TestRouterLaunchReputation(t *testing.T) {
	ok := &rtFake{name: "ok", launch: func(ctx context.Context, spec LaunchSpec) (Lease, error) {
		return Lease{ID: "l", PricePerHour: spec.Offer.PricePerHour, State: StateRunning}, nil
	}}
	bad := &rtFake{name: "bad", launch: func(ctx context.Context, spec LaunchSpec) (Lease, error) {
		return Lease{}, errors.New("nope")
	}}
	limited := &rtFake{name: "limited", launch: func(ctx context.Context, spec LaunchSpec) (Lease, error) {
		return Lease{}, ErrRateLimited
	}}
	r, _ := newRouter(t, RouterConfig{Providers: []Provider{ok, bad, limited}})
	plan := Plan{Candidates: []Candidate{
		{Kind: treaty.RouteProvider, Name: "limited", Offer: rtOffer("limited", "x", "eu", 1)},
		{Kind: treaty.RouteProvider, Name: "bad", Offer: rtOffer("bad", "y", "eu", 1)},
		{Kind: treaty.RouteProvider, Name: "ok", Offer: rtOffer("ok", "z", "eu", 1)},
	}}
	if _, _, err := r.Launch(t.Context(), plan, LaunchSpec{JobID: "j"}, nil); err != nil {
		t.Fatal(err)
	}
	rep := r.Reputation().Report(repDID(t, 1), "fed", 1, repEpoch)
	got := map[string][2]int64{}
	for _, p := range rep.Providers {
		got[p.Name] = [2]int64{p.Launched, p.Failed}
	}
	want := map[string][2]int64{"limited": {1, 1}, "bad": {1, 1}, "ok": {1, 0}}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("launched/failed per provider (-want +got):\n%s", diff)
	}
	if e, _ := r.Reputation().Snapshot().Provider("ok"); !e.LatencyKnown {
		t.Errorf("a lease already running should record its latency")
	}
}

func TestRouterLaunchCaps(t *testing.T) {
	sneaky := &rtFake{name: "sneaky", launch: func(ctx context.Context, spec LaunchSpec) (Lease, error) {
		return Lease{ID: "s-1", PricePerHour: spec.Offer.PricePerHour * 10, State: StateLaunching}, nil
	}}
	honest := &rtFake{name: "honest"}
	r, _ := newRouter(t, RouterConfig{Providers: []Provider{sneaky, honest}})
	plan := Plan{Candidates: []Candidate{
		{Kind: treaty.RouteProvider, Name: "honest", Offer: rtOffer("honest", "dear", "eu", 9_000_000)}, // above the spec cap: skipped
		{Kind: treaty.RouteProvider, Name: "sneaky", Offer: rtOffer("sneaky", "s", "eu", 500_000)},      // leases at 10x: terminated
		{Kind: treaty.RouteProvider, Name: "honest", Offer: rtOffer("honest", "h", "eu", 900_000)},
	}}
	lease, cand, err := r.Launch(t.Context(), plan, LaunchSpec{JobID: "j", MaxPricePerHour: 1_000_000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cand.Offer.ID != "h" || lease.PricePerHour != 900_000 {
		t.Errorf("launched %s at %s, want h at 900000", cand.Offer.ID, lease.PricePerHour)
	}
	if got := sneaky.terminated; len(got) != 1 || got[0] != "s-1" {
		t.Errorf("over-cap lease not terminated: %v", got)
	}
	if got := honest.launched(); len(got) != 1 || got[0].Offer.ID != "h" {
		t.Errorf("honest launches %v, want only h", got)
	}

	// Without a spec cap, each candidate is capped at its own offer price.
	r2, _ := newRouter(t, RouterConfig{Providers: []Provider{sneaky}})
	_, _, err = r2.Launch(t.Context(), Plan{Candidates: plan.Candidates[1:2]}, LaunchSpec{JobID: "j"}, nil)
	if !errors.Is(err, ErrOverPrice) {
		t.Errorf("Launch = %v, want ErrOverPrice", err)
	}
}

func TestRouterLaunchSkipsPeersAndUnknown(t *testing.T) {
	f := &rtFake{name: "alpha"}
	r, _ := newRouter(t, RouterConfig{Providers: []Provider{f}})
	_, _, err := r.Launch(t.Context(), Plan{Candidates: []Candidate{{Kind: treaty.RoutePeer, Name: "did:key:z6Mkx"}}}, LaunchSpec{JobID: "j"}, nil)
	if !errors.Is(err, ErrNoCapacity) {
		t.Errorf("peers-only plan: %v, want ErrNoCapacity", err)
	}
	_, _, err = r.Launch(t.Context(), Plan{Candidates: []Candidate{{Kind: treaty.RouteProvider, Name: "ghost"}}}, LaunchSpec{JobID: "j"}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown provider: %v, want ErrNotFound", err)
	}
	if len(f.launched()) != 0 {
		t.Errorf("launches happened: %v", f.launched())
	}
}

// cancelClock cancels a context when asked to sleep, like a shutdown
// arriving during a backoff.
type cancelClock struct {
	*VirtualClock
	cancel context.CancelFunc
}

func (c cancelClock) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	<-ctx.Done()
	return ctx.Err()
}

func TestRouterLaunchContext(t *testing.T) {
	limited := &rtFake{name: "limited", launch: func(ctx context.Context, spec LaunchSpec) (Lease, error) {
		return Lease{}, ErrRateLimited
	}}
	other := &rtFake{name: "other"}
	plan := Plan{Candidates: []Candidate{
		{Kind: treaty.RouteProvider, Name: "limited", Offer: rtOffer("limited", "x", "eu", 1)},
		{Kind: treaty.RouteProvider, Name: "other", Offer: rtOffer("other", "y", "eu", 1)},
	}}

	t.Run("canceled before", func(t *testing.T) {
		r, _ := newRouter(t, RouterConfig{Providers: []Provider{limited, other}})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := r.Launch(ctx, plan, LaunchSpec{JobID: "j"}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Launch = %v, want context.Canceled", err)
		}
		if _, err := r.Plan(ctx, rtOrder(nil), Law{}, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("Plan = %v, want context.Canceled", err)
		}
	})
	t.Run("canceled during backoff", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r, _ := newRouter(t, RouterConfig{Providers: []Provider{limited, other}, Clock: cancelClock{NewVirtualClock(repEpoch), cancel}})
		var n int
		_, _, err := r.Launch(ctx, plan, LaunchSpec{JobID: "j"}, func(Attempt) { n++ })
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "rate limited") {
			t.Errorf("Launch = %v, want context.Canceled mentioning the last attempt", err)
		}
		if n != 1 || len(other.launched()) != 0 {
			t.Errorf("%d attempts, other launched %d times; want 1 and 0", n, len(other.launched()))
		}
	})
	t.Run("attempt timeout moves on", func(t *testing.T) {
		stuck := &rtFake{name: "stuck", launch: func(ctx context.Context, spec LaunchSpec) (Lease, error) {
			<-ctx.Done()
			return Lease{}, ctx.Err()
		}}
		r, _ := newRouter(t, RouterConfig{Providers: []Provider{stuck, other}, LaunchTimeout: time.Millisecond})
		p := Plan{Candidates: []Candidate{
			{Kind: treaty.RouteProvider, Name: "stuck", Offer: rtOffer("stuck", "s", "eu", 1)},
			{Kind: treaty.RouteProvider, Name: "other", Offer: rtOffer("other", "y", "eu", 1)},
		}}
		var errs []error
		_, cand, err := r.Launch(t.Context(), p, LaunchSpec{JobID: "j"}, func(a Attempt) { errs = append(errs, a.Err) })
		if err != nil || cand.Name != "other" {
			t.Fatalf("Launch = %v on %s, want success on other", err, cand.Name)
		}
		if len(errs) != 2 || !errors.Is(errs[0], context.DeadlineExceeded) || !strings.Contains(errs[0].Error(), "timed out") {
			t.Errorf("attempt errors %v, want a timeout first", errs)
		}
	})
}

func TestLaunchKey(t *testing.T) {
	for _, tt := range []struct{ job, prov string }{
		{"", ""}, {"job-1", "vastai"}, {"job-1", "salad"}, {strings.Repeat("x", 300), "akash"},
	} {
		if got, want := LaunchKey(tt.job, tt.prov), IdempotencyKey(tt.job+"/"+tt.prov); got != want {
			t.Errorf("LaunchKey(%q, %q) = %q, want %q", tt.job, tt.prov, got, want)
		}
	}
	if LaunchKey("j", "a") == LaunchKey("j", "b") {
		t.Error("keys do not differ per provider")
	}
}

func FuzzLaunchKey(f *testing.F) {
	f.Add("job-1", "vastai")
	f.Add("", "")
	f.Add("j/with/slashes", "ионет")
	f.Fuzz(func(t *testing.T, job, prov string) {
		if got, want := LaunchKey(job, prov), IdempotencyKey(job+"/"+prov); got != want {
			t.Fatalf("LaunchKey(%q, %q) = %q, want %q", job, prov, got, want)
		}
	})
}

// FuzzRouterPlanCap checks the invariants of Plan on arbitrary offers and
// constraints: never a candidate above the order's cap or the law's
// per-GPU-hour cap, never outside the allowed regions and providers,
// never more than MaxCandidates.
func FuzzRouterPlanCap(f *testing.F) {
	f.Add(uint64(1), int64(1_000_000), int64(0), uint8(0))
	f.Add(uint64(7), int64(1), int64(500_000), uint8(3))
	f.Add(uint64(9), int64(0), int64(2_000_000), uint8(255))
	f.Fuzz(func(t *testing.T, seed uint64, priceCap, lawCap int64, mask uint8) {
		rng := rand.New(rand.NewPCG(seed, 1))
		regions := []string{"eu-de", "eu-fr", "us-east", ""}
		var provs []Provider
		for p := range 3 {
			name := fmt.Sprintf("p%d", p)
			var offers []Offer
			for i := range rng.IntN(20) {
				offers = append(offers, Offer{
					Provider: name, ID: fmt.Sprintf("%s-%d", name, i), GPUModel: "H100",
					GPUCount: int64(rng.IntN(4)), Region: regions[rng.IntN(len(regions))],
					PricePerHour: Money(rng.Int64N(5_000_000) - 1000),
				})
			}
			provs = append(provs, &rtFake{name: name, offers: offers})
		}
		r, _ := newRouter(t, RouterConfig{Providers: provs, MaxCandidates: 5})
		order := rtOrder(func(o *treaty.Order) {
			o.Constraints.MaxPricePerHour = priceCap
			o.Workload.GPU.MinVRAM = 0
			if mask&1 != 0 {
				o.Constraints.Regions = []string{"eu-de"}
			}
			if mask&2 != 0 {
				o.Constraints.Providers = []string{"p1"}
			}
		})
		law := Law{MaxPricePerGPUHour: Money(lawCap)}
		if mask&4 != 0 {
			law.AllowedRegions = []string{"eu-de", "us-east"}
		}
		peers := []PeerOption{{DID: "did:key:peer1", PricePerHour: Money(rng.Int64N(3_000_000)), Regions: []string{"eu-de"}}}
		plan, err := r.Plan(t.Context(), order, law, peers)
		if err != nil {
			if !errors.Is(err, ErrNoCapacity) {
				t.Fatalf("Plan error %v does not wrap ErrNoCapacity", err)
			}
			return
		}
		if len(plan.Candidates) > 5 {
			t.Fatalf("%d candidates, max 5", len(plan.Candidates))
		}
		for _, c := range plan.Candidates {
			price := c.Offer.PricePerHour
			if priceCap > 0 && price > Money(priceCap) {
				t.Fatalf("candidate %+v above the order cap %d", c, priceCap)
			}
			if c.Kind == treaty.RoutePeer {
				continue
			}
			if price <= 0 {
				t.Fatalf("candidate %+v without a price", c)
			}
			if lawCap > 0 && price > Money(lawCap)*Money(max(c.Offer.GPUCount, 1)) {
				t.Fatalf("candidate %+v above the law cap %d per GPU", c, lawCap)
			}
			if mask&1 != 0 && c.Offer.Region != "eu-de" || mask&4 != 0 && c.Offer.Region != "eu-de" && c.Offer.Region != "us-east" {
				t.Fatalf("candidate %+v outside the allowed regions (mask %d)", c, mask)
			}
			if mask&2 != 0 && c.Name != "p1" {
				t.Fatalf("candidate %+v outside the provider allow-list", c)
			}
		}
	})
}

func TestNewRouter(t *testing.T) {
	manual := &rtFake{name: "aethir", caps: &Capabilities{ManualOnly: true}}
	tests := []struct {
		name      string
		provs     []Provider
		wantErr   bool
		routeable []string
	}{
		{name: "empty", routeable: []string{}},
		{name: "nil provider", provs: []Provider{nil}, wantErr: true},
		{name: "unnamed", provs: []Provider{&rtFake{}}, wantErr: true},
		{name: "duplicate", provs: []Provider{&rtFake{name: "a"}, &rtFake{name: "a"}}, wantErr: true},
		{name: "manual-only skipped", provs: []Provider{manual, &rtFake{name: "a"}}, routeable: []string{"a"}},
		{name: "duplicate of a skipped one", provs: []Provider{manual, &rtFake{name: "aethir"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRouter(RouterConfig{Providers: tt.provs})
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewRouter = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := gocmp.Diff(tt.routeable, r.Providers()); diff != "" {
				t.Errorf("Providers (-want +got):\n%s", diff)
			}
			if r.Strategy().Name() != "reputation" || r.Reputation() == nil {
				t.Errorf("defaults: strategy %q, reputation %v", r.Strategy().Name(), r.Reputation())
			}
		})
	}
	if _, err := NewRouter(RouterConfig{MaxCandidates: -1}); err == nil {
		t.Error("negative MaxCandidates accepted")
	}
}

// TestRouterConcurrent plans and launches from many goroutines over slow
// providers fetched in parallel; run with -race.
func TestRouterConcurrent(t *testing.T) {
	var provs []Provider
	for i := range 4 {
		name := fmt.Sprintf("p%d", i)
		f := &rtFake{name: name, offers: []Offer{rtOffer(name, name+"-o", "eu-de", Money(1_000_000+i))}}
		provs = append(provs, &slowOffers{rtFake: f, gate: make(chan struct{})})
	}
	r, clock := newRouter(t, RouterConfig{Providers: provs, OfferTTL: time.Second})
	var wg sync.WaitGroup
	var plans atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				plan, err := r.Plan(t.Context(), rtOrder(nil), Law{}, nil)
				if err != nil {
					t.Errorf("Plan: %v", err)
					return
				}
				if len(plan.Candidates) != 4 {
					t.Errorf("plan has %d candidates, want 4", len(plan.Candidates))
				}
				plans.Add(1)
				if _, _, err := r.Launch(t.Context(), plan, LaunchSpec{JobID: fmt.Sprintf("j%d-%d", g, i)}, nil); err != nil {
					t.Errorf("Launch: %v", err)
				}
				clock.Advance(10 * time.Millisecond)
			}
		})
	}
	for _, p := range provs {
		close(p.(*slowOffers).gate) // release the first fetches while plans wait on them
	}
	wg.Wait()
	if plans.Load() != 400 {
		t.Errorf("%d plans, want 400", plans.Load())
	}
}

// slowOffers blocks Offers until gate closes.
type slowOffers struct {
	*rtFake
	gate chan struct{}
}

func (s *slowOffers) Offers(ctx context.Context, q Query) ([]Offer, error) {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.rtFake.Offers(ctx, q)
}

func TestVirtualClock(t *testing.T) {
	c := NewVirtualClock(repEpoch)
	if !c.Now().Equal(repEpoch) {
		t.Errorf("Now = %s", c.Now())
	}
	if got := c.Advance(time.Second); !got.Equal(repEpoch.Add(time.Second)) {
		t.Errorf("Advance = %s", got)
	}
	c.Advance(-time.Hour)
	if err := c.Sleep(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := c.Now(); !got.Equal(repEpoch.Add(61 * time.Second)) {
		t.Errorf("after Sleep Now = %s", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a done context = %v", err)
	}
	if err := (SystemClock{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("SystemClock.Sleep on a done context = %v", err)
	}
	if err := (SystemClock{}).Sleep(t.Context(), time.Microsecond); err != nil {
		t.Errorf("SystemClock.Sleep = %v", err)
	}
}

// BenchmarkRouterPlan50 plans over 50 cached offers (5 providers x 10, mixed
// regions and prices) plus 3 peers, and reports the per-plan latency
// distribution from recorded samples.
func BenchmarkRouterPlan50(b *testing.B) {
	regions := []string{"eu-de", "eu-fr", "us-east", "us-west", "asia-jp"}
	var provs []Provider
	for p := range 5 {
		name := fmt.Sprintf("net%d", p)
		var offers []Offer
		for i := range 10 {
			offers = append(offers, rtOffer(name, fmt.Sprintf("%s-%d", name, i), regions[(p+i)%len(regions)], Money(900_000+137_000*((p*7+i*3)%10))))
		}
		provs = append(provs, &rtFake{name: name, offers: offers})
	}
	peers := []PeerOption{
		{DID: "did:key:z6MkPeerA", Regions: []string{"eu-de"}, PricePerHour: 1_200_000, RTT: 40 * time.Millisecond},
		{DID: "did:key:z6MkPeerB", Regions: []string{"us-east"}, RTT: 90 * time.Millisecond},
		{DID: "did:key:z6MkPeerC", Regions: []string{"asia-jp"}, Reputation: 950},
	}
	for _, strat := range []Strategy{Cheapest{}, Fastest{}, ReputationWeighted{}} {
		// Plan allocates its candidate slice (8 x 216 B) per call, so its tail
		// includes GC assists; PlanInto reuses one.
		for _, into := range []bool{false, true} {
			name := strat.Name() + "/Plan"
			if into {
				name = strat.Name() + "/PlanInto"
			}
			b.Run(name, func(b *testing.B) {
				r, _ := newRouter(b, RouterConfig{Providers: provs, Strategy: strat})
				for i, p := range provs {
					observeN(r.Reputation(), p.Name(), i%2 == 0, 3)
				}
				order := rtOrder(func(o *treaty.Order) { o.Constraints.Regions = []string{"eu-de", "eu-fr", "us-east", "us-west"} })
				ctx := context.Background()
				if p, err := r.Plan(ctx, order, Law{}, peers); err != nil || len(p.Candidates) != 8 {
					b.Fatalf("warm-up plan: %d candidates, %v", len(p.Candidates), err)
				}
				var plan Plan
				samples := make([]time.Duration, 0, 1<<16)
				for b.Loop() {
					start := time.Now()
					var err error
					if into {
						err = r.PlanInto(ctx, &plan, order, Law{}, peers)
					} else {
						plan, err = r.Plan(ctx, order, Law{}, peers)
					}
					d := time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
					if len(samples) < cap(samples) {
						samples = append(samples, d)
					}
				}
				slices.Sort(samples)
				q := func(f float64) float64 { return float64(samples[int(f*float64(len(samples)-1))].Nanoseconds()) }
				b.ReportMetric(q(0.50), "p50-ns")
				b.ReportMetric(q(0.99), "p99-ns")
			})
		}
	}
}

func BenchmarkLaunchKey(b *testing.B) {
	for b.Loop() {
		_ = LaunchKey("job-0123456789", "vastai")
	}
}

func ExampleRouter() {
	clock := NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	net := &rtFake{name: "vastai", offers: []Offer{
		{Provider: "vastai", ID: "ask-1", GPUModel: "RTX 4090", GPUCount: 1, Region: "eu-de", PricePerHour: 350_000},
		{Provider: "vastai", ID: "ask-2", GPUModel: "RTX 4090", GPUCount: 1, Region: "us-east", PricePerHour: 300_000},
	}}
	r, err := NewRouter(RouterConfig{Providers: []Provider{net}, Strategy: Cheapest{}, Clock: clock})
	if err != nil {
		panic(err)
	}
	order := &treaty.Order{
		Workload:    treaty.Workload{Image: "img", GPU: &treaty.GPU{Model: "RTX 4090", Count: 1}, Duration: 600},
		Constraints: treaty.Constraints{Regions: []string{"eu-de"}, MaxPricePerHour: 400_000},
	}
	plan, err := r.Plan(context.Background(), order, Law{}, nil)
	if err != nil {
		panic(err)
	}
	lease, cand, err := r.Launch(context.Background(), plan, LaunchSpec{JobID: "job-1", Workload: order.Workload, MaxPricePerHour: 400_000}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(cand.Name, cand.Offer.ID, lease.PricePerHour)
	// Output: vastai ask-1 $0.3500
}

var _ = cmp.Compare[int]
