package mesh

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/clock"
)

func TestRedialBackoffSteps(t *testing.T) {
	cfg := RedialConfig{Min: 500 * time.Millisecond, Max: 4 * time.Second}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		failures int
		j        float64
		want     time.Duration
	}{
		{"after a lost connection, no jitter", 0, 0, 250 * time.Millisecond},
		{"after a lost connection, most jitter", 0, 0.999, 499750 * time.Microsecond},
		{"first failure", 1, 0, 250 * time.Millisecond},
		{"second failure doubles", 2, 0, 500 * time.Millisecond},
		{"third failure", 3, 0.5, 1500 * time.Millisecond},
		{"fourth failure reaches Max", 4, 0, 2 * time.Second},
		{"fifth failure is capped", 5, 0, 2 * time.Second},
		{"failure 1000 is capped", 1000, 0.999, 3998 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cfg.backoff(tc.failures, tc.j); got != tc.want {
				t.Errorf("backoff(%d, %v) = %s, want %s", tc.failures, tc.j, got, tc.want)
			}
		})
	}
}

func TestRedialConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     RedialConfig
		wantErr bool
	}{
		{"zero value", RedialConfig{}, false},
		{"Max under Min", RedialConfig{Min: time.Second, Max: time.Millisecond}, true},
		{"negative Min", RedialConfig{Min: -time.Second, Max: time.Second}, true},
		{"negative Wait", RedialConfig{Wait: -time.Second}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.validate(); (err != nil) != tc.wantErr {
				t.Errorf("validate() = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

// fakePartner is a dial target on a virtual clock: dials fail unless up,
// and each is recorded at its virtual time.
type fakePartner struct {
	clk *clock.Virtual

	mu    sync.Mutex // protects following
	up    bool
	dials []time.Time
	dialC chan struct{}
}

func (f *fakePartner) dial(ctx context.Context, _ peer.ID) error {
	f.mu.Lock()
	f.dials = append(f.dials, f.clk.Now())
	up := f.up
	f.mu.Unlock()
	f.dialC <- struct{}{}
	if up {
		return nil
	}
	return errors.New("connection refused")
}

func (f *fakePartner) connected(peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up
}

func (f *fakePartner) set(up bool) {
	f.mu.Lock()
	f.up = up
	f.mu.Unlock()
}

// parked waits until the loop waits on the virtual clock and returns when
// it will wake.
func parked(t *testing.T, clk *clock.Virtual) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for clk.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the loop never waited on the clock")
		}
		time.Sleep(time.Millisecond)
	}
	next, _ := clk.Next()
	return next
}

func newTestRedialer(t *testing.T, clk *clock.Virtual, f *fakePartner, jitter float64) *redialer {
	t.Helper()
	cfg := RedialConfig{Min: time.Second, Max: 8 * time.Second, Wait: 2 * time.Second, Clock: clk, Jitter: func() float64 { return jitter }}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := newRedialer(ctx, cfg, time.Second, f.dial, f.connected, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { cancel(); r.wait() })
	return r
}

// TestRedialSchedule: a loop dials at once, then after 1, 2, 4, 8, 8 s
// (jitter 0.5: three quarters of each step); requests neither dial nor
// move the schedule; a connection the partner makes resets it, and after
// that connection is lost the loop waits under Min before dialling again.
func TestRedialSchedule(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clk := clock.NewVirtual(start)
	f := &fakePartner{clk: clk, dialC: make(chan struct{}, 16)}
	r := newTestRedialer(t, clk, f, 0.5)
	p := peer.ID("partner")
	r.set(map[peer.ID]bool{p: true})
	<-f.dialC
	steps := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 6 * time.Second}
	at := start
	for i, step := range steps {
		next := parked(t, clk)
		at = at.Add(step)
		if !next.Equal(at) {
			t.Fatalf("dial %d scheduled at +%s, want +%s", i+2, next.Sub(start), at.Sub(start))
		}
		if i == 2 {
			// Traffic during the backoff: a request fails at once (the
			// next dial is beyond its wait) and dials nothing.
			err := r.await(t.Context(), p)
			var down *PartnerDownError
			if !errors.As(err, &down) || down.Failures != 3 || !down.Next.Equal(at) {
				t.Fatalf("await during backoff = %v, want a PartnerDownError after 3 failures, next at +%s", err, at.Sub(start))
			}
			if next2, _ := clk.Next(); !next2.Equal(at) {
				t.Fatalf("a request moved the next dial to +%s", next2.Sub(start))
			}
		}
		clk.AdvanceTo(next)
		<-f.dialC
	}
	f.mu.Lock()
	if len(f.dials) != len(steps)+1 {
		t.Errorf("%d dials, want %d", len(f.dials), len(steps)+1)
	}
	f.mu.Unlock()

	// The partner dials us during the backoff: the loop wakes, does not
	// dial, and forgets its failures.
	parked(t, clk)
	f.set(true)
	r.notify(p)
	waitUntil(t, "the loop to see the connection", func() bool {
		l := r.loop(p)
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.isUp && l.failures == 0
	})
	if err := r.await(t.Context(), p); err != nil {
		t.Fatalf("await while connected = %v", err)
	}

	// The connection is lost: the first redial comes after a wait under
	// Min, and a failure then backs off from the first step again.
	f.set(false)
	lost := clk.Now()
	r.notify(p)
	next := parked(t, clk)
	if d := next.Sub(lost); d != 750*time.Millisecond {
		t.Fatalf("redial after a lost connection at +%s, want +750ms", d)
	}
	clk.AdvanceTo(next)
	<-f.dialC
	next = parked(t, clk)
	if d := next.Sub(clk.Now()); d != 750*time.Millisecond {
		t.Errorf("after the first failure since the connection, the wait is %s, want 750ms (the schedule restarted)", d)
	}
}

// TestRedialAwait: a request waits for the loop's connection when the next
// dial is within its wait, and gets a PartnerDownError when the wait ends
// first; a peer without a loop is not waited for.
func TestRedialAwait(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clk := clock.NewVirtual(start)
	f := &fakePartner{clk: clk, dialC: make(chan struct{}, 16)}
	r := newTestRedialer(t, clk, f, 0)
	p := peer.ID("partner")
	if err := r.await(t.Context(), p); err != nil {
		t.Fatalf("await for a peer without a loop = %v, want nil", err)
	}
	r.set(map[peer.ID]bool{p: true})
	<-f.dialC
	next := parked(t, clk) // +500ms: within the 2 s wait
	var got atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.await(t.Context(), p); err != nil {
			got.Store(err)
		}
	}()
	waitUntil(t, "the request to wait", func() bool { return clk.Pending() == 2 })
	// The partner comes up; the loop's wait ends and it finds the
	// connection.
	f.set(true)
	clk.AdvanceTo(next)
	<-done
	if err, _ := got.Load().(error); err != nil {
		t.Fatalf("await across a successful dial = %v", err)
	}

	// Down again; the wait (2 s) ends before the loop connects.
	f.set(false)
	r.notify(p)
	parked(t, clk)
	errc := make(chan error, 1)
	go func() { errc <- r.await(t.Context(), p) }()
	waitUntil(t, "the request to wait", func() bool { return clk.Pending() == 2 })
	clk.Advance(2 * time.Second)
	<-f.dialC // the redial after the loss, failing
	err := <-errc
	var down *PartnerDownError
	if !errors.As(err, &down) {
		t.Fatalf("await past its wait = %v, want a PartnerDownError", err)
	}
	t.Logf("the request's error: %v", err)

	// A request's context bounds the wait too.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.await(ctx, p); !errors.Is(err, context.Canceled) {
		t.Errorf("await with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestRedialSet: loops start and stop with the set of partners.
func TestRedialSet(t *testing.T) {
	clk := clock.NewVirtual(time.Unix(1_700_000_000, 0))
	f := &fakePartner{clk: clk, dialC: make(chan struct{}, 16)}
	r := newTestRedialer(t, clk, f, 0)
	a, b := peer.ID("a"), peer.ID("b")
	r.set(map[peer.ID]bool{a: true, b: true})
	<-f.dialC
	<-f.dialC
	r.set(map[peer.ID]bool{b: true})
	if r.loop(a) != nil || r.loop(b) == nil {
		t.Fatalf("after removing a: loops a=%v b=%v, want only b", r.loop(a) != nil, r.loop(b) != nil)
	}
	if err := r.await(t.Context(), a); err != nil {
		t.Errorf("await for a removed partner = %v, want nil (no loop)", err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
