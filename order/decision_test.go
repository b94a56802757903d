package order_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/treaty"
)

// TestDecisionEntries: the judge sees the treaty and lane a forwarded order
// runs under (and none for the node's own clients); the log entry of each
// verdict is stored with the order's answer, Ack or Denial, and kept as
// long as it; an order whose judge logs nothing has no entry.
func TestDecisionEntries(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	var seenA, seenB []*treaty.Treaty
	judge := func(seen *[]*treaty.Treaty) order.Judge {
		return order.JudgeFunc(func(_ context.Context, in *order.JudgeInput) (order.Verdict, error) {
			*seen = append(*seen, in.Treaty)
			if in.Treaty != nil && in.Lane.From == "" {
				t.Error("a forwarded order's judge input has a treaty but no lane")
			}
			v := order.Verdict{Module: "m", Entry: []byte("entry " + string(in.Order.Nonce))}
			if in.Order.Workload.GPU.Model == "H100" {
				v.Word, v.Reasons = 1, []string{"no_h100"}
			}
			return v, nil
		})
	}
	a := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Second, judge: judge(&seenA)})
	b := newNode(t, clk, "b", nodeOpts{gpu: "A100", latency: time.Second, judge: judge(&seenB)})
	l := pair(a, b, faultNone)
	client := key(t, "client")

	acked := newOrder(t, client, "A100", clk.Now())
	denied := newOrder(t, client, "H100", clk.Now())
	for _, o := range []*treaty.Order{acked, denied} {
		if _, err := a.core.Submit(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if len(seenA) != 2 || seenA[0] != nil || seenA[1] != nil {
		t.Fatalf("own clients' orders: the judge saw treaties %v, want none", seenA)
	}
	seenB = nil // the Ack may have come from b
	forwarded := newOrder(t, client, "A100", clk.Now())
	fb, _ := treaty.Encode(forwarded)
	if _, err := b.core.SubmitForwarded(ctx, a.key.DID(), l.treaty, fb); err != nil {
		t.Fatal(err)
	}
	if len(seenB) != 1 || seenB[0] == nil || len(seenB[0].Lanes) != 1 {
		t.Fatalf("a forwarded order's judge input: treaties %v, want the lane's", seenB)
	}

	for _, c := range []struct {
		name   string
		ledger *order.Ledger
		o      *treaty.Order
	}{{"ack", a.ledger, acked}, {"denial", a.ledger, denied}, {"forwarded", b.ledger, forwarded}} {
		ocid, _, _ := treaty.ID(c.o)
		got, err := c.ledger.Decision(ctx, ocid)
		if err != nil || string(got) != "entry "+string(c.o.Nonce) {
			t.Errorf("%s: Decision = %q, %v; want the judge's entry", c.name, got, err)
		}
	}
	// The Denial's entry lives as long as its answer (the nonce's TTL).
	dcid, _, _ := treaty.ID(denied)
	clk.AdvanceTo(time.Unix(denied.Expires, 0).Add(treaty.MaxClockSkew + time.Minute))
	if _, err := a.ledger.Decision(ctx, dcid); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("a Denial's entry after its answer expired: %v, want ErrNotFound", err)
	}
	// An Ack's is kept with its job.
	acid, _, _ := treaty.ID(acked)
	if _, err := a.ledger.Decision(ctx, acid); err != nil {
		t.Errorf("an Ack's entry: %v", err)
	}

	plain := newNode(t, clk, "c", nodeOpts{gpu: "A100", latency: time.Second})
	o := newOrder(t, client, "A100", clk.Now())
	if _, err := plain.core.Submit(ctx, o); err != nil {
		t.Fatal(err)
	}
	ocid, _, _ := treaty.ID(o)
	if _, err := plain.ledger.Decision(ctx, ocid); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("a judge without entries: Decision = %v, want ErrNotFound", err)
	}
}

// TestDecisionEntryOfResolvedForward: an order whose forward's answer was
// lost is settled later by the resolver (the peer's Ack, or, when the peer
// never read it, a local provider), also after the origin restarted; the
// origin's decision entry is kept with the answer it finally commits.
func TestDecisionEntryOfResolvedForward(t *testing.T) {
	for _, c := range []struct {
		name      string
		fault     fault
		restart   bool
		wantRoute string
	}{
		{"peer acked, resolved", faultLostAfter, false, treaty.RoutePeer},
		{"peer acked, resolved after a restart", faultLostAfter, true, treaty.RoutePeer},
		{"peer never read it, run locally after a restart", faultLostBefore, true, treaty.RouteProvider},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			clk := clock.NewVirtual(start)
			judge := order.JudgeFunc(func(_ context.Context, in *order.JudgeInput) (order.Verdict, error) {
				return order.Verdict{Module: "m", Entry: []byte("entry " + string(in.Order.Nonce))}, nil
			})
			a := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Second, peersFirst: true, judge: judge})
			b := newNode(t, clk, "b", nodeOpts{gpu: "A100", latency: time.Second})
			l := pair(a, b, c.fault)
			l.queryUp = false
			o := newOrder(t, key(t, "client"), "A100", clk.Now())
			var re *order.RejectError
			if _, err := a.core.Submit(ctx, o); !errors.As(err, &re) || re.Code != "forward_unresolved" {
				t.Fatalf("first answer: %v, want forward_unresolved", err)
			}
			if c.restart {
				a.restart(ctx)
			}
			l.mu.Lock()
			l.queryUp = true
			l.mu.Unlock()
			run(ctx, clk, clk.Now().Add(2*time.Minute), a, b)
			r, err := a.core.Submit(ctx, o)
			if err != nil || r.Ack == nil || r.Ack.Route.Kind != c.wantRoute {
				t.Fatalf("after resolution: %+v %v, want an Ack by %s", r, err, c.wantRoute)
			}
			ocid, _, _ := treaty.ID(o)
			if got, err := a.ledger.Decision(ctx, ocid); err != nil || string(got) != "entry "+string(o.Nonce) {
				t.Errorf("the origin's decision entry: %q, %v; want the judge's", got, err)
			}
		})
	}
}
