package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/clock"
)

// RedialConfig configures the dial loops that keep treaty partners
// connected: one loop per party of a treaty we signed (active or still
// proposed). A loop dials at once when it starts and after a connection
// is lost (after a jittered wait of at most Min), then backs off
// exponentially — Min, 2·Min, 4·Min … up to Max, each wait jittered to
// between half and all of its step — until a connection to the partner
// exists, whoever dialled it. Traffic never resets the schedule or dials:
// a forward to a partner that is not connected waits for the loop (at
// most Wait) or fails at once. The zero value works.
type RedialConfig struct {
	// Min is the first backoff step. Default 500ms.
	Min time.Duration
	// Max caps the backoff step. It bounds how long after a partition
	// heals a loop may still be waiting (plus one Config.DialTimeout for a
	// dial in flight). Default 4s.
	Max time.Duration
	// Wait bounds how long a forward, query or witness request to a
	// partner that is not connected waits for its loop's connection
	// (also bounded by the request's context). When the loop's next dial
	// is later than that, the request fails at once with a
	// *PartnerDownError (inside an *UnreachableError whose Refused is
	// true), so the order core tries its next candidate. Default 2s.
	Wait time.Duration
	// Clock schedules the backoff and the waits. Default clock.System.
	Clock clock.Clock
	// Jitter returns a number in [0, 1) for each wait. Default
	// math/rand/v2.Float64.
	Jitter func() float64
}

func (c *RedialConfig) validate() error {
	if c.Min == 0 {
		c.Min = 500 * time.Millisecond
	}
	if c.Max == 0 {
		c.Max = 4 * time.Second
	}
	if c.Wait == 0 {
		c.Wait = 2 * time.Second
	}
	if c.Min < 0 || c.Max < c.Min || c.Wait < 0 {
		return fmt.Errorf("mesh: config: Redial: want 0 < Min (%s) <= Max (%s) and Wait (%s) >= 0", c.Min, c.Max, c.Wait)
	}
	c.Clock = clock.Or(c.Clock)
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	return nil
}

// backoff is the wait before the next dial after failures consecutive
// failed dials (0: after a lost connection): step Min·2^(failures-1)
// capped at Max (Min for 0), jittered by j in [0, 1) to [step/2, step).
func (c *RedialConfig) backoff(failures int, j float64) time.Duration {
	step := c.Min
	for i := 1; i < failures && step < c.Max; i++ {
		step *= 2
	}
	step = min(step, c.Max)
	return step/2 + time.Duration(j*float64(step/2))
}

// PartnerDownError is a request to a treaty partner that is not connected
// and whose dial loop will not dial again within the request's wait.
type PartnerDownError struct {
	ID peer.ID
	// Failures counts the loop's failed dials since the last connection.
	Failures int
	// Next is when the loop dials again (zero: a dial is in flight).
	Next time.Time
	// Last is the last dial's error.
	Last error
}

func (e *PartnerDownError) Error() string {
	next := "a dial is in flight"
	if !e.Next.IsZero() {
		next = "next dial at " + e.Next.UTC().Format(time.RFC3339Nano)
	}
	if e.Failures == 0 || e.Last == nil {
		return fmt.Sprintf("mesh: treaty partner %s not connected: the connection was lost; %s", e.ID, next)
	}
	return fmt.Sprintf("mesh: treaty partner %s not connected: %d dials failed since the last connection (last: %v); %s", e.ID, e.Failures, e.Last, next)
}

func (e *PartnerDownError) Unwrap() error { return e.Last }

// redialer runs the partner dial loops. Its methods are safe for
// concurrent use.
type redialer struct {
	cfg       RedialConfig
	timeout   time.Duration                              // one dial
	dial      func(ctx context.Context, p peer.ID) error // one attempt
	connected func(p peer.ID) bool
	log       *slog.Logger

	ctx context.Context // the mesh's lifetime
	wg  sync.WaitGroup

	mu    sync.Mutex // protects loops
	loops map[peer.ID]*partnerLoop
}

func newRedialer(ctx context.Context, cfg RedialConfig, timeout time.Duration, dial func(context.Context, peer.ID) error, connected func(peer.ID) bool, log *slog.Logger) *redialer {
	return &redialer{cfg: cfg, timeout: timeout, dial: dial, connected: connected, log: log, ctx: ctx, loops: map[peer.ID]*partnerLoop{}}
}

// partnerLoop is one partner's loop and what requests wait on.
type partnerLoop struct {
	id     peer.ID
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: the partner's connectedness changed

	mu       sync.Mutex    // protects following
	changed  chan struct{} // closed and replaced when isUp or next changes
	isUp     bool
	failures int
	next     time.Time // zero while connected or dialling
	last     error
}

// set starts loops for the peers in want that have none and stops the
// loops of peers no longer in it.
func (r *redialer) set(want map[peer.ID]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	for id, l := range r.loops {
		if !want[id] {
			l.cancel()
			delete(r.loops, id)
		}
	}
	for id := range want {
		if r.loops[id] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(r.ctx)
		l := &partnerLoop{id: id, cancel: cancel, wake: make(chan struct{}, 1), changed: make(chan struct{})}
		r.loops[id] = l
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.run(ctx, l)
		}()
	}
}

// notify tells p's loop, if any, that its connectedness changed.
func (r *redialer) notify(p peer.ID) {
	r.mu.Lock()
	l := r.loops[p]
	r.mu.Unlock()
	if l == nil {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// wait stops every loop and waits for them (the mesh's context must be
// cancelled first).
func (r *redialer) wait() { r.wg.Wait() }

func (r *redialer) loop(p peer.ID) *partnerLoop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loops[p]
}

func (r *redialer) run(ctx context.Context, l *partnerLoop) {
	lost := false // a connection was lost: wait up to Min before dialling
	for {
		if r.connected(l.id) {
			l.markUp()
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
			}
			lost = !r.connected(l.id)
			continue
		}
		l.markDown()
		if lost {
			lost = false
			if !r.sleep(ctx, l, r.cfg.backoff(0, r.cfg.Jitter())) {
				return
			}
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := r.dial(dctx, l.id)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil && r.connected(l.id) {
			continue
		}
		if err == nil {
			err = fmt.Errorf("mesh: the connection to %s closed at once", l.id)
		}
		l.mu.Lock()
		l.failures++
		failures := l.failures
		l.last = err
		l.mu.Unlock()
		r.log.Debug("partner dial failed", "peer", l.id, "failures", failures, "err", err)
		if !r.sleep(ctx, l, r.cfg.backoff(failures, r.cfg.Jitter())) {
			return
		}
	}
}

// sleep waits d on the clock, ending early when the partner connects
// (whoever dialled); false when ctx ends.
func (r *redialer) sleep(ctx context.Context, l *partnerLoop, d time.Duration) bool {
	fire := make(chan struct{})
	l.mu.Lock()
	l.next = r.cfg.Clock.Now().Add(d)
	l.changedLocked()
	l.mu.Unlock()
	t := r.cfg.Clock.AfterFunc(d, func() { close(fire) })
	defer func() {
		t.Stop()
		l.mu.Lock()
		l.next = time.Time{}
		l.changedLocked()
		l.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-fire:
			return true
		case <-l.wake:
			if r.connected(l.id) {
				return true
			}
		}
	}
}

func (l *partnerLoop) markUp() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures, l.next, l.last = 0, time.Time{}, nil
	if !l.isUp {
		l.isUp = true
		l.changedLocked()
	}
}

func (l *partnerLoop) markDown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isUp {
		l.isUp = false
		l.changedLocked()
	}
}

// changedLocked wakes the requests waiting for the loop's state.
func (l *partnerLoop) changedLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// downLocked describes the loop to a request it fails.
func (l *partnerLoop) downLocked() *PartnerDownError {
	return &PartnerDownError{ID: l.id, Failures: l.failures, Next: l.next, Last: l.last}
}

// await waits until p is connected, for at most cfg.Wait and ctx. It
// returns nil at once when p is connected or has no loop (not a
// partner: the caller dials as for anyone), and a *PartnerDownError
// without waiting when the loop's next dial is beyond the wait.
func (r *redialer) await(ctx context.Context, p peer.ID) error {
	l := r.loop(p)
	if l == nil {
		return nil
	}
	now := r.cfg.Clock.Now()
	until := now.Add(r.cfg.Wait)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	expired := make(chan struct{})
	t := r.cfg.Clock.AfterFunc(until.Sub(now), func() { close(expired) })
	defer t.Stop()
	for {
		// The loop's state changes after the connection's: a request may
		// see a connection gone that the loop has not noticed yet.
		l.mu.Lock()
		changed, down := l.changed, l.downLocked()
		l.mu.Unlock()
		if r.connected(p) {
			return nil
		}
		if !down.Next.IsZero() && down.Next.After(until) {
			return down
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("mesh: waiting for treaty partner %s: %w", p, ctx.Err())
		case <-expired:
			if r.connected(p) {
				return nil
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.downLocked()
		}
	}
}
