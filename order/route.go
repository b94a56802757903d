package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/aurora-federation/aurora/credit"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// outcome is how a forward (or a query) ended.
type outcome int

const (
	outAck     outcome = iota // the peer's valid signed Ack
	outRefused                // its signed Denial, or a refusal before judgement
	outUnknown                // anything else: the peer may hold the order
)

type forwardResult struct {
	out   outcome
	hop   treaty.Hop
	price int64
	err   error
	rtt   time.Duration
}

// route walks the plan. A peer candidate is forwarded to (after a durable
// record of the intent); its Ack is what we commit to, its Denial moves on,
// an unknown outcome is resolved by asking the peer and never by moving
// on. The first local provider candidate gets our Ack, with the rest of the
// chain as its launch fallbacks.
func (c *Core) route(ctx context.Context, o *treaty.Order, ocid cid.Cid, obytes []byte, cands []providers.Candidate, now time.Time, op opts) (*Reply, error) {
	var (
		tried    []treaty.DID
		intended bool
		lastErr  error
	)
	for i, cand := range cands {
		switch cand.Kind {
		case treaty.RoutePeer:
			if c.cfg.MaxForwards > 0 && len(tried) >= c.cfg.MaxForwards {
				continue
			}
			p := &pending{Order: obytes, Peer: cand.Peer, Treaty: cand.Treaty.Bytes(), Tried: tried, Since: now.Unix(), Lane: op.quotaKey}
			if err := c.intend(ctx, o, ocid, p, op.decision, now); err != nil {
				return nil, err
			}
			intended = true
			res := c.forward(ctx, cand, obytes, ocid)
			if res.out == outUnknown {
				c.log.InfoContext(ctx, "forward outcome unknown; asking the peer", "order", ocid.String(), "peer", cand.Peer.Short(), "err", res.err)
				res = c.query(ctx, cand.Peer, cand.Treaty, ocid)
			}
			switch res.out {
			case outAck:
				r, err := c.commitForward(ctx, o, ocid, obytes, cand.Peer, cand.Treaty, res, op, now)
				if err != nil {
					c.track(ocid, p, c.cfg.ResolveMin) // the intent stands: resolve it
				}
				return r, err
			case outRefused:
				tried = append(tried, cand.Peer)
				lastErr = res.err
				continue
			}
			c.m.Forwards.WithLabelValues(ForwardPending).Inc()
			c.track(ocid, p, c.cfg.ResolveMin)
			return nil, busy("forward_unresolved", c.cfg.ResolveMin,
				"order %s: the answer of %s was lost and it cannot be asked now; this node keeps asking: resubmit the identical order later", ocid, cand.Peer.Short())
		case treaty.RouteProvider:
			rest := localOnly(cands[i:])
			return c.commitLocal(ctx, o, ocid, obytes, rest, op, now, intended)
		}
	}
	reason := "no_capacity: every candidate refused"
	if lastErr != nil {
		reason = "no_capacity: treaty peers refused: " + lastErr.Error()
	}
	return c.deny(ctx, o, ocid, Verdict{Reasons: []string{truncate(reason, treaty.MaxDetailLen)}}, now, op, intended)
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

// intend durably records that the order is about to be forwarded, with its
// nonce and its decision entry: a crash, a lost answer or a resubmission
// after this point finds the record and asks the peer instead of deciding
// again, and the resolver commits the answer with the entry (and the
// answer's lifetime).
func (c *Core) intend(ctx context.Context, o *treaty.Order, ocid cid.Cid, p *pending, decision []byte, now time.Time) error {
	ops := []Op{
		nonceOp(o, ocid, now),
		answerOp(ocid, answer{Kind: answerPending}, 0),
		{Key: pendingKey(ocid), Value: marshal(p)},
	}
	if len(decision) > 0 {
		ops = append(ops, decisionOp(ocid, decision, 0))
	}
	if err := c.commit(ctx, &write{ops: ops}); err != nil {
		return fmt.Errorf("order: record forward intent: %w", err)
	}
	return nil
}

// forward sends the order to a peer and classifies the answer.
func (c *Core) forward(ctx context.Context, cand providers.Candidate, obytes []byte, ocid cid.Cid) forwardResult {
	fctx, cancel := context.WithTimeout(ctx, c.cfg.ForwardTimeout)
	defer cancel()
	fctx, span := c.cfg.Tracer.Start(fctx, "aurora.forward", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("aurora.peer", string(cand.Peer))))
	defer span.End()
	start := c.cfg.Clock.Now()
	reply, err := c.cfg.Forward.Forward(fctx, cand.Peer, cand.Treaty, obytes)
	res := c.classify(reply, err, cand.Peer, ocid, true)
	res.rtt = c.cfg.Clock.Now().Sub(start)
	switch res.out {
	case outAck:
		c.m.Forwards.WithLabelValues(ForwardAck).Inc()
	case outRefused:
		if err == nil {
			c.m.Forwards.WithLabelValues(ForwardDenial).Inc()
		} else {
			c.m.Forwards.WithLabelValues(ForwardRefused).Inc()
		}
	default:
		c.m.Forwards.WithLabelValues(ForwardUnknown).Inc()
	}
	if rep := c.cfg.Reputation; rep != nil {
		o := providers.PeerTimeout
		switch {
		case res.out == outAck:
			o = providers.PeerAcked
		case res.out == outRefused && err == nil:
			o = providers.PeerDenied
		case res.out == outRefused:
			o = providers.PeerRefused
		}
		rep.ObservePeerOutcome(cand.Peer, o, res.rtt)
	}
	return res
}

// query asks a peer for an order whose forward ended unknown.
func (c *Core) query(ctx context.Context, peer treaty.DID, tl treaty.Link, ocid cid.Cid) forwardResult {
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.QueryTimeout)
	defer cancel()
	reply, err := c.cfg.Forward.Query(qctx, peer, tl, ocid)
	// Only a signed answer settles a query: an error, even a refusal, says
	// nothing about whether the peer holds the order.
	res := c.classify(reply, err, peer, ocid, false)
	switch res.out {
	case outAck:
		c.m.Forwards.WithLabelValues(ForwardQueryAck).Inc()
	case outRefused:
		c.m.Forwards.WithLabelValues(ForwardQueryDeny).Inc()
	}
	return res
}

// classify reads a forward's (or query's) result: a valid signed Ack or
// Denial of this order by this peer, a refusal (forwards only), or unknown.
func (c *Core) classify(reply []byte, err error, peer treaty.DID, ocid cid.Cid, refusals bool) forwardResult {
	if err != nil {
		var r Refusal
		if refusals && errors.As(err, &r) && r.Refused() {
			return forwardResult{out: outRefused, err: err}
		}
		return forwardResult{out: outUnknown, err: err}
	}
	var ack treaty.Ack
	if treaty.Decode(reply, &ack) == nil {
		switch {
		case ack.Operator != peer || !ack.Order.Equals(ocid):
			return forwardResult{out: outUnknown, err: fmt.Errorf("order: peer %s acked another order or as another operator", peer.Short())}
		case ack.Validate() != nil, treaty.Verify(&ack) != nil:
			return forwardResult{out: outUnknown, err: fmt.Errorf("order: peer %s sent an invalid Ack", peer.Short())}
		}
		return forwardResult{out: outAck, hop: treaty.Hop{Operator: peer, Ack: reply}, price: ack.Price}
	}
	var den treaty.Denial
	if treaty.Decode(reply, &den) == nil && den.Operator == peer && den.Order.Equals(ocid) && treaty.Verify(&den) == nil {
		return forwardResult{out: outRefused, err: fmt.Errorf("order: peer %s denied: %v", peer.Short(), den.Reasons)}
	}
	return forwardResult{out: outUnknown, err: fmt.Errorf("order: peer %s sent neither a valid Ack nor a Denial", peer.Short())}
}

// commitForward commits our Ack of an order a peer acknowledged.
func (c *Core) commitForward(ctx context.Context, o *treaty.Order, ocid cid.Cid, obytes []byte, peer treaty.DID, tl treaty.Link, res forwardResult, op opts, now time.Time) (*Reply, error) {
	ack := &treaty.Ack{V: treaty.Version, Order: treaty.LinkTo(ocid), Job: ocid.String(), Operator: c.me,
		Via: []treaty.Hop{res.hop}, Route: treaty.Route{Kind: treaty.RoutePeer, Name: string(peer), Treaty: &tl}, Price: res.price, At: now.Unix()}
	r, _, err := c.commitAck(ctx, o, ocid, obytes, ack, op, now, true)
	return r, err
}

// commitLocal reserves a launch slot, commits our Ack for the first local
// candidate and queues the launch. With no slot free, nothing is committed
// (a recorded forward intent is withdrawn) and the order is refused with
// 503.
func (c *Core) commitLocal(ctx context.Context, o *treaty.Order, ocid cid.Cid, obytes []byte, plan []providers.Candidate, op opts, now time.Time, intended bool) (*Reply, error) {
	if !c.acquireSlot() {
		if intended {
			// Every peer tried refused: the intent can go, with its nonce.
			ops := []Op{{Key: pendingKey(ocid), Delete: true}, {Key: answerKey(ocid), Delete: true}, {Key: nonceKey(o.Client, o.Nonce), Delete: true}}
			if err := c.commit(ctx, &write{ops: ops}); err != nil {
				return nil, err
			}
		}
		return nil, busy("launch_queue_full", time.Second, "all %d launch slots are held (launch.queue): resubmit the identical order later", c.cfg.Slots)
	}
	first := plan[0]
	ack := &treaty.Ack{V: treaty.Version, Order: treaty.LinkTo(ocid), Job: ocid.String(), Operator: c.me, Via: []treaty.Hop{},
		Route: treaty.Route{Kind: treaty.RouteProvider, Name: first.Name}, Price: c.price(o, int64(first.Offer.PricePerHour), op), At: now.Unix()}
	r, job, err := c.commitAck(ctx, o, ocid, obytes, ack, op, now, intended)
	if err != nil {
		c.releaseSlot()
		return nil, err
	}
	c.m.JobsAcked.Inc()
	c.m.InflightJobs.Inc()
	c.startJob(&step{kind: stepLaunch, job: job, order: o, plan: plan, acked: now})
	return r, nil
}

// deadline is when a lease launched at launched must run by.
func (c *Core) deadline(o *treaty.Order, launched time.Time) time.Time {
	d := launched.Add(c.cfg.MaxLaunchWait)
	if e := time.Unix(o.Expires, 0); e.Before(d) {
		d = e
	}
	return d
}

// commitAck signs ack and commits it with its job, leaf and nonce.
func (c *Core) commitAck(ctx context.Context, o *treaty.Order, ocid cid.Cid, obytes []byte, ack *treaty.Ack, op opts, now time.Time, intended bool) (*Reply, *Job, error) {
	if err := treaty.Sign(ack, c.cfg.Key); err != nil {
		return nil, nil, err
	}
	acid, abytes, err := treaty.ID(ack)
	if err != nil {
		return nil, nil, err
	}
	status := treaty.StatusAccepted
	if ack.Route.Kind == treaty.RoutePeer {
		status = treaty.StatusForwarded
	}
	job := &Job{
		Record: treaty.JobRecord{
			V: treaty.Version, Job: ack.Job, Order: ack.Order, Ack: treaty.LinkTo(acid), Operator: c.me, Client: o.Client,
			Route: ack.Route, Price: ack.Price, Transitions: []treaty.Transition{{Status: status, At: now.Unix()}},
		},
		Order: obytes, Ack: abytes, Lane: op.quotaKey, Key: providers.IdempotencyKey(ack.Job), From: op.from,
	}
	leaf, err := leafOf(&job.Record)
	if err != nil {
		return nil, nil, err
	}
	if c.cfg.Blocks != nil {
		if err := c.cfg.Blocks(ctx, ack, obytes, abytes); err != nil {
			return nil, nil, fmt.Errorf("order: store job blocks: %w", err)
		}
	}
	ops := []Op{nonceOp(o, ocid, now), answerOp(ocid, answer{Kind: answerAck, From: op.from}, 0)}
	if len(op.decision) > 0 {
		ops = append(ops, decisionOp(ocid, op.decision, 0))
	}
	if intended {
		ops = append(ops, Op{Key: pendingKey(ocid), Delete: true})
	}
	if err := c.commit(ctx, &write{job: job, leaf: leaf, ops: ops}); err != nil {
		return nil, nil, fmt.Errorf("order: persist job: %w", err)
	}
	c.changed(job)
	return &Reply{Ack: ack, Bytes: abytes, Job: ack.Job}, job, nil
}

func leafOf(r *treaty.JobRecord) ([]byte, error) {
	return treaty.Encode(&treaty.LogEntry{Job: r})
}

func (c *Core) acquireSlot() bool {
	for {
		n := c.slots.Load()
		if n >= int64(c.cfg.Slots) {
			return false
		}
		if c.slots.CompareAndSwap(n, n+1) {
			c.m.SlotsUsed.Set(float64(n + 1))
			return true
		}
	}
}

func (c *Core) releaseSlot() {
	c.m.SlotsUsed.Set(float64(c.slots.Add(-1)))
}

// price is what this node charges per hour for running o on a provider
// whose offer costs cost: at cost for its own clients; for an order a
// treaty peer forwarded, cost plus the Pricing strategy's markup within the
// treaty's credit terms, never above the order's own price cap nor the
// treaty's price per GPU-hour times the GPUs (if that leaves no margin, at
// cost: the router and the policy already kept the offer within them). The
// launch slots in use are the load.
func (c *Core) price(o *treaty.Order, cost int64, op opts) int64 {
	if op.treaty == nil || (op.treaty.Credit.MinMarkup == 0 && op.treaty.Credit.MaxMarkup == 0) {
		return cost
	}
	load := credit.Load{Utilization: int64(c.slots.Load()) * 1000 / int64(max(c.cfg.Slots, 1))}
	p, err := credit.Price(cost, credit.TermsOf(op.treaty.Credit), c.cfg.Pricing, load)
	if err != nil {
		return cost
	}
	if limit := o.Constraints.MaxPricePerHour; limit > 0 && p > limit {
		p = max(limit, cost)
	}
	if per := op.treaty.MaxPricePerGPUHour; per > 0 && o.Workload.GPU != nil && o.Workload.GPU.Count > 0 {
		if limit := per * o.Workload.GPU.Count; p > limit {
			p = max(limit, cost)
		}
	}
	return p
}
