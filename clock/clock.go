// Package clock is Aurora's one time source. Every component that reads the
// time, waits or schedules work takes a Clock: the node passes System, and
// tests and the routing simulator pass a *Virtual, which only moves when
// told to, so the order core, the router and the simulator run the same
// code deterministically on virtual time.
//
// A Clock never starts a goroutine of its own for a Virtual clock: timers
// fire synchronously inside Advance, in due order (ties in the order they
// were set).
package clock

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Clock tells the time, waits, and runs functions later.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d or until ctx is done, and returns ctx.Err() in the
	// latter case.
	Sleep(ctx context.Context, d time.Duration) error
	// AfterFunc calls f once d has passed. System runs f on its own
	// goroutine (time.AfterFunc); Virtual runs it inside Advance.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not run yet and reports whether it
	// did so.
	Stop() bool
}

// System is the wall clock.
type System struct{}

var (
	_ Clock = System{}
	_ Clock = (*Virtual)(nil)
)

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Sleep waits on a timer, or until ctx is done.
func (System) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// AfterFunc is time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Or returns c, or System when c is nil: the default of every Config's
// Clock field.
func Or(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}

// Virtual is a manually driven clock. Now returns the time last reached;
// Sleep moves the clock forward by d at once (without firing timers, so a
// wait inside one step does not interleave other steps); Advance and
// AdvanceTo move it and fire every timer that falls due, in order. Safe for
// concurrent use; timers' functions run on the goroutine that advances, with
// no lock held, and may set new timers. The zero value reads as the Unix
// epoch.
type Virtual struct {
	mu     sync.Mutex // protects following
	now    int64      // unix ns
	seq    uint64
	timers timerHeap
}

// NewVirtual returns a virtual clock reading start.
func NewVirtual(start time.Time) *Virtual { return &Virtual{now: start.UnixNano()} }

// Now returns the virtual time, in UTC.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return time.Unix(0, v.now).UTC()
}

// Set moves the clock to t without firing timers. It may move backwards
// (a replay from an earlier instant); pending timers keep their due times.
func (v *Virtual) Set(t time.Time) {
	v.mu.Lock()
	v.now = t.UnixNano()
	v.mu.Unlock()
}

// Sleep advances the clock by d without firing timers. It returns ctx.Err()
// without advancing if ctx is already done.
func (v *Virtual) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		v.mu.Lock()
		v.now += int64(d)
		v.mu.Unlock()
	}
	return nil
}

// AfterFunc schedules f at Now()+d (d < 0 counts as 0).
func (v *Virtual) AfterFunc(d time.Duration, f func()) Timer {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seq++
	t := &vtimer{v: v, at: v.now + int64(max(d, 0)), seq: v.seq, f: f}
	heap.Push(&v.timers, t)
	return t
}

// Advance moves the clock forward by d, firing due timers, and returns the
// new time.
func (v *Virtual) Advance(d time.Duration) time.Time {
	return v.AdvanceTo(v.Now().Add(max(d, 0)))
}

// AdvanceTo fires, in due order, every timer due at or before t (the clock
// reads each timer's due time while it runs, or the current time if that is
// later), then moves the clock to t if it is later than now. It returns the
// clock's time afterwards.
func (v *Virtual) AdvanceTo(t time.Time) time.Time {
	target := t.UnixNano()
	for {
		v.mu.Lock()
		if len(v.timers) == 0 || v.timers[0].at > target {
			v.now = max(v.now, target)
			now := v.now
			v.mu.Unlock()
			return time.Unix(0, now).UTC()
		}
		tm := heap.Pop(&v.timers).(*vtimer)
		tm.index = -1
		v.now = max(v.now, tm.at)
		f := tm.f
		v.mu.Unlock()
		f()
	}
}

// Next returns the due time of the earliest pending timer.
func (v *Virtual) Next() (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.timers) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, v.timers[0].at).UTC(), true
}

// Pending returns the number of timers not yet fired or stopped.
func (v *Virtual) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.timers)
}

type vtimer struct {
	v     *Virtual
	at    int64
	seq   uint64
	f     func()
	index int
}

func (t *vtimer) Stop() bool {
	t.v.mu.Lock()
	defer t.v.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.v.timers, t.index)
	t.index = -1
	return true
}

type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*vtimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return t
}
