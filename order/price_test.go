package order_test

import (
	"testing"
	"time"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/credit"
	"github.com/aurora-federation/aurora/treaty"
)

// TestForwardedOrderPrice: an order a treaty peer forwards is acked at the
// provider's cost plus the Pricing strategy's markup within the treaty's
// credit terms, moving with the launch slots in use (the default
// Utilization strategy), never above the order's price cap; the node's
// own clients, and lanes whose treaty sets no markup, pay cost.
func TestForwardedOrderPrice(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	const cost = 1_000_000 // the sim provider's price per hour
	for _, tc := range []struct {
		name     string
		credit   treaty.Credit
		pricing  credit.Strategy
		maxPrice int64 // the orders' cap; 0 keeps newOrder's 5 USD/h; -1 caps the treaty at 1.12 USD/GPU-h
		want     []int64
	}{
		// 10 slots: the first order holds 1 (100 permille), the second 2.
		{"utilization", treaty.Credit{MinMarkup: 100, MaxMarkup: 500}, nil, 0, []int64{1_140_000, 1_180_000}},
		{"fixed strategy", treaty.Credit{MinMarkup: 100, MaxMarkup: 500}, credit.Fixed(300), 0, []int64{1_300_000, 1_300_000}},
		{"fixed beyond the terms", treaty.Credit{MinMarkup: 100, MaxMarkup: 500}, credit.Fixed(900), 0, []int64{1_500_000, 1_500_000}},
		{"capped by the order", treaty.Credit{MinMarkup: 100, MaxMarkup: 500}, nil, 1_150_000, []int64{1_140_000, 1_150_000}},
		{"no markup in the treaty", treaty.Credit{}, credit.Fixed(300), 0, []int64{cost, cost}},
		{"capped by the treaty's price per GPU-hour", treaty.Credit{MinMarkup: 100, MaxMarkup: 500}, nil, -1, []int64{1_120_000, 1_120_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newNode(t, clk, "a", nodeOpts{})
			b := newNode(t, clk, "b", nodeOpts{gpu: "A100", latency: time.Hour, slots: 10})
			tl := linkOf("priced treaty")
			ls := &lanes{from: a.key.DID(), aliases: []treaty.Link{tl}, canonical: tl,
				lane: treaty.Lane{From: a.key.DID(), To: b.key.DID()}, credit: tc.credit}
			if tc.maxPrice < 0 {
				ls.maxPerGPUHour = 1_120_000
			}
			b.cfg.Lanes = ls
			b.cfg.Pricing = tc.pricing
			b.start()
			client := key(t, "client")
			for i, want := range tc.want {
				o := newOrder(t, client, "A100", clk.Now())
				if tc.maxPrice > 0 {
					o.Constraints.MaxPricePerHour = tc.maxPrice
					if err := treaty.Sign(o, client); err != nil {
						t.Fatal(err)
					}
				}
				ob, _ := treaty.Encode(o)
				r, err := b.core.SubmitForwarded(ctx, a.key.DID(), tl, ob)
				if err != nil || r.Ack == nil {
					t.Fatalf("order %d: %+v, %v", i, r, err)
				}
				if r.Ack.Price != want {
					t.Errorf("order %d acked at %d, want %d", i, r.Ack.Price, want)
				}
			}
			// The node's own client pays cost.
			r, err := b.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
			if err != nil || r.Ack == nil || r.Ack.Price != cost {
				t.Fatalf("own client's order: %+v, %v; want an Ack at cost %d", r, err, cost)
			}
		})
	}
}
