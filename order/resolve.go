package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// track starts resolving a forward whose outcome is unknown: a resolve step
// after delay, then with backoff until the peer answers.
func (c *Core) track(ocid cid.Cid, p *pending, delay time.Duration) {
	c.trackMu.Lock()
	if c.tracked == nil {
		c.tracked = map[cid.Cid]bool{}
	}
	if c.tracked[ocid] {
		c.trackMu.Unlock()
		return
	}
	c.tracked[ocid] = true
	c.trackMu.Unlock()
	c.m.Unresolved.Set(float64(c.unresolved.Add(1)))
	c.later(&step{kind: stepResolve, ocid: ocid}, delay)
}

func (c *Core) untrack(ocid cid.Cid) {
	c.trackMu.Lock()
	had := c.tracked[ocid]
	delete(c.tracked, ocid)
	c.trackMu.Unlock()
	if had {
		c.m.Unresolved.Set(float64(c.unresolved.Add(-1)))
	}
}

// UnresolvedOrders lists the orders whose forward outcome is unknown.
func (c *Core) UnresolvedOrders() []cid.Cid {
	c.trackMu.Lock()
	defer c.trackMu.Unlock()
	out := make([]cid.Cid, 0, len(c.tracked))
	for k := range c.tracked {
		out = append(out, k)
	}
	return out
}

// resolve asks the peer of a pending forward what became of the order. An
// Ack commits ours; a Denial (or withdrawal) frees the order for our local
// providers; anything else asks again later.
func (c *Core) resolve(ctx context.Context, s *step) {
	p, err := c.ledger.pendingOf(ctx, s.ocid)
	if errors.Is(err, ErrNotFound) {
		c.untrack(s.ocid)
		return
	}
	if err != nil {
		c.log.Error("read pending forward", "order", s.ocid.String(), "err", err)
		c.retryResolve(s)
		return
	}
	var o treaty.Order
	if err := treaty.Decode(p.Order, &o); err != nil {
		c.log.Error("pending forward's order does not decode", "order", s.ocid.String(), "err", err)
		c.untrack(s.ocid)
		return
	}
	tc, err := cid.Cast(p.Treaty)
	if err != nil {
		c.untrack(s.ocid)
		return
	}
	unlock := c.locks.lock(ocidLockKey(s.ocid), nonceKey(o.Client, o.Nonce))
	defer unlock()
	if a, ok, err := c.ledger.answerOf(ctx, s.ocid); err == nil && (!ok || a.Kind != answerPending) {
		c.untrack(s.ocid) // answered meanwhile
		return
	}
	res := c.query(ctx, p.Peer, treaty.LinkTo(tc), s.ocid)
	now := c.cfg.Clock.Now()
	op := opts{quotaKey: p.Lane, law: c.cfg.Law, limits: c.cfg.Limits}
	// The decision was stored with the intent: commit it again with the
	// answer, which sets its lifetime.
	if d, err := c.ledger.Decision(ctx, s.ocid); err == nil {
		op.decision = d
	}
	switch res.out {
	case outAck:
		if _, err := c.commitForward(ctx, &o, s.ocid, p.Order, p.Peer, treaty.LinkTo(tc), res, op, now); err != nil {
			c.log.Error("commit resolved forward", "order", s.ocid.String(), "err", err)
			c.retryResolve(s)
			return
		}
		c.log.Info("forward resolved: the peer holds the job", "order", s.ocid.String(), "peer", p.Peer.Short())
	case outRefused:
		if c.slots.Load() >= int64(c.cfg.Slots) {
			c.retryResolve(s) // the peer refused; wait for a local slot
			return
		}
		if err := c.continueLocally(ctx, &o, s.ocid, p, op, now); err != nil {
			c.log.Error("continue a refused forward locally", "order", s.ocid.String(), "err", err)
			c.retryResolve(s)
			return
		}
		c.log.Info("forward resolved: the peer refused; continued locally", "order", s.ocid.String(), "peer", p.Peer.Short())
	default:
		c.m.Forwards.WithLabelValues(ForwardPending).Inc()
		c.retryResolve(s)
		return
	}
	c.untrack(s.ocid)
}

// continueLocally runs an order whose forward the peer refused on our own
// providers, or denies it when none can.
func (c *Core) continueLocally(ctx context.Context, o *treaty.Order, ocid cid.Cid, p *pending, op opts, now time.Time) error {
	var plan providers.Plan
	if err := c.cfg.Router.PlanInto(ctx, &plan, o, op.law, nil); err == nil {
		if local := localOnly(plan.Candidates); len(local) > 0 {
			c.quotas.Restore(op.quotaKey, 1)
			if _, err := c.commitLocal(ctx, o, ocid, p.Order, local, op, now, true); err != nil {
				c.quotas.Done(op.quotaKey)
				return err
			}
			return nil
		}
	}
	_, err := c.deny(ctx, o, ocid, Verdict{Reasons: []string{fmt.Sprintf("no_capacity: peer %s refused the forward and no local provider can run it", p.Peer.Short())}}, now, op, true)
	return err
}

func (c *Core) retryResolve(s *step) {
	s.tries++
	d := c.cfg.ResolveMin
	for i := 0; i < s.tries && d < c.cfg.ResolveMax; i++ {
		d *= 2
	}
	c.later(s, min(d, c.cfg.ResolveMax))
}
