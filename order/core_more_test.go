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

func TestJudgeBeforePlan(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	var seen []order.JudgeInput
	deny := true
	judge := order.JudgeFunc(func(_ context.Context, in *order.JudgeInput) (order.Verdict, error) {
		seen = append(seen, *in)
		if deny {
			return order.Verdict{Word: 1 << 3, Reasons: []string{"price_too_high"}}, nil
		}
		return order.Verdict{}, nil
	})
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100", judge: judge})
	client := key(t, "client")
	r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
	if err != nil || r.Denial == nil {
		t.Fatalf("want a Denial: %+v %v", r, err)
	}
	if got := n.prov.offers.Load(); got != 0 {
		t.Fatalf("a denied order made %d provider offer calls, want 0", got)
	}
	if seen[0].PricePerHr != 0 {
		t.Errorf("cold cache: price fact %d, want 0 (unknown)", seen[0].PricePerHr)
	}
	deny = false
	if r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now())); err != nil || r.Ack == nil {
		t.Fatalf("want an Ack: %+v %v", r, err)
	}
	if n.prov.offers.Load() != 1 {
		t.Fatalf("an allowed order: %d offer calls, want 1", n.prov.offers.Load())
	}
	deny = true
	if _, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now())); err != nil {
		t.Fatal(err)
	}
	if got := seen[2].PricePerHr; got != 1_000_000 {
		t.Errorf("warm cache: price fact %d, want the cached offer's 1000000", got)
	}
	if n.prov.offers.Load() != 1 {
		t.Errorf("denied order with a warm cache made an offer call")
	}
}

func TestQuotaAliasesShareOneBudget(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	var inflight []int64
	judge := order.JudgeFunc(func(_ context.Context, in *order.JudgeInput) (order.Verdict, error) {
		inflight = append(inflight, in.Usage.Inflight)
		if in.Limits.MaxInflight > 0 && in.Usage.Inflight >= in.Limits.MaxInflight {
			return order.Verdict{Word: 1 << 4, Reasons: []string{"inflight_quota"}}, nil
		}
		return order.Verdict{}, nil
	})
	a := newNode(t, clk, "a", nodeOpts{})
	b := newNode(t, clk, "b", nodeOpts{gpu: "A100", latency: time.Hour, judge: judge})
	aliases := []treaty.Link{linkOf("proposal"), linkOf("body"), linkOf("final")}
	b.cfg.Lanes = &lanes{from: a.key.DID(), aliases: aliases, canonical: aliases[1], lane: treaty.Lane{From: a.key.DID(), To: b.key.DID(), MaxInflight: 2}}
	b.start()
	client := key(t, "client")
	var denied int
	for i, tl := range aliases {
		ob, _ := treaty.Encode(newOrder(t, client, "A100", clk.Now()))
		r, err := b.core.SubmitForwarded(ctx, a.key.DID(), tl, ob)
		if err != nil {
			t.Fatalf("alias %d: %v", i, err)
		}
		if r.Denial != nil {
			denied++
		}
	}
	if want := []int64{0, 1, 2}; len(inflight) != 3 || inflight[0] != want[0] || inflight[1] != want[1] || inflight[2] != want[2] {
		t.Errorf("in-flight seen by the policy: %v, want %v (one budget for every alias)", inflight, want)
	}
	if denied != 1 {
		t.Errorf("%d denied, want 1 (the third order over max_inflight 2)", denied)
	}
}

func TestClientQuotaEntriesExpire(t *testing.T) {
	q := order.NewQuotas()
	now := start
	for i := range 5000 {
		l, _ := q.Lock("client/"+string(rune('a'+i%26))+time.Duration(i).String(), now)
		l.Reserve(0)
		l.Unlock()
		q.Done("client/" + string(rune('a'+i%26)) + time.Duration(i).String())
		now = now.Add(time.Second)
	}
	if n := q.Len(); n >= 5000 {
		t.Errorf("%d quota keys kept for 5000 one-off clients, want idle ones dropped", n)
	}
}

func TestAdmissionFullCommitsNothing(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Minute, slots: 2})
	client := key(t, "client")
	for range 2 {
		if r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now())); err != nil || r.Ack == nil {
			t.Fatalf("%+v %v", r, err)
		}
	}
	before := n.store.Len()
	o := newOrder(t, client, "A100", clk.Now())
	_, err := n.core.Submit(ctx, o)
	var re *order.RejectError
	if !errors.As(err, &re) || re.Status != 503 || re.Code != "launch_queue_full" || re.RetryAfter <= 0 {
		t.Fatalf("third order: %v, want 503 launch_queue_full with Retry-After", err)
	}
	if after := n.store.Len(); after != before {
		t.Errorf("the refused order stored %d entries, want none", after-before)
	}
	if n.core.SlotsUsed() != 2 {
		t.Errorf("slots used %d, want 2", n.core.SlotsUsed())
	}
	run(ctx, clk, clk.Now().Add(2*time.Minute), n)
	if n.core.SlotsUsed() != 0 {
		t.Fatalf("slots used %d after the leases ran, want 0", n.core.SlotsUsed())
	}
	if r, err := n.core.Submit(ctx, o); err != nil || r.Ack == nil || r.Replayed {
		t.Fatalf("the identical order once slots are free: %+v %v", r, err)
	}
}

func TestCancelledContextCommitsNothing(t *testing.T) {
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := n.core.Submit(ctx, newOrder(t, key(t, "client"), "A100", clk.Now())); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n.store.Len() != 0 || n.judged.Load() != 0 {
		t.Errorf("a cancelled request stored %d entries and was judged %d times", n.store.Len(), n.judged.Load())
	}
}

func TestIdempotentSubmission(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	deny := false
	judge := order.JudgeFunc(func(context.Context, *order.JudgeInput) (order.Verdict, error) {
		if deny {
			return order.Verdict{Word: 1, Reasons: []string{"no"}}, nil
		}
		return order.Verdict{}, nil
	})
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100", judge: judge})
	client := key(t, "client")
	o := newOrder(t, client, "A100", clk.Now())
	r1, err := n.core.Submit(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := n.core.Submit(ctx, o)
	if err != nil || !r2.Replayed || string(r2.Bytes) != string(r1.Bytes) {
		t.Fatalf("identical resubmission: %+v %v", r2, err)
	}
	// Another order with the same nonce.
	o2 := *o
	o2.Workload.Image = "y:2"
	if err := treaty.Sign(&o2, client); err != nil {
		t.Fatal(err)
	}
	var re *order.RejectError
	if _, err := n.core.Submit(ctx, &o2); !errors.As(err, &re) || re.Status != 409 || re.Field != "nonce" {
		t.Fatalf("nonce reuse: %v, want 409 on nonce", err)
	}
	deny = true
	d := newOrder(t, client, "A100", clk.Now())
	d1, err := n.core.Submit(ctx, d)
	if err != nil || d1.Denial == nil {
		t.Fatal(err)
	}
	deny = false // a changed mind does not change the answer
	d2, err := n.core.Submit(ctx, d)
	if err != nil || d2.Denial == nil || !d2.Replayed || string(d2.Bytes) != string(d1.Bytes) {
		t.Fatalf("denied order resubmitted: %+v %v", d2, err)
	}
	if n.judged.Load() != 2 {
		t.Errorf("judged %d times, want 2 (resubmissions are not judged)", n.judged.Load())
	}
	n.restart(ctx)
	if r3, err := n.core.Submit(ctx, o); err != nil || !r3.Replayed || string(r3.Bytes) != string(r1.Bytes) {
		t.Fatalf("after a restart: %+v %v", r3, err)
	}
}

// TestSlowNetworkHoldsNoWorker: leases that take a minute to run wait on
// the clock; no step is ready in between, and every one reaches running.
func TestSlowNetworkHoldsNoWorker(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Minute})
	client := key(t, "client")
	for range 100 {
		if _, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now())); err != nil {
			t.Fatal(err)
		}
	}
	n.core.Drain(ctx) // the launch calls
	if n.core.Ready() != 0 {
		t.Fatalf("%d steps ready while every lease is booting", n.core.Ready())
	}
	if n.core.SlotsUsed() != 100 {
		t.Fatalf("slots used %d, want 100", n.core.SlotsUsed())
	}
	run(ctx, clk, clk.Now().Add(90*time.Second), n)
	running := 0
	n.ledger.List(ctx, 0, 0, func(j *order.Job) bool {
		if j.Status() == treaty.StatusRunning {
			running++
		}
		return true
	})
	if running != 100 || n.core.SlotsUsed() != 0 {
		t.Errorf("running %d of 100, slots used %d", running, n.core.SlotsUsed())
	}
}

// TestAcceptedIsNotSuccess: a network that accepts launches and never runs
// them loses reputation, and its jobs fail (fill means running).
func TestAcceptedIsNotSuccess(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: 10 * time.Second, failAfter: true})
	prior := n.rep.Score(n.prov.Name())
	client := key(t, "client")
	for range 5 {
		if _, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now())); err != nil {
			t.Fatal(err)
		}
	}
	run(ctx, clk, clk.Now().Add(time.Minute), n)
	if got := n.rep.Score(n.prov.Name()); got >= prior {
		t.Errorf("reputation %d after 5 leases that never ran, want below the prior %d", got, prior)
	}
	failed := 0
	n.ledger.List(ctx, 0, 0, func(j *order.Job) bool {
		if j.Status() == treaty.StatusFailed {
			failed++
		}
		return true
	})
	if failed != 5 {
		t.Errorf("%d jobs failed, want 5", failed)
	}
}

func TestJobIDsAreCIDs(t *testing.T) {
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100"})
	r, err := n.core.Submit(t.Context(), newOrder(t, key(t, "client"), "A100", clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ledger.Job(t.Context(), r.Job); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../acks/" + r.Job, "../jobs/" + r.Job, r.Job + "/", "x", ""} {
		if _, err := n.ledger.Job(t.Context(), id); !errors.Is(err, order.ErrJobNotFound) {
			t.Errorf("job %q: %v, want ErrJobNotFound", id, err)
		}
	}
}
