package order

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

type stepKind uint8

const (
	stepLaunch  stepKind = iota + 1 // launch down the remaining chain
	stepPoll                        // poll a launched lease's status
	stepResolve                     // ask a peer for an unresolved forward
)

// step is one unit of launch work: one provider call (or one query). A job
// between calls waits on a clock timer, not on a worker.
type step struct {
	kind     stepKind
	job      *Job
	order    *treaty.Order
	plan     []providers.Candidate // remaining local candidates
	lease    providers.Lease
	cand     providers.Candidate
	acked    time.Time
	launched time.Time
	deadline time.Time // the current lease's: MaxLaunchWait after its launch, at most the order's expiry
	wait     time.Duration
	errs     int // consecutive status errors
	attempts []treaty.Transition

	ocid  cid.Cid // stepResolve
	tries int

	// mu is held by the step whenever it decides on the job (between
	// provider calls, never across one) and by Cancel: a job is canceled
	// either before a decision (the step drops it) or after (Cancel sees
	// the lease), never between.
	mu       sync.Mutex
	canceled bool // protected by mu: Cancel recorded the job canceled
	done     bool // protected by mu: settled or canceled, no longer tracked
}

// fifo is the queue of ready steps. Every step belongs to a job that holds
// a launch slot or to a tracked forward, so its length is bounded by
// Config.Slots + Config.MaxUnresolved.
type fifo struct {
	mu     sync.Mutex // protects following
	items  []*step
	head   int
	closed bool
	signal chan struct{}
}

func newFIFO() fifo { return fifo{signal: make(chan struct{}, 1)} }

func (q *fifo) push(s *step) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, s)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return true
}

func (q *fifo) tryPop() (*step, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.head == len(q.items) {
		return nil, false
	}
	s := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	if q.head < len(q.items) {
		select { // wake another worker for the rest
		case q.signal <- struct{}{}:
		default:
		}
	}
	return s, true
}

func (q *fifo) pop(ctx context.Context) (*step, bool) {
	for {
		if s, ok := q.tryPop(); ok {
			return s, true
		}
		q.mu.Lock()
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-q.signal:
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (q *fifo) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *fifo) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

func (c *Core) enqueue(s *step) { c.work.push(s) }

// later queues s after d on the clock.
func (c *Core) later(s *step, d time.Duration) {
	c.cfg.Clock.AfterFunc(d, func() { c.enqueue(s) })
}

// Work runs one ready step, waiting for one until ctx is done or the core
// is closed (then it returns false). The node calls it in a loop from
// launch.workers goroutines; a step makes at most one provider call.
func (c *Core) Work(ctx context.Context) bool {
	s, ok := c.work.pop(ctx)
	if !ok {
		return false
	}
	c.run(ctx, s)
	return true
}

// Drain runs ready steps on the calling goroutine until none is left (steps
// waiting on timers are not ready) and returns how many ran: the
// simulator's and tests' way of driving the core on a virtual clock.
func (c *Core) Drain(ctx context.Context) int {
	n := 0
	for c.Step(ctx) {
		n++
	}
	return n
}

// Step runs one ready step on the calling goroutine and reports whether
// there was one.
func (c *Core) Step(ctx context.Context) bool {
	s, ok := c.work.tryPop()
	if !ok {
		return false
	}
	c.run(ctx, s)
	return true
}

// Ready returns the number of steps waiting for a worker.
func (c *Core) Ready() int { return c.work.len() }

func (c *Core) run(ctx context.Context, s *step) {
	switch s.kind {
	case stepLaunch:
		c.launch(ctx, s)
	case stepPoll:
		c.poll(ctx, s)
	case stepResolve:
		c.resolve(ctx, s)
	}
}

// spec is the launch spec of s's order, its sealed secrets opened (see
// openSecrets): the one place their values exist in clear.
func (c *Core) spec(s *step) (providers.LaunchSpec, error) {
	spec := providers.LaunchSpec{JobID: s.job.Record.Job, IdempotencyKey: s.job.Key, Workload: s.order.Workload,
		MaxPricePerHour: providers.Money(s.order.Constraints.MaxPricePerHour)}
	var err error
	spec.SecretEnv, err = c.openSecrets(s.order)
	return spec, err
}

func (c *Core) onAttempt(s *step) func(providers.Attempt) {
	return func(a providers.Attempt) {
		c.attempted(s, a.Candidate.Name, a.Err)
		c.m.LaunchDuration.WithLabelValues(a.Candidate.Name).Observe(a.Latency.Seconds())
	}
}

// attempted counts one attempt and keeps failures as launching transitions.
func (c *Core) attempted(s *step, provider string, err error) {
	res := "ok"
	switch {
	case err == nil:
	case errors.Is(err, providers.ErrRateLimited):
		res = "rate_limited"
	case errors.Is(err, providers.ErrNoCapacity):
		res = "no_capacity"
	case errors.Is(err, errNotRunning):
		res = "not_running"
	default:
		res = "failed"
	}
	c.m.Launches.WithLabelValues(provider, res).Inc()
	if err != nil && len(s.attempts) < treaty.MaxTransitions-3 {
		s.attempts = append(s.attempts, treaty.Transition{Status: treaty.StatusLaunching, At: c.cfg.Clock.Now().Unix(),
			Detail: truncate(provider+": "+err.Error(), treaty.MaxDetailLen)})
	}
}

// errNotRunning marks a lease that was accepted and then did not run.
var errNotRunning = errors.New("lease did not reach running")

func (c *Core) launch(ctx context.Context, s *step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.canceled {
		return
	}
	if now := c.cfg.Clock.Now(); !now.Before(time.Unix(s.order.Expires, 0)) {
		c.settle(ctx, s, fmt.Errorf("order: the order expired at %s before a lease ran", time.Unix(s.order.Expires, 0).UTC().Format(time.RFC3339)))
		return
	}
	spec, err := c.spec(s)
	if err != nil {
		c.settle(ctx, s, err)
		return
	}
	s.mu.Unlock()
	l, cand, err := c.cfg.Router.Launch(ctx, providers.Plan{Candidates: s.plan}, spec, c.onAttempt(s))
	s.mu.Lock()
	if s.canceled {
		// Canceled while the launch was in flight: Cancel could not see
		// this lease, so it is ended here.
		if err == nil {
			c.terminate(ctx, cand.Name, l.ID, "canceled during launch")
		}
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the job stays accepted and resumes at the next start
	}
	if err != nil {
		c.settle(ctx, s, err)
		return
	}
	s.lease, s.cand = l, cand
	s.launched = c.cfg.Clock.Now()
	if l.State == providers.StateRunning || c.cfg.Providers[cand.Name] == nil {
		c.settle(ctx, s, nil)
		return
	}
	s.deadline = c.deadline(s.order, s.launched)
	s.kind, s.wait, s.errs = stepPoll, c.cfg.PollMin, 0
	c.later(s, s.wait)
}

// maxStatusErrors is how many status polls in a row may fail before the
// lease is given up.
const maxStatusErrors = 3

func (c *Core) poll(ctx context.Context, s *step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.canceled {
		return // Cancel terminated the lease
	}
	name := s.cand.Name
	s.mu.Unlock()
	st, err := c.cfg.Providers[name].Status(ctx, s.lease.ID)
	s.mu.Lock()
	if s.canceled || ctx.Err() != nil {
		return
	}
	now := c.cfg.Clock.Now()
	switch {
	case err == nil && st.State == providers.StateRunning:
		if rep := c.cfg.Reputation; rep != nil {
			rep.Observe(name, true, now.Sub(s.launched))
		}
		s.lease.State = st.State
		c.settle(ctx, s, nil)
		return
	case err == nil && st.State.Terminal():
		c.fallback(ctx, s, fmt.Errorf("%w: %s lease %s: %s %s", errNotRunning, name, s.lease.ID, st.State, st.Message))
		return
	case err != nil && !errors.Is(err, providers.ErrRateLimited):
		if s.errs++; s.errs >= maxStatusErrors {
			c.fallback(ctx, s, fmt.Errorf("%w: %s lease %s: status: %w", errNotRunning, name, s.lease.ID, err))
			return
		}
	default:
		s.errs = 0
	}
	if now.After(s.deadline) {
		c.fallback(ctx, s, fmt.Errorf("%w: %s lease %s: not running by the order's deadline", errNotRunning, name, s.lease.ID))
		return
	}
	s.wait = min(s.wait*2, c.cfg.PollMax)
	c.later(s, min(s.wait, max(s.deadline.Sub(now), 0)+time.Millisecond))
}

// fallback gives up a lease that did not run: it is terminated, counted as
// a failure of its provider, and the chain goes on after it.
func (c *Core) fallback(ctx context.Context, s *step, why error) {
	name := s.cand.Name
	c.attempted(s, name, why)
	if rep := c.cfg.Reputation; rep != nil {
		rep.Observe(name, false, c.cfg.Clock.Now().Sub(s.launched))
	}
	c.terminate(ctx, name, s.lease.ID, "failed lease")
	s.kind = stepLaunch // the lease is gone: Cancel has none to end
	i := 0
	for i < len(s.plan) && (s.plan[i].Name != name || s.plan[i].Offer.ID != s.cand.Offer.ID) {
		i++
	}
	if i+1 >= len(s.plan) {
		c.settle(ctx, s, fmt.Errorf("order: fallback chain exhausted: %w", why))
		return
	}
	s.plan = s.plan[i+1:]
	s.kind = stepLaunch
	c.enqueue(s)
}

// terminate ends a lease, logging (not returning) a failure: for leases
// the job no longer wants.
func (c *Core) terminate(ctx context.Context, provider, lease, why string) {
	prov := c.cfg.Providers[provider]
	if prov == nil {
		return
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := prov.Terminate(tctx, lease); err != nil && !errors.Is(err, providers.ErrNotFound) {
		c.log.Warn("terminate lease", "provider", provider, "lease", lease, "why", why, "err", err)
	}
}

// settle records a job's end of launching: running (err nil) or failed.
// The caller holds s.mu.
func (c *Core) settle(ctx context.Context, s *step, err error) {
	now := c.cfg.Clock.Now()
	job := s.job
	rec := &job.Record
	rec.Transitions = append(rec.Transitions, s.attempts...)
	s.attempts = nil
	if err != nil {
		rec.Transitions = append(rec.Transitions, treaty.Transition{Status: treaty.StatusFailed, At: now.Unix(), Detail: truncate(err.Error(), treaty.MaxDetailLen)})
	} else {
		rec.Lease = truncate(s.cand.Name+"/"+s.lease.ID, 256)
		rec.Transitions = append(rec.Transitions, treaty.Transition{Status: treaty.StatusRunning, At: now.Unix(), Detail: s.cand.Name})
		rec.Route = treaty.Route{Kind: treaty.RouteProvider, Name: s.cand.Name}
		rec.Price = int64(s.lease.PricePerHour)
	}
	leaf, lerr := leafOf(rec)
	if lerr == nil {
		lerr = c.commit(ctx, &write{job: job, leaf: leaf})
	}
	if lerr != nil {
		c.log.Error("persist job transition", "job", rec.Job, "err", lerr)
	} else {
		c.changed(job)
	}
	// Untracked only once committed: a Cancel that finds no launch step
	// reads the settled job from the ledger.
	s.done = true
	c.untrackJob(s)
	c.quotas.Done(job.Lane)
	c.releaseSlot()
	c.m.InflightJobs.Dec()
	if err == nil {
		c.m.JobsFilled.Inc()
		c.m.FillDuration.Observe(now.Sub(s.acked).Seconds())
	} else {
		c.m.JobsFailed.Inc()
	}
	if c.cfg.OnSettled != nil {
		c.cfg.OnSettled(job)
	}
}

// Resume picks up what an earlier run left: jobs accepted and not settled
// are relaunched (their launches carry the same idempotency keys, so an
// adapter finds a workload that did start instead of starting another),
// and unresolved forwards are asked for again. It returns the number of
// each.
func (c *Core) Resume(ctx context.Context) (jobs, forwards int, err error) {
	var todo []*Job
	err = c.ledger.List(ctx, 0, 0, func(j *Job) bool {
		if !j.Settled() {
			todo = append(todo, j)
		}
		return true
	})
	if err != nil {
		return 0, 0, err
	}
	now := c.cfg.Clock.Now()
	for _, j := range todo {
		var o treaty.Order
		if err := treaty.Decode(j.Order, &o); err != nil {
			return 0, 0, fmt.Errorf("order: resume %s: %w", j.Record.Job, err)
		}
		c.quotas.Restore(j.Lane, 1)
		c.m.SlotsUsed.Set(float64(c.slots.Add(1))) // held jobs may exceed Slots after a restart
		c.m.InflightJobs.Inc()
		law := c.cfg.Law
		var plan providers.Plan
		if err := c.cfg.Router.PlanInto(ctx, &plan, &o, law, nil); err != nil {
			plan = providers.Plan{}
		}
		c.startJob(&step{kind: stepLaunch, job: j, order: &o, plan: localOnly(plan.Candidates), acked: now})
	}
	err = c.ledger.pendingAll(ctx, func(ocid cid.Cid, p *pending) {
		c.track(ocid, p, 0)
		forwards++
	})
	return len(todo), forwards, err
}
