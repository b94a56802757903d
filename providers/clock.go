package providers

import (
	"context"
	"sync/atomic"
	"time"
)

// Clock tells the time. The router, reputation and the sim provider take one
// so that tests and the routing simulator can run on virtual time.
type Clock interface {
	Now() time.Time
}

// Sleeper is the optional capability of a Clock that can wait. Components
// that back off (the router on 429) wait through it when their Clock
// implements it, and on a real timer otherwise.
type Sleeper interface {
	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the latter case.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the wall clock; its Sleep waits on a real timer.
type SystemClock struct{}

var (
	_ Clock   = SystemClock{}
	_ Sleeper = SystemClock{}
	_ Clock   = (*VirtualClock)(nil)
	_ Sleeper = (*VirtualClock)(nil)
)

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d on a timer, or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	return sleepTimer(ctx, d)
}

func sleepTimer(ctx context.Context, d time.Duration) error {
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

// sleep waits through c when it is a Sleeper, else on a real timer.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if s, ok := c.(Sleeper); ok {
		return s.Sleep(ctx, d)
	}
	return sleepTimer(ctx, d)
}

// VirtualClock is a manually driven clock for simulations and tests: Now
// returns the time last set, and Sleep advances the clock by d instead of
// waiting. It has nanosecond resolution and is safe for concurrent use.
// The zero value reads as the Unix epoch.
type VirtualClock struct {
	ns atomic.Int64 // unix nanoseconds
}

// NewVirtualClock returns a virtual clock reading start.
func NewVirtualClock(start time.Time) *VirtualClock {
	c := new(VirtualClock)
	c.Set(start)
	return c
}

// Now returns the virtual time, in UTC.
func (c *VirtualClock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t. It may move backwards: the routing simulator
// replays each order from its own arrival instant.
func (c *VirtualClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock forward by d (d < 0 is ignored) and returns the
// new time.
func (c *VirtualClock) Advance(d time.Duration) time.Time {
	if d < 0 {
		d = 0
	}
	return time.Unix(0, c.ns.Add(int64(d))).UTC()
}

// Sleep advances the clock by d without waiting. It returns ctx.Err() without
// advancing if ctx is already done.
func (c *VirtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
