package providers

import (
	"context"
	"time"

	"github.com/aurora-federation/aurora/clock"
)

// Clock tells the time. The router, reputation and the sim provider take one
// so that tests and the routing simulator can run on virtual time. Every
// clock.Clock is one.
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

// SystemClock is the house wall clock (clock.System).
type SystemClock = clock.System

// VirtualClock is the house virtual clock (clock.Virtual): Sleep advances
// it instead of waiting.
type VirtualClock = clock.Virtual

// NewVirtualClock returns a virtual clock reading start.
func NewVirtualClock(start time.Time) *VirtualClock { return clock.NewVirtual(start) }

var (
	_ Clock   = SystemClock{}
	_ Sleeper = SystemClock{}
	_ Clock   = (*VirtualClock)(nil)
	_ Sleeper = (*VirtualClock)(nil)
)

// sleep waits through c when it is a Sleeper, else on a real timer.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if s, ok := c.(Sleeper); ok {
		return s.Sleep(ctx, d)
	}
	return clock.System{}.Sleep(ctx, d)
}
