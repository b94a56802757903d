package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/credit"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// TracerName names the order path's tracer.
const TracerName = "github.com/aurora-federation/aurora/order"

// Verdict is the policy's decision on one order.
type Verdict struct {
	Word    uint32   // 0 allow, else deny reason bits (0xFFFFFFFF indeterminate)
	Reasons []string // reason names of the set bits
	Module  string   // CID of the module that decided ("" for a host-side check)
	// Entry, if set, is the decision's log entry (a policy.LogEntry's
	// dag-cbor: module and params CIDs, the input record, the word): the
	// core stores it with the order's answer (Ledger.Decision), so that
	// anyone holding the module and params can re-run the decision.
	Entry []byte
}

// Allowed reports an allow.
func (v Verdict) Allowed() bool { return v.Word == 0 }

// JudgeInput is what the policy sees: the order, the host-computed facts and
// the law (params) that applies.
type JudgeInput struct {
	Order       *treaty.Order
	Now         time.Time
	NonceFresh  bool
	Usage       Usage
	Limits      Limits
	Law         providers.Law
	Reputation  int64 // best candidate provider's reputation, permille
	PricePerHr  int64 // best cached candidate's price, micro-USD/h (0 = unknown)
	LaneApplies bool
	// Treaty and Lane are what a forwarded order runs under (nil for the
	// node's own clients): the treaty's policy section names the module,
	// params and limits that judge it.
	Treaty *treaty.Treaty
	Lane   treaty.Lane
}

// Judge decides orders. The node's implementation runs the WASM policy.
type Judge interface {
	Judge(ctx context.Context, in *JudgeInput) (Verdict, error)
}

// JudgeFunc adapts a function to a Judge.
type JudgeFunc func(ctx context.Context, in *JudgeInput) (Verdict, error)

// Judge calls f.
func (f JudgeFunc) Judge(ctx context.Context, in *JudgeInput) (Verdict, error) { return f(ctx, in) }

// Router plans and launches (providers.Router).
type Router interface {
	// PlanCached plans from cached offers only: it never calls a provider.
	PlanCached(ctx context.Context, plan *providers.Plan, o *treaty.Order, law providers.Law, peers []providers.PeerOption) error
	// PlanInto plans, fetching offers that are missing or stale.
	PlanInto(ctx context.Context, plan *providers.Plan, o *treaty.Order, law providers.Law, peers []providers.PeerOption) error
	Launch(ctx context.Context, plan providers.Plan, spec providers.LaunchSpec, onAttempt func(providers.Attempt)) (providers.Lease, providers.Candidate, error)
}

// Reputation scores providers and peers and learns from outcomes
// (providers.Reputation).
type Reputation interface {
	Score(provider string) int64
	PeerScore(peer treaty.DID) int64
	Observe(provider string, ok bool, latency time.Duration)
	ObservePeerOutcome(peer treaty.DID, o providers.PeerOutcome, rtt time.Duration)
}

// Forwarder talks to treaty peers (the mesh).
type Forwarder interface {
	// Forward sends a signed order under a treaty and returns the peer's
	// signed Ack or Denial (dag-cbor). An error that implements
	// Refusal and reports true means the peer cannot hold the order
	// (nothing was sent, or it refused before judging); any other error is
	// an unknown outcome.
	Forward(ctx context.Context, peer treaty.DID, treatyCID treaty.Link, order []byte) ([]byte, error)
	// Query asks the peer what it answered the order: its signed Ack, its
	// signed Denial, or a signed Denial withdrawing an order it never got
	// (after which it refuses that order).
	Query(ctx context.Context, peer treaty.DID, treatyCID treaty.Link, orderCID cid.Cid) ([]byte, error)
}

// Refusal is implemented by forward errors that know whether the peer can
// hold the order.
type Refusal interface {
	// Refused reports that the peer did not, and will not, commit the
	// order from this forward.
	Refused() bool
}

// PeerSource lists the treaty peers an order may be forwarded to.
type PeerSource interface {
	PeersFor(o *treaty.Order) []providers.PeerOption
}

// LaneInfo is the treaty and lane an inbound forward runs under.
type LaneInfo struct {
	Treaty *treaty.Treaty
	Lane   treaty.Lane
	// Canonical names the treaty the same whichever of its CIDs (proposal,
	// signed versions) the forwarder used: quotas are keyed by it.
	Canonical treaty.Link
}

// Lanes resolves the treaty and lane of an inbound forward.
type Lanes interface {
	// Lane returns the active treaty between us and from with a lane
	// from → us, or an error saying why there is none.
	Lane(ctx context.Context, treatyCID treaty.Link, from treaty.DID) (LaneInfo, error)
}

// RejectError is an order refused before judgement, or not admitted: it
// gets an error status, not a signed Denial, and nothing is committed.
type RejectError struct {
	Status     int    // HTTP status: 400, 403, 409, 413, 503
	Code       string // machine-readable: bad_record, bad_signature, replay, busy, ...
	Field      string
	RetryAfter time.Duration // for 503: when to resubmit the identical order
	Err        error
}

func (e *RejectError) Error() string { return e.Err.Error() }
func (e *RejectError) Unwrap() error { return e.Err }

// ErrorCode is the code a forwarding peer is told.
func (e *RejectError) ErrorCode() string { return e.Code }

// Reply is the answer to an order: exactly one of Ack or Denial, with its
// signed dag-cbor.
type Reply struct {
	Ack    *treaty.Ack
	Denial *treaty.Denial
	Bytes  []byte
	Job    string
	// Replayed is set when the order was answered before: this is that
	// answer, unchanged.
	Replayed bool
}

// Config wires a Core. Key, Clock, Ledger, Judge and Router are required.
type Config struct {
	Key    *treaty.PrivateKey
	Clock  clock.Clock
	Ledger *Ledger
	Judge  Judge
	Router Router
	// Reputation scores providers for the policy's facts and learns launch
	// outcomes (a launch is a success only once running). nil: none.
	Reputation Reputation
	// Providers by name, for status polls and terminating failed leases.
	Providers map[string]providers.Provider
	Metrics   *Metrics // nil: unregistered collectors
	// Law and Limits apply to the node's own clients.
	Law    providers.Law
	Limits Limits
	// Tenants, when not empty, restricts direct orders to these clients.
	Tenants []treaty.DID
	// Peers, Forward and Lanes enable forwarding; nil = local providers
	// only, and no forwarded orders taken.
	Peers   PeerSource
	Forward Forwarder
	Lanes   Lanes
	// ForwardTimeout bounds one forward; QueryTimeout one query after an
	// unknown outcome. Defaults 2s and 5s.
	ForwardTimeout time.Duration
	QueryTimeout   time.Duration
	// MaxUnresolved bounds forwards whose outcome is unknown; beyond it no
	// order is forwarded (peers are left out of plans). Default 4096.
	MaxUnresolved int
	// MaxForwards bounds how many treaty peers one order is forwarded to,
	// in plan order; later peer candidates are skipped. 0 = every peer in
	// the plan.
	MaxForwards int
	// Slots bounds the local jobs accepted and not yet running or failed
	// (config launch.queue); when all are held, new orders are refused with
	// 503 and nothing is committed. Default 16384.
	Slots int
	// MaxLaunchWait bounds how long a launched lease may take to run
	// (never past the order's expiry). Default 15 minutes.
	MaxLaunchWait time.Duration
	// PollMin and PollMax bound the wait between status polls of a lease
	// that is not running yet (doubling from PollMin). Defaults 100ms, 5s.
	PollMin, PollMax time.Duration
	// ResolveMin and ResolveMax bound the backoff between queries of an
	// unresolved forward. Defaults 1s and 1 minute.
	ResolveMin, ResolveMax time.Duration
	// RestoredAt is when the ledger was last restored from a backup
	// (Ledger.RestoredAt). The nonces and answers recorded after that
	// backup are gone, so an order created before it is refused (409
	// restored) until it could no longer be valid anyway: a restore never
	// reopens a replay.
	RestoredAt time.Time
	// Admission, if set, is asked before a new order (not a resubmission)
	// is judged; its error (a *RejectError: the node's full disk answers
	// 507) refuses the order with nothing committed.
	Admission func() error
	// OnSettled, if set, is called when a local job reaches running or
	// failed (reputation reports, per-lane fill accounting).
	OnSettled func(j *Job)
	// Cancels relays tenants' Cancels of forwarded jobs to the treaty peer
	// that runs them (the mesh); nil: a forwarded job cannot be canceled
	// here (503).
	Cancels Canceler
	// OnJob, if set, is called after every committed change of a job
	// (accepted, each settlement, canceled) with a copy of its record:
	// the node's event streams. It must not block.
	OnJob func(rec treaty.JobRecord)
	// Pricing picks the markup this node charges, within the treaty's
	// credit terms, for an order a treaty peer forwarded and it runs
	// itself (issue 16). Default credit.Utilization{}: the treaty's
	// minimum markup while launch slots are free, rising to its maximum
	// as they fill. Orders of the node's own clients are at cost.
	Pricing credit.Strategy
	// Blocks, if set, stores the blocks a job record links to (order, Ack,
	// the treaty of a forward) so the epoch DAG is complete and fetchable.
	Blocks func(ctx context.Context, ack *treaty.Ack, order, ackBytes []byte) error
	Logger *slog.Logger
	Tracer trace.Tracer
}

func (c *Config) validate() error {
	switch {
	case c.Key == nil:
		return errors.New("order: config: no Key")
	case c.Ledger == nil:
		return errors.New("order: config: no Ledger")
	case c.Judge == nil:
		return errors.New("order: config: no Judge")
	case c.Router == nil:
		return errors.New("order: config: no Router")
	}
	c.Clock = clock.Or(c.Clock)
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ForwardTimeout, 2*time.Second)
	def(&c.QueryTimeout, 5*time.Second)
	def(&c.MaxLaunchWait, 15*time.Minute)
	def(&c.PollMin, 100*time.Millisecond)
	def(&c.PollMax, 5*time.Second)
	def(&c.ResolveMin, time.Second)
	def(&c.ResolveMax, time.Minute)
	if c.MaxUnresolved <= 0 {
		c.MaxUnresolved = 4096
	}
	if c.Pricing == nil {
		c.Pricing = credit.Utilization{}
	}
	if c.Slots <= 0 {
		c.Slots = 16384
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tracer == nil {
		c.Tracer = noop.NewTracerProvider().Tracer(TracerName)
	}
	return nil
}

// Core is the order core. Safe for concurrent use.
type Core struct {
	cfg    Config
	me     treaty.DID
	log    *slog.Logger
	m      *Metrics
	ledger *Ledger
	quotas *Quotas
	locks  keyLocks
	work   fifo

	slots      atomic.Int64 // launch slots held
	unresolved atomic.Int64 // pending forwards

	trackMu sync.Mutex // protects tracked
	tracked map[cid.Cid]bool

	activeMu sync.Mutex       // protects active
	active   map[string]*step // local jobs still launching, by job ID
}

// New returns a Core. It starts nothing: launch steps wait on the queue for
// Work or Drain, and Resume picks up what an earlier run left.
func New(cfg Config) (*Core, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Core{cfg: cfg, me: cfg.Key.DID(), log: cfg.Logger, m: cfg.Metrics, ledger: cfg.Ledger,
		quotas: NewQuotas(), work: newFIFO(), active: map[string]*step{}}, nil
}

// Close stops taking launch work: Work returns false, timers that fire
// later queue nothing. Jobs not settled stay in the ledger and resume at
// the next start.
func (c *Core) Close() {
	c.work.close()
}

// Ledger returns the core's ledger.
func (c *Core) Ledger() *Ledger { return c.ledger }

// Quotas returns the core's quota tracker.
func (c *Core) Quotas() *Quotas { return c.quotas }

// SlotsUsed returns the launch slots held.
func (c *Core) SlotsUsed() int { return int(c.slots.Load()) }

// Unresolved returns the number of forwards whose outcome is unknown.
func (c *Core) Unresolved() int { return int(c.unresolved.Load()) }

// DecodeOrder parses and checks an order's encoding, fields and signature.
func DecodeOrder(data []byte, now time.Time) (*treaty.Order, error) {
	var o treaty.Order
	if err := treaty.Decode(data, &o); err != nil {
		return nil, Reject(400, "bad_record", err)
	}
	return &o, CheckOrder(&o, now)
}

// CheckOrder validates an order's fields and limits at now and verifies its
// signature.
func CheckOrder(o *treaty.Order, now time.Time) error {
	if err := o.Validate(now); err != nil {
		return Reject(400, "bad_record", err)
	}
	if err := treaty.Verify(o); err != nil {
		re := Reject(400, "bad_signature", err)
		re.Field = "sig"
		return re
	}
	return nil
}

// Reject builds a RejectError, naming the field a validation error names.
func Reject(status int, code string, err error) *RejectError {
	re := &RejectError{Status: status, Code: code, Err: err}
	var ve *treaty.ValidationError
	if errors.As(err, &ve) {
		re.Field = ve.Field
	}
	return re
}

func busy(code string, after time.Duration, format string, args ...any) *RejectError {
	return &RejectError{Status: 503, Code: code, RetryAfter: after, Err: fmt.Errorf("order: "+format, args...)}
}

// opts is what differs between our clients' orders and forwarded ones.
type opts struct {
	quotaKey    string
	law         providers.Law
	limits      Limits
	forward     bool       // may forward to treaty peers
	from        treaty.DID // the forwarding peer
	laneApplies bool
	treaty      *treaty.Treaty // the lane's treaty (forwarded orders)
	lane        treaty.Lane
	decision    []byte // the verdict's log entry, stored with the answer
}

// Submit takes an order from one of the node's own clients.
func (c *Core) Submit(ctx context.Context, o *treaty.Order) (*Reply, error) {
	ctx, span := c.cfg.Tracer.Start(ctx, "aurora.order", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("aurora.client", string(o.Client))))
	defer span.End()
	start := c.cfg.Clock.Now()
	reply, err := c.submit(ctx, o, start)
	c.observe(reply, err, start)
	endSpan(span, reply, err)
	return reply, err
}

func (c *Core) submit(ctx context.Context, o *treaty.Order, now time.Time) (*Reply, error) {
	if err := CheckOrder(o, now); err != nil {
		return nil, err
	}
	if err := c.checkSecrets(o); err != nil {
		return nil, err
	}
	if len(c.cfg.Tenants) > 0 && !slices.Contains(c.cfg.Tenants, o.Client) {
		return nil, &RejectError{Status: 403, Code: "unknown_tenant", Field: "client", Err: fmt.Errorf("order: client %s is not a tenant of this node", o.Client.Short())}
	}
	ocid, obytes, err := treaty.ID(o)
	if err != nil {
		return nil, err
	}
	return c.decide(ctx, o, ocid, obytes, now, opts{quotaKey: "client/" + string(o.Client), law: c.cfg.Law, limits: c.cfg.Limits, forward: true})
}

// SubmitForwarded takes an order a treaty peer forwarded under treatyCID:
// the lane from → us must exist in an active treaty; our own policy and the
// lane's quotas judge it; it runs on our local providers only.
func (c *Core) SubmitForwarded(ctx context.Context, from treaty.DID, treatyCID treaty.Link, orderBytes []byte) (reply *Reply, err error) {
	ctx, span := c.cfg.Tracer.Start(ctx, "aurora.order.forwarded", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("aurora.from", string(from)), attribute.String("aurora.treaty", treatyCID.String())))
	defer func() { endSpan(span, reply, err); span.End() }()
	now := c.cfg.Clock.Now()
	defer func() { c.observe(reply, err, now) }()
	o, err := DecodeOrder(orderBytes, now)
	if err != nil {
		return nil, err
	}
	if err := c.checkSecrets(o); err != nil {
		return nil, err
	}
	li, err := c.lane(ctx, treatyCID, from)
	if err != nil {
		return nil, err
	}
	ocid := treaty.CIDOf(orderBytes)
	law := providers.LawFromTreaty(li.Treaty)
	limits := Limits{MaxInflight: li.Lane.MaxInflight, OrdersPerMin: li.Lane.OrdersPerMin, GPUHoursPerDay: li.Lane.GPUHoursPerDay}
	return c.decide(ctx, o, ocid, orderBytes, now, opts{quotaKey: LaneKey(li.Canonical, from), law: law, limits: limits, from: from, laneApplies: true,
		treaty: li.Treaty, lane: li.Lane})
}

// LaneKey is the quota key of the lane from → us under a treaty's
// canonical link.
func LaneKey(canonical treaty.Link, from treaty.DID) string {
	return "lane/" + canonical.String() + "/" + string(from)
}

func (c *Core) lane(ctx context.Context, treatyCID treaty.Link, from treaty.DID) (LaneInfo, error) {
	if c.cfg.Lanes == nil {
		return LaneInfo{}, &RejectError{Status: 403, Code: "no_lane", Err: errors.New("order: this node takes no forwarded orders")}
	}
	li, err := c.cfg.Lanes.Lane(ctx, treatyCID, from)
	if err != nil {
		return LaneInfo{}, &RejectError{Status: 403, Code: "no_lane", Err: err}
	}
	if !li.Canonical.Defined() {
		li.Canonical = treatyCID
	}
	return li, nil
}

// Held answers a treaty peer's query for an order it forwarded: the Ack or
// Denial this node gave it, or, when the order never arrived, a signed
// Denial withdrawing it, stored so that the order is refused if it arrives
// later. Only the forwarding peer learns an Ack.
func (c *Core) Held(ctx context.Context, from treaty.DID, treatyCID treaty.Link, ocid cid.Cid) ([]byte, error) {
	if _, err := c.lane(ctx, treatyCID, from); err != nil {
		return nil, err
	}
	unlock := c.locks.lock(ocidLockKey(ocid), "")
	defer unlock()
	a, ok, err := c.ledger.answerOf(ctx, ocid)
	if err != nil {
		return nil, err
	}
	if ok {
		if a.From != from {
			return nil, &RejectError{Status: 403, Code: "not_yours", Err: fmt.Errorf("order: order %s was not forwarded by %s", ocid, from.Short())}
		}
		switch a.Kind {
		case answerDenial:
			return a.Reply, nil
		case answerAck:
			return c.cfg.Store().Get(ctx, ackKey(ocid.String()))
		}
		return nil, &RejectError{Status: 503, Code: "pending", Err: fmt.Errorf("order: order %s is still being decided", ocid)}
	}
	now := c.cfg.Clock.Now()
	d := &treaty.Denial{V: treaty.Version, Order: treaty.LinkTo(ocid), Operator: c.me, At: now.Unix(),
		Reasons: []string{"withdrawn: not received when " + from.Short() + " asked; this node refuses the order from now on"}}
	if err := treaty.Sign(d, c.cfg.Key); err != nil {
		return nil, err
	}
	b, err := treaty.Encode(d)
	if err != nil {
		return nil, err
	}
	ttl := treaty.MaxOrderLifetime + 2*treaty.MaxClockSkew
	if err := c.commit(ctx, &write{ops: []Op{answerOp(ocid, answer{Kind: answerDenial, Reply: b, From: from}, ttl)}}); err != nil {
		return nil, err
	}
	return b, nil
}

// Store returns the ledger's store.
func (c *Config) Store() Store { return c.Ledger.cfg.Store }

func ocidLockKey(ocid cid.Cid) string { return "o" + ocid.KeyString() }

// decide runs an order whose encoding and signature are checked: answered
// before → that answer; else judge, plan, route, commit.
func (c *Core) decide(ctx context.Context, o *treaty.Order, ocid cid.Cid, obytes []byte, now time.Time, op opts) (*Reply, error) {
	nk := nonceKey(o.Client, o.Nonce)
	unlock := c.locks.lock(ocidLockKey(ocid), nk)
	defer unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r, err, done := c.answered(ctx, o, ocid); done {
		return r, err
	}
	if r := c.cfg.RestoredAt; !r.IsZero() && o.Created <= r.Unix() && now.Before(r.Add(treaty.MaxOrderLifetime+treaty.MaxClockSkew)) {
		return nil, &RejectError{Status: 409, Code: "restored", Field: "created", Err: fmt.Errorf(
			"order: this node's ledger was restored from a backup at %s; an order created before then may have been accepted after the backup, so it is refused: sign a new order", r.UTC().Format(time.RFC3339))}
	}
	if c.cfg.Admission != nil {
		if err := c.cfg.Admission(); err != nil {
			return nil, err
		}
	}

	var peers []providers.PeerOption
	if op.forward && c.cfg.Peers != nil && c.cfg.Forward != nil && c.unresolved.Load() < int64(c.cfg.MaxUnresolved) {
		peers = c.cfg.Peers.PeersFor(o)
	}
	in := &JudgeInput{Order: o, Now: now, NonceFresh: true, Limits: op.limits, Law: op.law, LaneApplies: op.laneApplies, Treaty: op.treaty, Lane: op.lane}
	var plan providers.Plan
	if c.cfg.Router.PlanCached(ctx, &plan, o, op.law, peers) == nil && len(plan.Candidates) > 0 {
		in.PricePerHr = int64(plan.Candidates[0].Offer.PricePerHour)
	}
	in.Reputation = c.reputationFact(o, &plan)

	qlease, usage := c.quotas.Lock(op.quotaKey, now)
	in.Usage = usage
	_, pspan := c.cfg.Tracer.Start(ctx, "aurora.policy")
	verdict, jerr := c.cfg.Judge.Judge(ctx, in)
	pspan.SetAttributes(attribute.Int64("aurora.decision", int64(verdict.Word)))
	pspan.End()
	if jerr != nil {
		c.log.WarnContext(ctx, "policy failed closed", "order", ocid.String(), "err", jerr)
		if verdict.Word == 0 {
			verdict.Word, verdict.Reasons = 0xFFFFFFFF, []string{"indeterminate: " + jerr.Error()}
		}
	}
	op.decision = verdict.Entry
	if !verdict.Allowed() {
		qlease.Unlock()
		return c.deny(ctx, o, ocid, verdict, now, op, false)
	}
	qlease.Reserve(o.Workload.GPUHours())
	qlease.Unlock()

	if err := c.cfg.Router.PlanInto(ctx, &plan, o, op.law, peers); err != nil || len(plan.Candidates) == 0 {
		c.quotas.Done(op.quotaKey)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		reason := "no_capacity: no provider or peer can run this order within its constraints"
		if err != nil {
			reason = "no_capacity: " + err.Error()
		}
		return c.deny(ctx, o, ocid, Verdict{Reasons: []string{truncate(reason, treaty.MaxDetailLen)}, Module: verdict.Module}, now, op, false)
	}
	reply, err := c.route(ctx, o, ocid, obytes, plan.Candidates, now, op)
	if err != nil || reply.Denial != nil || reply.Ack.Route.Kind == treaty.RoutePeer {
		// Not in flight here: a forwarded job is the peer's to count.
		c.quotas.Done(op.quotaKey)
	}
	return reply, err
}

// reputationFact is the policy's provider reputation: the best cached
// candidate's, else the best score among the providers the order allows.
func (c *Core) reputationFact(o *treaty.Order, plan *providers.Plan) int64 {
	rep := c.cfg.Reputation
	if rep == nil {
		return 0
	}
	for _, cand := range plan.Candidates {
		if cand.Kind == treaty.RouteProvider {
			return rep.Score(cand.Name)
		}
	}
	best := int64(0)
	for name := range c.cfg.Providers {
		if len(o.Constraints.Providers) == 0 || slices.Contains(o.Constraints.Providers, name) {
			best = max(best, rep.Score(name))
		}
	}
	if best == 0 && len(plan.Candidates) > 0 {
		best = rep.PeerScore(plan.Candidates[0].Peer)
	}
	return best
}

// answered returns an order's earlier answer (done = true), or refuses a
// different order that reuses a nonce.
func (c *Core) answered(ctx context.Context, o *treaty.Order, ocid cid.Cid) (*Reply, error, bool) {
	a, ok, err := c.ledger.answerOf(ctx, ocid)
	if err != nil {
		return nil, err, true
	}
	if ok {
		r, err := c.replyOf(ctx, ocid, a)
		return r, err, true
	}
	prev, used, err := c.ledger.nonceOf(ctx, o.Client, o.Nonce)
	switch {
	case err != nil:
		return nil, err, true
	case !used, prev.Equals(ocid):
		// A fresh nonce, or ours whose answer expired with it: answer anew.
		return nil, nil, false
	}
	return nil, &RejectError{Status: 409, Code: "replay", Field: "nonce", Err: fmt.Errorf("order: nonce already used by %s for another order", o.Client.Short())}, true
}

// replyOf rebuilds the reply an order got.
func (c *Core) replyOf(ctx context.Context, ocid cid.Cid, a answer) (*Reply, error) {
	switch a.Kind {
	case answerDenial:
		var d treaty.Denial
		if err := treaty.Decode(a.Reply, &d); err != nil {
			return nil, fmt.Errorf("order: stored denial of %s: %w", ocid, err)
		}
		return &Reply{Denial: &d, Bytes: a.Reply, Replayed: true}, nil
	case answerAck:
		b, err := c.cfg.Store().Get(ctx, ackKey(ocid.String()))
		if err != nil {
			return nil, fmt.Errorf("order: stored ack of %s: %w", ocid, err)
		}
		var ack treaty.Ack
		if err := treaty.Decode(b, &ack); err != nil {
			return nil, fmt.Errorf("order: stored ack of %s: %w", ocid, err)
		}
		return &Reply{Ack: &ack, Bytes: b, Job: ack.Job, Replayed: true}, nil
	}
	return nil, busy("forward_unresolved", c.cfg.ResolveMin,
		"order %s was forwarded and its outcome is not known yet; this node is asking the peer: resubmit the identical order later", ocid)
}

// deny signs and commits a Denial (with the nonce), clearing any pending
// forward of the order.
func (c *Core) deny(ctx context.Context, o *treaty.Order, ocid cid.Cid, v Verdict, now time.Time, op opts, intended bool) (*Reply, error) {
	reasons := v.Reasons
	if len(reasons) == 0 {
		reasons = []string{fmt.Sprintf("denied: decision word %#x", v.Word)}
	}
	if len(reasons) > treaty.MaxReasons {
		reasons = reasons[:treaty.MaxReasons]
	}
	for i, r := range reasons {
		reasons[i] = truncate(r, treaty.MaxDetailLen)
	}
	d := &treaty.Denial{V: treaty.Version, Order: treaty.LinkTo(ocid), Operator: c.me, Reasons: reasons, ReasonBits: int64(v.Word), Policy: v.Module, At: now.Unix()}
	if err := treaty.Sign(d, c.cfg.Key); err != nil {
		return nil, err
	}
	b, err := treaty.Encode(d)
	if err != nil {
		return nil, err
	}
	ops := []Op{nonceOp(o, ocid, now), answerOp(ocid, answer{Kind: answerDenial, Reply: b, From: op.from}, nonceTTL(o.Expires, now))}
	if len(op.decision) > 0 {
		ops = append(ops, decisionOp(ocid, op.decision, nonceTTL(o.Expires, now)))
	}
	if intended {
		ops = append(ops, Op{Key: pendingKey(ocid), Delete: true})
	}
	if err := c.commit(ctx, &write{ops: ops}); err != nil {
		return nil, fmt.Errorf("order: persist denial: %w", err)
	}
	return &Reply{Denial: d, Bytes: b}, nil
}

func (c *Core) observe(reply *Reply, err error, start time.Time) {
	m := c.m
	var re *RejectError
	switch {
	case errors.As(err, &re) && re.Status == 503:
		m.Orders.WithLabelValues(ResultBusy).Inc()
		return
	case err != nil:
		m.Orders.WithLabelValues(ResultRejected).Inc()
		return
	case reply.Replayed:
		m.Orders.WithLabelValues(ResultReplayed).Inc()
	case reply.Denial != nil:
		m.Orders.WithLabelValues(ResultDenied).Inc()
	case reply.Ack.Route.Kind == treaty.RoutePeer:
		m.Orders.WithLabelValues(ResultForwarded).Inc()
	default:
		m.Orders.WithLabelValues(ResultAccepted).Inc()
	}
	m.AckDuration.Observe(c.cfg.Clock.Now().Sub(start).Seconds())
}

// endSpan records the outcome on an order span.
func endSpan(span trace.Span, reply *Reply, err error) {
	switch {
	case err != nil:
		span.SetStatus(codes.Error, err.Error())
	case reply.Denial != nil:
		span.SetAttributes(attribute.String("aurora.result", "denial"))
	default:
		span.SetAttributes(attribute.String("aurora.result", "ack"), attribute.String("aurora.job", reply.Job),
			attribute.String("aurora.route", reply.Ack.Route.Kind+":"+reply.Ack.Route.Name))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// commit writes w without regard to ctx's cancellation: once an answer is
// decided it is recorded, or the caller learns why not.
func (c *Core) commit(ctx context.Context, w *write) error {
	return c.ledger.commit(context.WithoutCancel(ctx), w)
}
