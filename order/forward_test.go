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

// TestForwardOutcomesLaunchOnce: whatever happens to a forward's answer,
// the job is launched exactly once across origin and peer, and the client
// gets one answer that a resubmission repeats.
func TestForwardOutcomesLaunchOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     fault
		wantRoute string // where the job runs
	}{
		{"ack", faultNone, treaty.RoutePeer},
		{"lost before the peer read it", faultLostBefore, treaty.RouteProvider},
		{"lost after the peer committed", faultLostAfter, treaty.RoutePeer},
		{"slower than the timeout", faultSlow, treaty.RoutePeer},
		{"peer crashed after commit and restarted", faultCrashAfter, treaty.RoutePeer},
		{"old peer answers replay", faultReplay, treaty.RoutePeer},
		{"never sent", faultNeverSent, treaty.RouteProvider},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			clk := clock.NewVirtual(start)
			a := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Second, peersFirst: true})
			b := newNode(t, clk, "b", nodeOpts{gpu: "A100", latency: time.Second})
			l := pair(a, b, tc.fault)
			o := newOrder(t, key(t, "client"), "A100", clk.Now())
			r, err := a.core.Submit(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Ack == nil {
				t.Fatalf("got a Denial: %v", r.Denial.Reasons)
			}
			if r.Ack.Route.Kind != tc.wantRoute {
				t.Errorf("route %s, want %s", r.Ack.Route.Kind, tc.wantRoute)
			}
			run(ctx, clk, clk.Now().Add(time.Minute), a, b)
			if got := a.launched() + b.launched(); got != 1 {
				t.Errorf("launched %d times across the federation (origin %d, peer %d), want 1", got, a.launched(), b.launched())
			}
			// The order's bytes arriving at the peer late (after a
			// withdrawal) or again change nothing.
			if tc.fault != faultNeverSent { // what was never sent cannot arrive
				ob, _ := treaty.Encode(o)
				if _, err := b.core.SubmitForwarded(ctx, a.key.DID(), l.treaty, ob); err != nil {
					t.Fatal(err)
				}
			}
			r2, err := a.core.Submit(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if !r2.Replayed || string(r2.Bytes) != string(r.Bytes) {
				t.Errorf("resubmission: replayed=%v, same bytes=%v", r2.Replayed, string(r2.Bytes) == string(r.Bytes))
			}
			run(ctx, clk, clk.Now().Add(time.Minute), a, b)
			if got := a.launched() + b.launched(); got != 1 {
				t.Errorf("after the late arrival: launched %d times, want 1", got)
			}
		})
	}
}

// TestForwardUnresolvedThenResolved: the answer is lost and the peer cannot
// be asked: the client gets 503 with Retry-After and nothing launches; once
// the peer answers the query, the resolver commits the peer's Ack.
func TestForwardUnresolvedThenResolved(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	a := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Second, peersFirst: true})
	b := newNode(t, clk, "b", nodeOpts{gpu: "A100", latency: time.Second})
	l := pair(a, b, faultLostAfter)
	l.queryUp = false
	o := newOrder(t, key(t, "client"), "A100", clk.Now())
	_, err := a.core.Submit(ctx, o)
	var re *order.RejectError
	if !errors.As(err, &re) || re.Status != 503 || re.Code != "forward_unresolved" || re.RetryAfter <= 0 {
		t.Fatalf("first answer: %v, want 503 forward_unresolved with Retry-After", err)
	}
	if a.core.Unresolved() != 1 {
		t.Fatalf("unresolved = %d, want 1", a.core.Unresolved())
	}
	run(ctx, clk, clk.Now().Add(30*time.Second), a, b)
	if _, err := a.core.Submit(ctx, o); !errors.As(err, &re) || re.Code != "forward_unresolved" {
		t.Fatalf("resubmission while unresolved: %v", err)
	}
	if a.launched() != 0 {
		t.Fatalf("origin launched %d while the outcome is unknown", a.launched())
	}
	l.mu.Lock()
	l.queryUp = true
	l.mu.Unlock()
	run(ctx, clk, clk.Now().Add(2*time.Minute), a, b)
	if a.core.Unresolved() != 0 {
		t.Fatalf("still unresolved after the peer came back")
	}
	r, err := a.core.Submit(ctx, o)
	if err != nil || r.Ack == nil || r.Ack.Route.Kind != treaty.RoutePeer || len(r.Ack.Via) != 1 {
		t.Fatalf("after resolution: %+v %v", r, err)
	}
	if got := a.launched() + b.launched(); got != 1 {
		t.Errorf("launched %d times, want 1", got)
	}
}

// TestForwardUnresolvedSurvivesRestart: the origin crashes with an
// unresolved forward; after the restart it still asks, never launches.
func TestForwardUnresolvedSurvivesRestart(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	a := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Second, peersFirst: true})
	b := newNode(t, clk, "b", nodeOpts{gpu: "A100", latency: time.Second})
	l := pair(a, b, faultLostAfter)
	l.queryUp = false
	o := newOrder(t, key(t, "client"), "A100", clk.Now())
	if _, err := a.core.Submit(ctx, o); err == nil {
		t.Fatal("want 503")
	}
	a.restart(ctx)
	if a.core.Unresolved() != 1 {
		t.Fatalf("after restart: unresolved = %d, want 1", a.core.Unresolved())
	}
	l.queryUp = true
	run(ctx, clk, clk.Now().Add(2*time.Minute), a, b)
	if got := a.launched() + b.launched(); got != 1 || b.launched() != 1 {
		t.Errorf("launched origin %d peer %d, want only the peer once", a.launched(), b.launched())
	}
}

// TestPeerDenialMovesOn: a signed Denial from the peer frees the order for
// the local provider.
func TestPeerDenialMovesOn(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	a := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Second, peersFirst: true})
	deny := order.JudgeFunc(func(context.Context, *order.JudgeInput) (order.Verdict, error) {
		return order.Verdict{Word: 1, Reasons: []string{"nope"}}, nil
	})
	b := newNode(t, clk, "b", nodeOpts{gpu: "A100", judge: deny})
	pair(a, b, faultNone)
	r, err := a.core.Submit(ctx, newOrder(t, key(t, "client"), "A100", clk.Now()))
	if err != nil || r.Ack == nil || r.Ack.Route.Kind != treaty.RouteProvider {
		t.Fatalf("%+v %v", r, err)
	}
	run(ctx, clk, clk.Now().Add(time.Minute), a, b)
	if a.launched() != 1 || b.launched() != 0 {
		t.Errorf("launched origin %d peer %d", a.launched(), b.launched())
	}
}
