package order

import "sync"

// keyLocks serializes work on the same keys (an order's CID, its client's
// nonce) while other keys proceed. Entries live only while held.
type keyLocks struct {
	mu sync.Mutex // protects m
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock takes a and then b (b may be "" or equal a) and returns the unlock.
// Callers always pass an order-CID key first and a nonce key second, so two
// callers never wait on each other in opposite orders.
func (l *keyLocks) lock(a, b string) func() {
	la := l.get(a)
	la.mu.Lock()
	if b == "" || b == a {
		return func() { la.mu.Unlock(); l.put(a, la) }
	}
	lb := l.get(b)
	lb.mu.Lock()
	return func() {
		lb.mu.Unlock()
		l.put(b, lb)
		la.mu.Unlock()
		l.put(a, la)
	}
}

func (l *keyLocks) get(k string) *keyLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*keyLock{}
	}
	e := l.m[k]
	if e == nil {
		e = &keyLock{}
		l.m[k] = e
	}
	e.refs++
	return e
}

func (l *keyLocks) put(k string, e *keyLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, k)
	}
}
