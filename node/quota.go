package node

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
// ("lane/<treaty>/<from>") or a tenant of the node's default law
// ("client/<did>"). A key is locked while an order is judged so that the
// check and the reservation are one atomic step.
//
// In-flight counts are rebuilt from the ledger at start-up; rate and
// GPU-hour windows are in memory and start empty after a restart.
type Quotas struct {
	mu   sync.Mutex // protects keys
	keys map[string]*quota
}

type quota struct {
	mu       sync.Mutex // held by the caller of Lock across judge+reserve
	inflight int64
	// Per-second order counts for the last 60 s, indexed by unix second % 60.
	sec      [60]int64
	secStamp [60]int64
	day      int64 // unix day of gpuHours
	gpuHours int64
}

// NewQuotas returns an empty tracker.
func NewQuotas() *Quotas { return &Quotas{keys: map[string]*quota{}} }

func (q *Quotas) get(key string) *quota {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.keys[key]
	if u == nil {
		u = &quota{}
		q.keys[key] = u
	}
	return u
}

// QuotaLease is a locked quota key. Call Reserve (after an allow) and then
// Unlock, or just Unlock.
type QuotaLease struct {
	q   *quota
	now time.Time
}

// Lock locks key and returns its usage at now.
func (q *Quotas) Lock(key string, now time.Time) (*QuotaLease, Usage) {
	u := q.get(key)
	u.mu.Lock()
	return &QuotaLease{q: u, now: now}, u.usageLocked(now)
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
	u, s := l.q, l.now.Unix()
	u.inflight++
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
func (l *QuotaLease) Unlock() { l.q.mu.Unlock() }

// Done marks one in-flight job of key as settled.
func (q *Quotas) Done(key string) {
	u := q.get(key)
	u.mu.Lock()
	if u.inflight > 0 {
		u.inflight--
	}
	u.mu.Unlock()
}

// Restore sets a key's in-flight count (start-up, from the ledger).
func (q *Quotas) Restore(key string, inflight int64) {
	u := q.get(key)
	u.mu.Lock()
	u.inflight = inflight
	u.mu.Unlock()
}
