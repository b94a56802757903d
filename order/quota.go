package order

import (
	"sync"
	"time"
)

// Limits are quota limits; zero means unlimited.
type Limits struct {
	MaxInflight    int64
	OrdersPerMin   int64
	GPUHoursPerDay int64
}

// Usage is a quota key's current consumption, the host-computed facts the
// policy judges.
type Usage struct {
	Inflight          int64
	OrdersLastMinute  int64
	GPUHoursUsedToday int64
}

// Quotas tracks in-flight jobs, order rate and GPU-hours per key: a lane
// ("lane/<canonical treaty CID>/<from DID>", one key for every alias of the
// treaty) or one of the node's own clients ("client/<DID>"). A key is
// locked while an order is judged, so the check and the reservation are one
// atomic step. Keys with nothing in flight and no usage left in their
// windows are dropped, so one-off clients cost nothing for long.
//
// In-flight counts are rebuilt from the ledger at start-up; the rate and
// GPU-hour windows are in memory and start empty after a restart.
type Quotas struct {
	mu    sync.Mutex // protects keys, calls
	keys  map[string]*quota
	calls int
}

type quota struct {
	mu       sync.Mutex // held by the caller of Lock across judge+reserve
	inflight int64
	// Per-second order counts for the last 60 s, indexed by unix second % 60.
	sec      [60]int64
	secStamp [60]int64
	last     int64 // unix second of the last reservation
	day      int64 // unix day of gpuHours
	gpuHours int64
	users    int // callers holding or waiting for mu
}

// sweepEvery is how many Lock calls pass between sweeps of idle keys.
const sweepEvery = 4096

// NewQuotas returns an empty tracker.
func NewQuotas() *Quotas { return &Quotas{keys: map[string]*quota{}} }

// acquire finds or creates key's entry and marks it in use; sweep > 0 is
// the unix second at which idle keys may be swept.
func (q *Quotas) acquire(key string, sweep int64) *quota {
	q.mu.Lock()
	defer q.mu.Unlock()
	if sweep > 0 {
		if q.calls++; q.calls%sweepEvery == 0 {
			q.sweepLocked(sweep)
		}
	}
	u := q.keys[key]
	if u == nil {
		u = &quota{}
		q.keys[key] = u
	}
	u.users++
	return u
}

func (q *Quotas) release(u *quota) {
	q.mu.Lock()
	u.users--
	q.mu.Unlock()
}

// sweepLocked drops keys no one holds that have nothing in flight, no
// order in the last minute and no GPU-hours counted today.
func (q *Quotas) sweepLocked(s int64) {
	for k, u := range q.keys {
		if u.users == 0 && u.inflight == 0 && s-u.last >= 60 && (u.gpuHours == 0 || u.day != s/86400) {
			delete(q.keys, k)
		}
	}
}

// Len returns the number of keys tracked.
func (q *Quotas) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.keys)
}

// QuotaLease is a locked quota key. Call Reserve (after an allow) and then
// Unlock, or just Unlock.
type QuotaLease struct {
	q   *Quotas
	u   *quota
	now time.Time
}

// Lock locks key and returns its usage at now.
func (q *Quotas) Lock(key string, now time.Time) (*QuotaLease, Usage) {
	u := q.acquire(key, now.Unix())
	u.mu.Lock()
	return &QuotaLease{q: q, u: u, now: now}, u.usageLocked(now)
}

func (u *quota) usageLocked(now time.Time) Usage {
	s := now.Unix()
	var n int64
	for i := range u.sec {
		if s-u.secStamp[i] < 60 {
			n += u.sec[i]
		}
	}
	g := u.gpuHours
	if u.day != s/86400 {
		g = 0
	}
	return Usage{Inflight: u.inflight, OrdersLastMinute: n, GPUHoursUsedToday: g}
}

// Reserve counts one order of gpuHours against the key.
func (l *QuotaLease) Reserve(gpuHours int64) {
	u, s := l.u, l.now.Unix()
	u.inflight++
	u.last = s
	i := s % 60
	if u.secStamp[i] != s {
		u.secStamp[i], u.sec[i] = s, 0
	}
	u.sec[i]++
	if d := s / 86400; u.day != d {
		u.day, u.gpuHours = d, 0
	}
	u.gpuHours += gpuHours
}

// Unlock releases the key.
func (l *QuotaLease) Unlock() {
	l.u.mu.Unlock()
	l.q.release(l.u)
}

// Done marks one in-flight job of key as settled.
func (q *Quotas) Done(key string) {
	u := q.acquire(key, 0)
	u.mu.Lock()
	if u.inflight > 0 {
		u.inflight--
	}
	u.mu.Unlock()
	q.release(u)
}

// Restore adds in-flight jobs to a key (start-up, from the ledger).
func (q *Quotas) Restore(key string, inflight int64) {
	u := q.acquire(key, 0)
	u.mu.Lock()
	u.inflight += inflight
	u.mu.Unlock()
	q.release(u)
}
