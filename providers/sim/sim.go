// Package sim is an in-process compute provider: a seeded, deterministic
// model of a DePIN network for tests, the in-process node benchmark and the
// routing simulator. It has a fixed offer table, a concurrent-lease capacity,
// an injected launch failure rate, a launch latency distribution and an
// optional 429 every Nth Launch call.
//
// Time comes from the configured Clock: a lease's state is computed from the
// clock when asked (launching until its sampled ready time, then running or
// failed), so no goroutine ever runs. With a providers.VirtualClock the
// provider never waits. Given the same Config and the same sequence of calls,
// every answer is identical.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aurora-federation/aurora/providers"
)

// ErrLaunchFailed is the injected launch failure (FailureRate).
var ErrLaunchFailed = errors.New("sim: launch failed")

// GPU is one row of the offer table: PricePerHour (micro-USD, for the whole
// offer of Count GPUs) in each of Regions. Model "" with Count 0 is a
// CPU-only machine.
type GPU struct {
	Model        string
	Count        int64
	VRAMMiB      int64 // per GPU
	PricePerHour providers.Money
	Regions      []string // empty = every region of Config.Regions
}

// Latency is a launch-to-running distribution. With Sigma > 0 it is
// lognormal with median Median, clamped to [Min, Max] where those are set;
// otherwise, when Max > Min, uniform in [Min, Max); otherwise fixed at Min.
type Latency struct {
	Min, Max time.Duration
	Median   time.Duration
	Sigma    float64
}

// FailMode says how an injected failure shows.
type FailMode int

const (
	// FailOnLaunch makes Launch return an error wrapping ErrLaunchFailed
	// (after CallLatency); no lease exists. This is what a router's fallback
	// chain handles synchronously. The default.
	FailOnLaunch FailMode = iota
	// FailAfterLatency makes Launch succeed with a launching lease that turns
	// StateFailed instead of StateRunning at its ready time, like a network
	// that accepts a deployment and never brings it up. The lease holds
	// capacity until terminated.
	FailAfterLatency
)

// Config configures a Provider. The zero value works: a provider named "sim"
// in region "local" with one RTX 4090 offer at $0.40/h, unlimited capacity,
// no failures and instant launches on the system clock.
type Config struct {
	Name    string   // default "sim"
	Seed    uint64   // seeds the PCG generator behind failures and latencies
	Regions []string // default ["local"]
	GPUs    []GPU    // the offer table; default one RTX 4090 (24 GiB) at 400000 µUSD/h
	// Capacity is how many leases may exist at once (launching, running or
	// failed, until terminated). 0 = unlimited.
	Capacity int
	// FailureRate is the probability (0..1) that a launch fails.
	FailureRate   float64
	FailMode      FailMode
	LaunchLatency Latency
	// CallLatency is how long each Launch call takes, waited through the
	// clock when it is a providers.Sleeper (virtual time) and on a real
	// timer otherwise. Default 0.
	CallLatency time.Duration
	// RateLimitEvery > 0 makes every Nth Launch call fail with an error
	// wrapping providers.ErrRateLimited before doing anything. 0 = never.
	RateLimitEvery int
	// Clock drives lease states. Default providers.SystemClock.
	Clock providers.Clock
}

func (c *Config) validate() error {
	if c.Name == "" {
		c.Name = "sim"
	}
	if len(c.Regions) == 0 {
		c.Regions = []string{"local"}
	}
	if len(c.GPUs) == 0 {
		c.GPUs = []GPU{{Model: "RTX 4090", Count: 1, VRAMMiB: 24 << 10, PricePerHour: 400_000}}
	}
	if c.Clock == nil {
		c.Clock = providers.SystemClock{}
	}
	switch {
	case c.Capacity < 0:
		return fmt.Errorf("sim: capacity %d is negative", c.Capacity)
	case !(c.FailureRate >= 0 && c.FailureRate <= 1):
		return fmt.Errorf("sim: failure rate %g not in [0, 1]", c.FailureRate)
	case c.FailMode != FailOnLaunch && c.FailMode != FailAfterLatency:
		return fmt.Errorf("sim: unknown fail mode %d", c.FailMode)
	case c.RateLimitEvery < 0:
		return fmt.Errorf("sim: rate limit period %d is negative", c.RateLimitEvery)
	case c.CallLatency < 0:
		return fmt.Errorf("sim: call latency %s is negative", c.CallLatency)
	}
	l := c.LaunchLatency
	if l.Min < 0 || l.Max < 0 || l.Median < 0 || l.Sigma < 0 || math.IsNaN(l.Sigma) || math.IsInf(l.Sigma, 0) {
		return errors.New("sim: launch latency parameters must be finite and not negative")
	}
	for _, r := range c.Regions {
		if r == "" {
			return errors.New("sim: empty region name")
		}
	}
	for i, g := range c.GPUs {
		if g.Count < 0 || g.VRAMMiB < 0 || g.PricePerHour <= 0 {
			return fmt.Errorf("sim: gpu %d: count and VRAM must not be negative and the price must be positive", i)
		}
		for _, r := range g.Regions {
			if r == "" {
				return fmt.Errorf("sim: gpu %d: empty region name", i)
			}
		}
	}
	return nil
}

// Provider is the in-process provider. It is safe for concurrent use.
type Provider struct {
	cfg        Config
	prefix     string // Name + "-", the lease ID prefix
	oprefix    string // Name + "/", the offer ID prefix
	offers     []providers.Offer
	byShape    map[shapeKey][]int // canonical model and count → offer indexes
	byModel    map[string][]int   // canonical model → offer indexes
	cpu        []int              // offers without GPUs
	tableCanon map[string]string  // table model → canonical model
	canon      sync.Map           // query model → canonical model (bounded by canonN)
	canonN     atomic.Int64
	caps       providers.Capabilities
	calls      atomic.Uint64
	active     atomic.Int64

	errRateLimited, errNoCapacity, errFailed error
	faultFail, faultLimit                    atomic.Int64 // injected by FailNextLaunch, RateLimitNext

	mu     sync.Mutex // protects following
	rng    *rand.Rand
	seq    uint64  // last lease sequence number issued
	leases []lease // slab; a slot is live when its seq is not 0
	free   []int32 // free slots
	keys   map[string]int32
	stats  Stats
}

var _ providers.Provider = (*Provider)(nil)

type shapeKey struct {
	model string
	count int64
}

// maxCanon bounds the memo of canonical query models (queries carry client
// input).
const maxCanon = 4096

// lease is one live lease. Its ID is "<name>-<seq>.<slot>": the sequence
// number makes IDs unique, the slot finds it without a map.
type lease struct {
	seq     uint64
	key     string
	offer   int
	started int64 // unix ns
	ready   int64 // unix ns
	fails   bool
}

// Stats counts what a Provider did.
type Stats struct {
	Calls       int64 // Launch calls
	Launched    int64 // leases created
	Failed      int64 // injected failures (both modes)
	RateLimited int64 // calls answered with ErrRateLimited
	NoCapacity  int64 // calls refused for capacity
	Terminated  int64
	Active      int64 // leases currently holding capacity
}

// New returns a provider for cfg.
func New(cfg Config) (*Provider, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:        cfg,
		prefix:     cfg.Name + "-",
		oprefix:    cfg.Name + "/",
		byShape:    map[shapeKey][]int{},
		byModel:    map[string][]int{},
		tableCanon: map[string]string{},
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		keys:       make(map[string]int32, cfg.Capacity),
	}
	p.errRateLimited = fmt.Errorf("sim: %s: API requests too frequent: %w", cfg.Name, providers.ErrRateLimited)
	p.errNoCapacity = fmt.Errorf("sim: %s: %d leases at capacity: %w", cfg.Name, cfg.Capacity, providers.ErrNoCapacity)
	p.errFailed = fmt.Errorf("sim: %s: %w", cfg.Name, ErrLaunchFailed)
	regions := map[string]bool{}
	for _, g := range cfg.GPUs {
		rs := g.Regions
		if len(rs) == 0 {
			rs = cfg.Regions
		}
		canon := providers.CanonicalGPUModel(g.Model)
		p.tableCanon[g.Model] = canon
		for _, r := range rs {
			i := len(p.offers)
			// The ID carries the offer's index, so Launch finds it without hashing.
			id := cfg.Name + "/" + strconv.Itoa(i) + "/" + r
			if g.Count == 0 && g.Model == "" {
				p.cpu = append(p.cpu, i)
			} else {
				k := shapeKey{canon, g.Count}
				p.byShape[k] = append(p.byShape[k], i)
				p.byModel[canon] = append(p.byModel[canon], i)
			}
			p.offers = append(p.offers, providers.Offer{
				Provider:     cfg.Name,
				ID:           id,
				GPUModel:     g.Model,
				GPUCount:     g.Count,
				VRAMMiB:      g.VRAMMiB,
				Region:       r,
				PricePerHour: g.PricePerHour,
				Raw:          providers.RawPrice{Amount: strconv.FormatFloat(g.PricePerHour.USD(), 'f', -1, 64), Unit: "usd/hour"},
			})
			regions[r] = true
		}
	}
	// In-process: secret env stays in this process's memory.
	p.caps = providers.Capabilities{Offers: true, Launch: true, Terminate: true, GPU: true, Idempotent: true,
		Features: []providers.Feature{providers.FeatureSecretEnv}}
	for _, r := range cfg.Regions {
		if regions[r] {
			p.caps.Regions = append(p.caps.Regions, r)
		}
	}
	for r := range regions {
		if !contains(p.caps.Regions, r) {
			p.caps.Regions = append(p.caps.Regions, r)
		}
	}
	return p, nil
}

// Name returns the configured name.
func (p *Provider) Name() string { return p.cfg.Name }

// Capabilities reports a fully automatic, idempotent GPU provider. The
// Regions slice is shared; do not modify it.
func (p *Provider) Capabilities() providers.Capabilities { return p.caps }

// Offers returns the offers matching q: the GPU model (providers.SameGPUModel;
// "" = any model), exactly q.GPUCount GPUs (0 = any count; a query naming
// neither model nor count is a CPU job and matches only CPU machines), at
// least q.MinVRAMMiB per GPU, a region in q.Regions (empty = any) and a
// price within q.MaxPricePerHour (0 = no cap), in table order. CPU, memory,
// disk and duration are not modelled. A provider at capacity lists nothing.
// Available is the free capacity (0 = unlimited). The result is a new slice
// the caller owns.
func (p *Provider) Offers(ctx context.Context, q providers.Query) ([]providers.Offer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	free := int64(0)
	if p.cfg.Capacity > 0 {
		free = int64(p.cfg.Capacity) - p.active.Load()
		if free <= 0 {
			return nil, nil
		}
	}
	var cand []int
	switch {
	case q.GPUModel == "" && q.GPUCount == 0:
		cand = p.cpu
	case q.GPUModel == "":
		for i := range p.offers {
			if p.offers[i].GPUCount == q.GPUCount {
				cand = append(cand, i)
			}
		}
	case q.GPUCount == 0:
		cand = p.byModel[p.canonical(q.GPUModel)]
	default:
		cand = p.byShape[shapeKey{p.canonical(q.GPUModel), q.GPUCount}]
	}
	n := 0
	for _, i := range cand {
		if match(&p.offers[i], &q) {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]providers.Offer, 0, n)
	for _, i := range cand {
		if match(&p.offers[i], &q) {
			o := p.offers[i]
			o.Available = free
			out = append(out, o)
		}
	}
	return out, nil
}

// canonical memoizes providers.CanonicalGPUModel for query models.
func (p *Provider) canonical(model string) string {
	if c, ok := p.tableCanon[model]; ok {
		return c
	}
	if v, ok := p.canon.Load(model); ok {
		return v.(string)
	}
	c := providers.CanonicalGPUModel(model)
	if p.canonN.Add(1) <= maxCanon {
		p.canon.Store(model, c)
	}
	return c
}

// match checks what the index does not: VRAM, region and price.
func match(o *providers.Offer, q *providers.Query) bool {
	return o.VRAMMiB >= q.MinVRAMMiB &&
		(len(q.Regions) == 0 || contains(q.Regions, o.Region)) &&
		(q.MaxPricePerHour <= 0 || o.PricePerHour <= q.MaxPricePerHour)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// offerIndex finds the table entry of an offer ID ("name/index/region").
func (p *Provider) offerIndex(id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, p.oprefix)
	if !ok {
		return 0, false
	}
	i, n := 0, 0
	for ; n < len(rest) && n < 10 && rest[n] >= '0' && rest[n] <= '9'; n++ {
		i = i*10 + int(rest[n]-'0')
	}
	if n == 0 || i >= len(p.offers) || p.offers[i].ID != id {
		return 0, false
	}
	return i, true
}

// FailNextLaunch makes the next n Launch calls fail with ErrLaunchFailed
// (after the rate limit check), creating nothing; n replaces any count left.
func (p *Provider) FailNextLaunch(n int) { p.faultFail.Store(int64(n)) }

// RateLimitNext makes the next n Launch calls fail with ErrRateLimited; n
// replaces any count left.
func (p *Provider) RateLimitNext(n int) { p.faultLimit.Store(int64(n)) }

// take consumes one injected fault, reporting whether there was one.
func take(n *atomic.Int64) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// Launch starts spec.Offer. It is idempotent by spec.IdempotencyKey: a key
// that names a live lease returns that lease (its current state) without
// drawing anything. Errors wrap providers.ErrRateLimited (every
// RateLimitEvery-th call), providers.ErrNotFound (unknown offer),
// providers.ErrOverPrice (offer above spec.MaxPricePerHour),
// providers.ErrNoCapacity (Capacity leases exist) or ErrLaunchFailed
// (injected: FailNextLaunch, or FailureRate in FailOnLaunch mode). Errors
// are fixed values per provider, so a failing launch allocates nothing.
func (p *Provider) Launch(ctx context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	if err := ctx.Err(); err != nil {
		return providers.Lease{}, err
	}
	if d := p.cfg.CallLatency; d > 0 {
		if err := wait(ctx, p.cfg.Clock, d); err != nil {
			return providers.Lease{}, err
		}
	}
	call := p.calls.Add(1)
	if n := p.cfg.RateLimitEvery; n > 0 && call%uint64(n) == 0 || take(&p.faultLimit) {
		p.mu.Lock()
		p.stats.RateLimited++
		p.mu.Unlock()
		return providers.Lease{}, p.errRateLimited
	}
	oi, ok := p.offerIndex(spec.Offer.ID)
	if !ok {
		return providers.Lease{}, fmt.Errorf("sim: %s: no offer %q: %w", p.cfg.Name, spec.Offer.ID, providers.ErrNotFound)
	}
	o := &p.offers[oi]
	if spec.MaxPricePerHour > 0 && o.PricePerHour > spec.MaxPricePerHour {
		return providers.Lease{}, fmt.Errorf("sim: %s: offer %s at %s above cap %s: %w", p.cfg.Name, o.ID, o.PricePerHour, spec.MaxPricePerHour, providers.ErrOverPrice)
	}
	now := p.cfg.Clock.Now().UnixNano()

	p.mu.Lock()
	defer p.mu.Unlock()
	if spec.IdempotencyKey != "" {
		if slot, ok := p.keys[spec.IdempotencyKey]; ok {
			return p.leaseLocked(slot, now), nil
		}
	}
	if take(&p.faultFail) {
		p.stats.Failed++
		return providers.Lease{}, p.errFailed
	}
	if p.cfg.Capacity > 0 && p.active.Load() >= int64(p.cfg.Capacity) {
		p.stats.NoCapacity++
		return providers.Lease{}, p.errNoCapacity
	}
	fails := p.cfg.FailureRate > 0 && p.rng.Float64() < p.cfg.FailureRate
	if fails {
		p.stats.Failed++
		if p.cfg.FailMode == FailOnLaunch {
			return providers.Lease{}, p.errFailed
		}
	}
	lat := p.cfg.LaunchLatency.sample(p.rng)
	p.seq++
	var slot int32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		slot = int32(len(p.leases))
		p.leases = append(p.leases, lease{})
	}
	p.leases[slot] = lease{seq: p.seq, key: spec.IdempotencyKey, offer: oi, started: now, ready: now + int64(lat), fails: fails}
	if spec.IdempotencyKey != "" {
		p.keys[spec.IdempotencyKey] = slot
	}
	p.active.Add(1)
	p.stats.Launched++
	return p.leaseLocked(slot, now), nil
}

func (p *Provider) leaseLocked(slot int32, now int64) providers.Lease {
	l := &p.leases[slot]
	o := p.offers[l.offer]
	var buf [64]byte
	id := append(buf[:0], p.prefix...)
	id = strconv.AppendUint(id, l.seq, 10)
	id = append(id, '.')
	id = strconv.AppendInt(id, int64(slot), 10)
	return providers.Lease{
		ID:           string(id),
		Provider:     p.cfg.Name,
		Offer:        o,
		PricePerHour: o.PricePerHour,
		State:        l.state(now),
	}
}

func (l *lease) state(now int64) providers.State {
	switch {
	case now < l.ready:
		return providers.StateLaunching
	case l.fails:
		return providers.StateFailed
	}
	return providers.StateRunning
}

// parseID splits lease id into its sequence number and slot, or returns
// false if id is not shaped like one of this provider's lease IDs.
func (p *Provider) parseID(id string) (seq uint64, slot int32, ok bool) {
	rest, ok := strings.CutPrefix(id, p.prefix)
	if !ok {
		return 0, 0, false
	}
	num, sl, ok := strings.Cut(rest, ".")
	if !ok || num == "" || num[0] == '0' || len(num) > 20 || sl == "" || len(sl) > 1 && sl[0] == '0' || len(sl) > 9 {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(sl, 10, 31)
	if err != nil {
		return 0, 0, false
	}
	return seq, int32(n), true
}

// find returns the live lease id names; issued reports whether the ID is one
// this provider could have issued (a lease since terminated).
func (p *Provider) findLocked(id string) (l *lease, slot int32, issued bool) {
	seq, slot, ok := p.parseID(id)
	if !ok || seq > p.seq {
		return nil, 0, false
	}
	if int(slot) < len(p.leases) && p.leases[slot].seq == seq {
		return &p.leases[slot], slot, true
	}
	return nil, 0, true
}

// Status reports lease id's state on the clock: launching until its ready
// time, then running (or failed, FailAfterLatency), or terminated. IDs this
// provider never issued wrap providers.ErrNotFound.
func (p *Provider) Status(ctx context.Context, id string) (providers.Status, error) {
	if err := ctx.Err(); err != nil {
		return providers.Status{}, err
	}
	now := p.cfg.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	l, _, issued := p.findLocked(id)
	switch {
	case !issued:
		return providers.Status{}, fmt.Errorf("sim: %s: lease %q: %w", p.cfg.Name, id, providers.ErrNotFound)
	case l == nil:
		return providers.Status{ID: id, State: providers.StateTerminated, Message: "terminated", UpdatedAt: now}, nil
	}
	st := l.state(now.UnixNano())
	at := l.started
	if st != providers.StateLaunching {
		at = l.ready
	}
	return providers.Status{ID: id, State: st, Message: string(st), UpdatedAt: time.Unix(0, at).UTC()}, nil
}

// Terminate ends lease id and frees its capacity and idempotency key. It is
// idempotent; IDs never issued wrap providers.ErrNotFound.
func (p *Provider) Terminate(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	l, slot, issued := p.findLocked(id)
	switch {
	case !issued:
		return fmt.Errorf("sim: %s: lease %q: %w", p.cfg.Name, id, providers.ErrNotFound)
	case l == nil:
		return nil
	}
	if l.key != "" && p.keys[l.key] == slot {
		delete(p.keys, l.key)
	}
	*l = lease{}
	p.free = append(p.free, slot)
	p.active.Add(-1)
	p.stats.Terminated++
	return nil
}

// LeaseInfo is the simulator's inside view of a lease.
type LeaseInfo struct {
	ID       string
	Key      string
	Offer    providers.Offer
	Launched time.Time // when Launch created it
	Ready    time.Time // when it turns running (or failed)
	Fails    bool      // turns failed instead of running
}

// Inspect returns what the provider knows about live lease id.
func (p *Provider) Inspect(id string) (LeaseInfo, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, _, _ := p.findLocked(id)
	if l == nil {
		return LeaseInfo{}, false
	}
	return LeaseInfo{
		ID:       id,
		Key:      l.key,
		Offer:    p.offers[l.offer],
		Launched: time.Unix(0, l.started).UTC(),
		Ready:    time.Unix(0, l.ready).UTC(),
		Fails:    l.fails,
	}, true
}

// Stats returns counters of everything the provider did.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Calls = int64(p.calls.Load())
	s.Active = p.active.Load()
	return s
}

func (l Latency) sample(r *rand.Rand) time.Duration {
	switch {
	case l.Sigma > 0 && l.Median > 0:
		f := float64(l.Median) * math.Exp(l.Sigma*r.NormFloat64())
		d := time.Duration(min(f, 1<<62))
		if l.Min > 0 && d < l.Min {
			d = l.Min
		}
		if l.Max > 0 && d > l.Max {
			d = l.Max
		}
		return d
	case l.Max > l.Min:
		return l.Min + time.Duration(r.Int64N(int64(l.Max-l.Min)))
	}
	return l.Min
}

func wait(ctx context.Context, c providers.Clock, d time.Duration) error {
	if s, ok := c.(providers.Sleeper); ok {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

var _ providers.NoLogs = (*Provider)(nil)

// NoLogsReason says why the simulator reads no logs (providers.NoLogs).
func (p *Provider) NoLogsReason() string { return "the simulator runs no containers: it has no logs" }
