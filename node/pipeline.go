package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// Verdict is the policy's decision on one order.
type Verdict struct {
	Word    uint32   // 0 allow, else deny reason bits (0xFFFFFFFF indeterminate)
	Reasons []string // reason names of the set bits
	Module  string   // CID of the module that decided
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
	PricePerHr  int64 // best candidate's price, micro-USD/h (0 = none)
	LaneApplies bool
}

// Judge decides orders. The node's implementation runs the WASM policy.
type Judge interface {
	Judge(ctx context.Context, in *JudgeInput) (Verdict, error)
}

// Router ranks candidates and launches with fallbacks (providers.Router).
type Router interface {
	Plan(ctx context.Context, o *treaty.Order, law providers.Law, peers []providers.PeerOption) (providers.Plan, error)
	Launch(ctx context.Context, plan providers.Plan, spec providers.LaunchSpec, onAttempt func(providers.Attempt)) (providers.Lease, providers.Candidate, error)
}

// ReplayGuard is the nonce store (store.ReplayGuard).
type ReplayGuard interface {
	CheckAndInsert(client string, nonce []byte, expires, now time.Time) error
}

// Forwarder sends an order to a treaty peer and returns the peer's signed
// Ack or Denial (dag-cbor). The mesh implements it.
type Forwarder interface {
	Forward(ctx context.Context, peer treaty.DID, treatyCID treaty.Link, order []byte) (reply []byte, err error)
}

// PeerSource lists the treaty peers an order may be forwarded to.
type PeerSource interface {
	PeersFor(o *treaty.Order) []providers.PeerOption
}

// Lanes resolves the treaty and lane an inbound forwarded order runs under.
type Lanes interface {
	// Lane returns the active treaty between us and from with a lane
	// from → us, or an error saying why there is none.
	Lane(ctx context.Context, treatyCID treaty.Link, from treaty.DID) (*treaty.Treaty, treaty.Lane, error)
}

// RejectError is an order refused before judgement: it gets an error status,
// not a signed Denial.
type RejectError struct {
	Status int    // HTTP status: 400, 403, 409, 413
	Code   string // machine-readable: bad_record, bad_signature, replay, ...
	Field  string
	Err    error
}

func (e *RejectError) Error() string { return e.Err.Error() }
func (e *RejectError) Unwrap() error { return e.Err }

// Reply is the synchronous answer to an order: exactly one of Ack or Denial,
// with its signed dag-cbor.
type Reply struct {
	Ack    *treaty.Ack
	Denial *treaty.Denial
	Bytes  []byte
	Job    string
}

// PipelineConfig wires the order pipeline.
type PipelineConfig struct {
	Key     *treaty.PrivateKey
	Replay  ReplayGuard
	Judge   Judge
	Router  Router
	Jobs    *Jobs
	Quotas  *Quotas
	Metrics *Metrics
	// Law is the default law for the node's own clients.
	Law    providers.Law
	Limits Limits
	// Tenants, when not empty, restricts direct orders to these clients.
	Tenants []treaty.DID
	// Peers and Forward enable forwarding; nil = local providers only.
	Peers   PeerSource
	Forward Forwarder
	Lanes   Lanes
	// ForwardTimeout bounds one forward. Default 2s.
	ForwardTimeout time.Duration
	// Launchers is the number of concurrent launch workers. Default 64.
	Launchers int
	// Providers by name, for status polls and terminating failed leases.
	Providers map[string]providers.Provider
	// MaxLaunchWait bounds how long a launched lease may take to run
	// (never past the order's expiry). Default 15 minutes.
	MaxLaunchWait time.Duration
	// Reputation returns a provider's reputation in permille, a policy fact.
	Reputation func(provider string) int64
	// OnSettled, if set, is called when a job reaches running or failed
	// (reputation reports, peer fill accounting).
	OnSettled func(j *Job)
	Clock     func() time.Time
	Logger    *slog.Logger
	// Tracer records spans on the order path. Default: no-op.
	Tracer trace.Tracer
	// Blocks, if set, stores the blocks a job record links to (order, Ack,
	// the treaty of a forward) so the epoch DAG is complete and fetchable.
	Blocks func(ctx context.Context, ack *treaty.Ack, order, ackBytes []byte) error
}

// Pipeline takes orders: verify → replay guard → facts → policy → router →
// signed Ack or Denial → durable JobRecord and leaf → asynchronous launch.
type Pipeline struct {
	cfg PipelineConfig
	me  treaty.DID
	log *slog.Logger

	queue  chan *launchTask
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

type launchTask struct {
	job  *Job
	plan providers.Plan
	at   time.Time
}

// NewPipeline starts the pipeline's launch workers.
func NewPipeline(cfg PipelineConfig) *Pipeline {
	if cfg.ForwardTimeout == 0 {
		cfg.ForwardTimeout = 2 * time.Second
	}
	if cfg.Launchers == 0 {
		cfg.Launchers = 64
	}
	if cfg.MaxLaunchWait == 0 {
		cfg.MaxLaunchWait = 15 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer(tracerName)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline{cfg: cfg, me: cfg.Key.DID(), log: cfg.Logger, queue: make(chan *launchTask, 4096), ctx: ctx, cancel: cancel}
	for range cfg.Launchers {
		p.wg.Add(1)
		go p.launcher()
	}
	return p
}

// Close stops launching and waits for in-flight launch calls to return.
// Jobs not yet launched stay "accepted" in the ledger and resume at the
// next start.
func (p *Pipeline) Close() {
	p.cancel()
	p.wg.Wait()
}

// DecodeOrder parses and checks an order's encoding, fields and signature.
func DecodeOrder(data []byte, now time.Time) (*treaty.Order, error) {
	var o treaty.Order
	if err := treaty.Decode(data, &o); err != nil {
		return nil, reject(400, "bad_record", err)
	}
	return &o, checkOrder(&o, now)
}

func checkOrder(o *treaty.Order, now time.Time) error {
	if err := o.Validate(now); err != nil {
		return reject(400, "bad_record", err)
	}
	if err := treaty.Verify(o); err != nil {
		return reject(400, "bad_signature", err)
	}
	return nil
}

func reject(status int, code string, err error) *RejectError {
	re := &RejectError{Status: status, Code: code, Err: err}
	var ve *treaty.ValidationError
	if errors.As(err, &ve) {
		re.Field = ve.Field
	}
	return re
}

// Submit takes an order from one of the node's own clients.
func (p *Pipeline) Submit(ctx context.Context, o *treaty.Order) (*Reply, error) {
	ctx, span := p.cfg.Tracer.Start(ctx, "aurora.order", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("aurora.client", string(o.Client))))
	defer span.End()
	start := p.cfg.Clock()
	reply, err := p.submit(ctx, o, start)
	p.observe(reply, err, start)
	endSpan(span, reply, err)
	return reply, err
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

func (p *Pipeline) observe(reply *Reply, err error, start time.Time) {
	m := p.cfg.Metrics
	if m == nil {
		return
	}
	switch {
	case err != nil:
		m.Orders.WithLabelValues(ResultRejected).Inc()
		return
	case reply.Denial != nil:
		m.Orders.WithLabelValues(ResultDenied).Inc()
	case reply.Ack.Route.Kind == treaty.RoutePeer:
		m.Orders.WithLabelValues(ResultForwarded).Inc()
	default:
		m.Orders.WithLabelValues(ResultAccepted).Inc()
	}
	m.AckDuration.Observe(p.cfg.Clock().Sub(start).Seconds())
}

func (p *Pipeline) submit(ctx context.Context, o *treaty.Order, now time.Time) (*Reply, error) {
	if err := checkOrder(o, now); err != nil {
		return nil, err
	}
	if len(p.cfg.Tenants) > 0 && !slices.Contains(p.cfg.Tenants, o.Client) {
		return nil, &RejectError{Status: 403, Code: "unknown_tenant", Field: "client", Err: fmt.Errorf("node: client %s is not a tenant of this node", o.Client.Short())}
	}
	return p.decide(ctx, o, now, decideOpts{quotaKey: "client/" + string(o.Client), law: p.cfg.Law, limits: p.cfg.Limits, forward: true})
}

// SubmitForwarded takes an order a treaty peer forwarded under treatyCID:
// the lane from → us must exist in an active treaty; our own policy and the
// lane's quotas judge it; it runs on our local providers only.
func (p *Pipeline) SubmitForwarded(ctx context.Context, from treaty.DID, treatyCID treaty.Link, orderBytes []byte) (reply *Reply, err error) {
	// ctx carries the forwarding node's span (W3C traceparent in the
	// order frame): this span joins its trace.
	ctx, span := p.cfg.Tracer.Start(ctx, "aurora.order.forwarded", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("aurora.from", string(from)), attribute.String("aurora.treaty", treatyCID.String())))
	defer func() { endSpan(span, reply, err); span.End() }()
	now := p.cfg.Clock()
	o, err := DecodeOrder(orderBytes, now)
	if err != nil {
		p.observe(nil, err, now)
		return nil, err
	}
	if p.cfg.Lanes == nil {
		err := &RejectError{Status: 403, Code: "no_lane", Err: errors.New("node: this node takes no forwarded orders")}
		p.observe(nil, err, now)
		return nil, err
	}
	tr, lane, err := p.cfg.Lanes.Lane(ctx, treatyCID, from)
	if err != nil {
		err := &RejectError{Status: 403, Code: "no_lane", Err: err}
		p.observe(nil, err, now)
		return nil, err
	}
	law := providers.LawFromTreaty(tr)
	limits := Limits{MaxInflight: lane.MaxInflight, OrdersPerMin: lane.OrdersPerMin, GPUHoursPerDay: lane.GPUHoursPerDay}
	reply, err = p.decide(ctx, o, now, decideOpts{quotaKey: "lane/" + treatyCID.String() + "/" + string(from), law: law, limits: limits, laneApplies: true})
	p.observe(reply, err, now)
	return reply, err
}

type decideOpts struct {
	quotaKey    string
	law         providers.Law
	limits      Limits
	forward     bool // may forward to treaty peers
	laneApplies bool
}

func (p *Pipeline) decide(ctx context.Context, o *treaty.Order, now time.Time, opts decideOpts) (*Reply, error) {
	if err := p.cfg.Replay.CheckAndInsert(string(o.Client), o.Nonce, time.Unix(o.Expires, 0), now); err != nil {
		if errors.Is(err, store.ErrReplay) {
			return nil, &RejectError{Status: 409, Code: "replay", Field: "nonce", Err: fmt.Errorf("node: nonce already used by %s", o.Client.Short())}
		}
		return nil, fmt.Errorf("node: replay guard: %w", err)
	}
	ocid, obytes, err := treaty.ID(o)
	if err != nil {
		return nil, err
	}
	var peers []providers.PeerOption
	if opts.forward && p.cfg.Peers != nil {
		peers = p.cfg.Peers.PeersFor(o)
	}
	plan, planErr := p.cfg.Router.Plan(ctx, o, opts.law, peers)

	lease, usage := p.cfg.Quotas.Lock(opts.quotaKey, now)
	in := &JudgeInput{Order: o, Now: now, NonceFresh: true, Usage: usage, Limits: opts.limits, Law: opts.law, LaneApplies: opts.laneApplies}
	if planErr == nil && len(plan.Candidates) > 0 {
		best := plan.Candidates[0]
		in.PricePerHr = int64(best.Offer.PricePerHour)
		if p.cfg.Reputation != nil && best.Kind == treaty.RouteProvider {
			in.Reputation = p.cfg.Reputation(best.Name)
		}
	}
	_, pspan := p.cfg.Tracer.Start(ctx, "aurora.policy")
	verdict, jerr := p.cfg.Judge.Judge(ctx, in)
	pspan.SetAttributes(attribute.Int64("aurora.decision", int64(verdict.Word)))
	pspan.End()
	if jerr != nil {
		p.log.WarnContext(ctx, "policy failed closed", "order", ocid.String(), "err", jerr)
	}
	if !verdict.Allowed() {
		lease.Unlock()
		return p.deny(ocid, verdict, now)
	}
	if planErr != nil || len(plan.Candidates) == 0 {
		lease.Unlock()
		reason := "no_capacity: no provider or peer can run this order within its constraints"
		if planErr != nil {
			reason = "no_capacity: " + planErr.Error()
		}
		return p.deny(ocid, Verdict{Word: 0, Reasons: []string{reason}, Module: verdict.Module}, now)
	}
	lease.Reserve(o.Workload.GPUHours())
	lease.Unlock()

	reply, err := p.route(ctx, o, ocid, obytes, plan, now, opts)
	if err != nil || reply.Denial != nil {
		p.cfg.Quotas.Done(opts.quotaKey)
	}
	return reply, err
}

func (p *Pipeline) deny(ocid cid.Cid, v Verdict, now time.Time) (*Reply, error) {
	reasons := v.Reasons
	if len(reasons) == 0 {
		reasons = []string{fmt.Sprintf("denied: decision word %#x", v.Word)}
	}
	if len(reasons) > treaty.MaxReasons {
		reasons = reasons[:treaty.MaxReasons]
	}
	d := &treaty.Denial{V: treaty.Version, Order: treaty.LinkTo(ocid), Operator: p.me, Reasons: reasons, ReasonBits: int64(v.Word), Policy: v.Module, At: now.Unix()}
	if err := treaty.Sign(d, p.cfg.Key); err != nil {
		return nil, err
	}
	b, err := treaty.Encode(d)
	if err != nil {
		return nil, err
	}
	return &Reply{Denial: d, Bytes: b}, nil
}

// route walks the plan: a peer candidate is forwarded to synchronously (its
// Ack is what we commit to); the first local provider candidate gets our Ack
// now and is launched asynchronously, with the rest of the chain as
// fallbacks.
func (p *Pipeline) route(ctx context.Context, o *treaty.Order, ocid cid.Cid, obytes []byte, plan providers.Plan, now time.Time, opts decideOpts) (*Reply, error) {
	orderLink := treaty.LinkTo(ocid)
	jobID := ocid.String()
	var lastPeerErr error
	for i, c := range plan.Candidates {
		ack := &treaty.Ack{V: treaty.Version, Order: orderLink, Job: jobID, Operator: p.me, Via: []treaty.Hop{}, At: now.Unix()}
		switch c.Kind {
		case treaty.RoutePeer:
			hop, price, err := p.forward(ctx, c, obytes, orderLink)
			if err != nil {
				lastPeerErr = err
				p.log.InfoContext(ctx, "forward failed, next candidate", "order", jobID, "peer", c.Peer.Short(), "err", err)
				continue
			}
			tl := c.Treaty
			ack.Via = []treaty.Hop{hop}
			ack.Route = treaty.Route{Kind: treaty.RoutePeer, Name: string(c.Peer), Treaty: &tl}
			ack.Price = price
			return p.commitAck(ctx, o, ack, obytes, providers.Plan{}, opts, now)
		case treaty.RouteProvider:
			ack.Route = treaty.Route{Kind: treaty.RouteProvider, Name: c.Name}
			ack.Price = int64(c.Offer.PricePerHour)
			rest := providers.Plan{Candidates: localOnly(plan.Candidates[i:])}
			return p.commitAck(ctx, o, ack, obytes, rest, opts, now)
		}
	}
	reason := "no_capacity: every candidate refused"
	if lastPeerErr != nil {
		reason = "no_capacity: treaty peers refused or were unreachable: " + lastPeerErr.Error()
	}
	return p.deny(ocid, Verdict{Reasons: []string{truncate(reason, treaty.MaxDetailLen)}}, now)
}

func localOnly(cs []providers.Candidate) []providers.Candidate {
	out := make([]providers.Candidate, 0, len(cs))
	for _, c := range cs {
		if c.Kind == treaty.RouteProvider {
			out = append(out, c)
		}
	}
	return out
}

// forward sends the order to a peer and checks its signed Ack.
func (p *Pipeline) forward(ctx context.Context, c providers.Candidate, obytes []byte, orderLink treaty.Link) (treaty.Hop, int64, error) {
	if p.cfg.Forward == nil {
		return treaty.Hop{}, 0, errors.New("node: forwarding is not configured")
	}
	fctx, cancel := context.WithTimeout(ctx, p.cfg.ForwardTimeout)
	defer cancel()
	fctx, span := p.cfg.Tracer.Start(fctx, "aurora.forward", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("aurora.peer", string(c.Peer))))
	defer span.End()
	reply, err := p.cfg.Forward.Forward(fctx, c.Peer, c.Treaty, obytes)
	if err != nil {
		return treaty.Hop{}, 0, err
	}
	var ack treaty.Ack
	if err := treaty.Decode(reply, &ack); err != nil {
		var den treaty.Denial
		if treaty.Decode(reply, &den) == nil && den.Operator == c.Peer {
			return treaty.Hop{}, 0, fmt.Errorf("node: peer %s denied: %v", c.Peer.Short(), den.Reasons)
		}
		return treaty.Hop{}, 0, fmt.Errorf("node: peer %s sent neither Ack nor Denial: %w", c.Peer.Short(), err)
	}
	if ack.Operator != c.Peer || !ack.Order.Equals(orderLink.Cid) {
		return treaty.Hop{}, 0, fmt.Errorf("node: peer %s acked another order or as another operator", c.Peer.Short())
	}
	if err := ack.Validate(); err != nil {
		return treaty.Hop{}, 0, err
	}
	if err := treaty.Verify(&ack); err != nil {
		return treaty.Hop{}, 0, err
	}
	return treaty.Hop{Operator: c.Peer, Ack: reply}, ack.Price, nil
}

func (p *Pipeline) commitAck(ctx context.Context, o *treaty.Order, ack *treaty.Ack, obytes []byte, plan providers.Plan, opts decideOpts, now time.Time) (*Reply, error) {
	if err := treaty.Sign(ack, p.cfg.Key); err != nil {
		return nil, err
	}
	acid, abytes, err := treaty.ID(ack)
	if err != nil {
		return nil, err
	}
	status := treaty.StatusAccepted
	if ack.Route.Kind == treaty.RoutePeer {
		status = treaty.StatusForwarded
	}
	job := &Job{
		Record: treaty.JobRecord{
			V: treaty.Version, Job: ack.Job, Order: ack.Order, Ack: treaty.LinkTo(acid), Operator: p.me, Client: o.Client,
			Route: ack.Route, Price: ack.Price, Transitions: []treaty.Transition{{Status: status, At: now.Unix()}},
		},
		Order: obytes, Ack: abytes, Lane: opts.quotaKey, Key: providers.IdempotencyKey(ack.Job),
	}
	leaf, err := leafOf(&job.Record)
	if err != nil {
		return nil, err
	}
	if p.cfg.Blocks != nil {
		if err := p.cfg.Blocks(ctx, ack, obytes, abytes); err != nil {
			return nil, fmt.Errorf("node: store job blocks: %w", err)
		}
	}
	if err := p.cfg.Jobs.Put(ctx, job, leaf); err != nil {
		return nil, fmt.Errorf("node: persist job: %w", err)
	}
	if ack.Route.Kind == treaty.RouteProvider {
		// Fill rate counts jobs where they run: a forwarded order is the
		// peer's job (and a treaty order here).
		if m := p.cfg.Metrics; m != nil {
			m.JobsAcked.Inc()
			m.InflightJobs.Inc()
		}
		p.enqueue(&launchTask{job: job, plan: plan, at: now})
	} else {
		// The peer launches; our quota slot frees when the peer's work is
		// settled, which the origin cannot observe: release now.
		p.cfg.Quotas.Done(opts.quotaKey)
	}
	return &Reply{Ack: ack, Bytes: abytes, Job: ack.Job}, nil
}

func leafOf(r *treaty.JobRecord) ([]byte, error) {
	return treaty.Encode(&treaty.LogEntry{Job: r})
}

func (p *Pipeline) enqueue(t *launchTask) {
	select {
	case p.queue <- t:
	case <-p.ctx.Done():
	}
}

func (p *Pipeline) launcher() {
	defer p.wg.Done()
	for {
		select {
		case t := <-p.queue:
			p.launch(p.ctx, t)
		case <-p.ctx.Done():
			return
		}
	}
}

func (p *Pipeline) launch(ctx context.Context, t *launchTask) {
	job := t.job
	var o treaty.Order
	if err := treaty.Decode(job.Order, &o); err != nil {
		p.log.Error("stored order does not decode", "job", job.Record.Job, "err", err)
		return
	}
	spec := providers.LaunchSpec{JobID: job.Record.Job, IdempotencyKey: job.Key, Workload: o.Workload, MaxPricePerHour: providers.Money(o.Constraints.MaxPricePerHour)}
	var attempts []treaty.Transition
	onAttempt := func(a providers.Attempt) {
		res := "ok"
		switch {
		case a.Err == nil:
		case errors.Is(a.Err, providers.ErrRateLimited):
			res = "rate_limited"
		case errors.Is(a.Err, providers.ErrNoCapacity):
			res = "no_capacity"
		default:
			res = "failed"
		}
		if m := p.cfg.Metrics; m != nil {
			m.Launches.WithLabelValues(a.Candidate.Name, res).Inc()
			m.LaunchDuration.WithLabelValues(a.Candidate.Name).Observe(a.Latency.Seconds())
		}
		if a.Err != nil && len(attempts) < treaty.MaxTransitions-3 {
			attempts = append(attempts, treaty.Transition{Status: treaty.StatusLaunching, At: p.cfg.Clock().Unix(),
				Detail: truncate(a.Candidate.Name+": "+a.Err.Error(), treaty.MaxDetailLen)})
		}
	}
	l, cand, err := p.launchUntilRunning(ctx, t.plan, spec, o.Expires, onAttempt)
	if ctx.Err() != nil {
		return // shutting down: the job stays accepted and resumes at the next start
	}
	now := p.cfg.Clock()
	rec := &job.Record
	rec.Transitions = append(rec.Transitions, attempts...)
	if err != nil {
		rec.Transitions = append(rec.Transitions, treaty.Transition{Status: treaty.StatusFailed, At: now.Unix(), Detail: truncate(err.Error(), treaty.MaxDetailLen)})
	} else {
		rec.Lease = truncate(cand.Name+"/"+l.ID, 256)
		rec.Transitions = append(rec.Transitions, treaty.Transition{Status: treaty.StatusRunning, At: now.Unix(), Detail: cand.Name})
		rec.Route = treaty.Route{Kind: treaty.RouteProvider, Name: cand.Name}
		rec.Price = int64(l.PricePerHour)
	}
	leaf, lerr := leafOf(rec)
	if lerr == nil {
		lerr = p.cfg.Jobs.Put(context.WithoutCancel(ctx), job, leaf)
	}
	if lerr != nil {
		p.log.Error("persist job transition", "job", rec.Job, "err", lerr)
	}
	p.cfg.Quotas.Done(job.Lane)
	if m := p.cfg.Metrics; m != nil {
		m.InflightJobs.Dec()
		if err == nil {
			m.JobsFilled.Inc()
			m.FillDuration.Observe(now.Sub(t.at).Seconds())
		} else {
			m.JobsFailed.Inc()
		}
	}
	if p.cfg.OnSettled != nil {
		p.cfg.OnSettled(job)
	}
}

// launchUntilRunning walks the plan until a lease reaches running: a
// provider that accepts a launch and then fails it (Akash, Salad and Vast.ai
// all can) is terminated and the chain continues after it. Fill means
// running, not accepted.
func (p *Pipeline) launchUntilRunning(ctx context.Context, plan providers.Plan, spec providers.LaunchSpec, expires int64, onAttempt func(providers.Attempt)) (providers.Lease, providers.Candidate, error) {
	remaining := plan
	for {
		l, cand, err := p.cfg.Router.Launch(ctx, remaining, spec, onAttempt)
		if err != nil {
			return l, cand, err
		}
		werr := p.waitRunning(ctx, cand.Name, &l, time.Unix(expires, 0))
		if werr == nil {
			return l, cand, nil
		}
		if ctx.Err() != nil {
			return l, cand, ctx.Err()
		}
		onAttempt(providers.Attempt{Candidate: cand, Err: werr})
		if prov := p.cfg.Providers[cand.Name]; prov != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if terr := prov.Terminate(tctx, l.ID); terr != nil && !errors.Is(terr, providers.ErrNotFound) {
				p.log.Warn("terminate failed lease", "provider", cand.Name, "lease", l.ID, "err", terr)
			}
			cancel()
		}
		i := slices.IndexFunc(remaining.Candidates, func(c providers.Candidate) bool { return c.Name == cand.Name && c.Offer.ID == cand.Offer.ID })
		remaining = providers.Plan{Candidates: remaining.Candidates[i+1:]}
		if len(remaining.Candidates) == 0 {
			return l, cand, fmt.Errorf("node: fallback chain exhausted: %w", werr)
		}
	}
}

// waitRunning polls a launched lease until it runs, fails, or the order's
// deadline (bounded by MaxLaunchWait) passes.
func (p *Pipeline) waitRunning(ctx context.Context, provider string, l *providers.Lease, expires time.Time) error {
	prov := p.cfg.Providers[provider]
	if l.State == providers.StateRunning || prov == nil {
		return nil
	}
	deadline := p.cfg.Clock().Add(p.cfg.MaxLaunchWait)
	if expires.Before(deadline) {
		deadline = expires
	}
	wait := 20 * time.Millisecond
	for {
		st, err := prov.Status(ctx, l.ID)
		switch {
		case err == nil && st.State == providers.StateRunning:
			l.State = st.State
			return nil
		case err == nil && st.State.Terminal():
			return fmt.Errorf("%s lease %s: %s %s", provider, l.ID, st.State, st.Message)
		case err != nil && !errors.Is(err, providers.ErrRateLimited):
			return fmt.Errorf("%s lease %s: status: %w", provider, l.ID, err)
		}
		if p.cfg.Clock().After(deadline) {
			return fmt.Errorf("%s lease %s: not running by the order's deadline", provider, l.ID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// Resume re-plans and relaunches jobs left "accepted" by a crash or a
// shutdown. Their launches carry the same idempotency key, so an adapter
// finds a workload that did start instead of starting a second one.
func (p *Pipeline) Resume(ctx context.Context) (int, error) {
	var pending []*Job
	err := p.cfg.Jobs.List(ctx, 0, 0, func(j *Job) bool {
		if j.Status() == treaty.StatusAccepted {
			pending = append(pending, j)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	counts := map[string]int64{}
	for _, j := range pending {
		counts[j.Lane]++
	}
	for k, n := range counts {
		p.cfg.Quotas.Restore(k, n)
	}
	now := p.cfg.Clock()
	for _, j := range pending {
		var o treaty.Order
		if err := treaty.Decode(j.Order, &o); err != nil {
			return 0, fmt.Errorf("node: resume %s: %w", j.Record.Job, err)
		}
		plan, err := p.cfg.Router.Plan(ctx, &o, p.cfg.Law, nil)
		if err != nil {
			plan = providers.Plan{}
		}
		plan.Candidates = localOnly(plan.Candidates)
		if m := p.cfg.Metrics; m != nil {
			m.InflightJobs.Inc()
		}
		p.enqueue(&launchTask{job: j, plan: plan, at: now})
	}
	return len(pending), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
