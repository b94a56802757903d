package policy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The watchdog enforces per-call deadlines without a context.WithTimeout per
// call (a timer and several allocations, about 0.7 µs here). Each instance
// owns a killCtx that wazero watches for the whole call (the runtime has
// WithCloseOnContextDone); a single goroutine scans the instances in a call
// and kills those past their deadline, which makes wazero close the module
// at its next termination check. A killed instance is discarded, so a
// killCtx fires at most once in its life.
type watchdog struct {
	epoch time.Time
	tick  time.Duration
	busy  atomic.Int64 // calls in flight
	sleep atomic.Bool  // the loop is parked waiting for wake
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}

	mu    sync.Mutex // protects following
	slots map[*slot]struct{}
}

// slot is the watchdog's view of one instance.
type slot struct {
	ctx      *killCtx
	deadline atomic.Int64 // ns since epoch; 0 when idle
	w        *watchdog
}

// tickFor picks the scan period for a deadline: a kill lands within about
// one tick after the deadline.
func tickFor(d time.Duration) time.Duration {
	return min(max(d/10, time.Millisecond), 10*time.Millisecond)
}

func newWatchdog(tick time.Duration) *watchdog {
	w := &watchdog{
		epoch: time.Now(),
		tick:  tick,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		slots: map[*slot]struct{}{},
	}
	go w.run()
	return w
}

func (w *watchdog) now() int64 { return int64(time.Since(w.epoch)) }

func (w *watchdog) register() *slot {
	s := &slot{ctx: newKillCtx(), w: w}
	w.mu.Lock()
	w.slots[s] = struct{}{}
	w.mu.Unlock()
	return s
}

func (s *slot) release() {
	s.w.mu.Lock()
	delete(s.w.slots, s)
	s.w.mu.Unlock()
}

// deadlineFor returns the absolute deadline of a call starting now: d from
// now, or ctx's deadline when that is earlier.
func (w *watchdog) deadlineFor(ctx context.Context, d time.Duration) int64 {
	dl := w.now() + int64(d)
	if t, ok := ctx.Deadline(); ok {
		if c := int64(t.Sub(w.epoch)); c < dl {
			dl = c
		}
	}
	return dl
}

func (w *watchdog) begin(s *slot, deadline int64) {
	s.deadline.Store(deadline)
	if w.busy.Add(1) == 1 && w.sleep.Load() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *watchdog) end(s *slot) {
	s.deadline.Store(0)
	w.busy.Add(-1)
}

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		if w.busy.Load() == 0 {
			// Park until a call begins, so an idle node does not tick.
			w.sleep.Store(true)
			if w.busy.Load() == 0 {
				t.Stop()
				select {
				case <-w.stop:
					return
				case <-w.wake:
				}
				t.Reset(w.tick)
			}
			w.sleep.Store(false)
			continue
		}
		now := w.now()
		w.mu.Lock()
		for s := range w.slots {
			if d := s.deadline.Load(); d != 0 && now >= d {
				s.ctx.kill()
			}
		}
		w.mu.Unlock()
	}
}

func (w *watchdog) close() {
	close(w.stop)
	<-w.done
}

// killCtx is a context that is done once killed and never otherwise. It is
// the context of every call on its instance.
type killCtx struct {
	once   sync.Once
	killed atomic.Bool
	done   chan struct{}
}

func newKillCtx() *killCtx { return &killCtx{done: make(chan struct{})} }

func (k *killCtx) kill() {
	k.once.Do(func() {
		k.killed.Store(true)
		close(k.done)
	})
}

func (k *killCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (k *killCtx) Done() <-chan struct{}       { return k.done }
func (k *killCtx) Value(any) any               { return nil }

func (k *killCtx) Err() error {
	if k.killed.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

var _ context.Context = (*killCtx)(nil)
