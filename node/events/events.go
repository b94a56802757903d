// Package events fans job changes out to the node's event streams (GET
// /v1/jobs/{id}/events). The order core reports every committed change of
// a job record (Publish); each subscription gets the record's transitions
// it has not seen yet, as numbered events, through a bounded buffer. A
// subscription whose buffer is full is dropped (Lagged), never waited for:
// a slow reader cannot hold up the core or other readers, and it resumes
// from the ledger with Last-Event-ID.
package events

import (
	"errors"
	"fmt"
	"sync"

	"github.com/aurora-federation/aurora/node/wire"
	"github.com/aurora-federation/aurora/treaty"
)

// Config bounds a Hub. The zero value works.
type Config struct {
	// Buffer is how many events one subscription holds unread before it
	// is dropped as lagged. Default 64 (api.events_buffer).
	Buffer int
	// MaxPerClient bounds one client's concurrent subscriptions. Default 4
	// (api.max_event_streams_per_client).
	MaxPerClient int
	// MaxTotal bounds all concurrent subscriptions. Default 1024
	// (api.max_event_streams).
	MaxTotal int
}

func (c *Config) validate() {
	if c.Buffer <= 0 {
		c.Buffer = 64
	}
	if c.MaxPerClient <= 0 {
		c.MaxPerClient = 4
	}
	if c.MaxTotal <= 0 {
		c.MaxTotal = 1024
	}
}

// Event is one numbered event: ID is the transition's 1-based index in
// the job record.
type Event struct {
	ID   int
	Kind string // wire.EventTransition or wire.EventError
	Data wire.Event
}

// EventOf is the event of transition i (0-based) of rec.
func EventOf(rec *treaty.JobRecord, i int) Event {
	t := rec.Transitions[i]
	kind := wire.EventTransition
	if t.Status == treaty.StatusLaunching && t.Detail != "" {
		kind = wire.EventError
	}
	return Event{ID: i + 1, Kind: kind, Data: wire.Event{Job: rec.Job, Status: t.Status, At: t.At, Detail: t.Detail}}
}

// TooManyError refuses a subscription over a limit.
type TooManyError struct {
	Client string // "" when the total limit was hit
	Limit  int
}

func (e *TooManyError) Error() string {
	if e.Client != "" {
		return fmt.Sprintf("events: client %s already has %d event streams open (limit)", e.Client, e.Limit)
	}
	return fmt.Sprintf("events: %d event streams are open (limit)", e.Limit)
}

// ErrClosed is a subscription on a closed hub.
var ErrClosed = errors.New("events: hub closed")

// Hub is the fan-out. Safe for concurrent use.
type Hub struct {
	cfg Config

	mu      sync.Mutex // protects following
	jobs    map[string]map[*Sub]struct{}
	clients map[string]int
	total   int
	closed  bool
}

// New returns a hub.
func New(cfg Config) *Hub {
	cfg.validate()
	return &Hub{cfg: cfg, jobs: map[string]map[*Sub]struct{}{}, clients: map[string]int{}}
}

// Sub is one subscription to a job's events.
type Sub struct {
	h      *Hub
	job    string
	client string
	c      chan Event

	next   int  // protected by h.mu: the next transition index to send
	lagged bool // protected by h.mu
	done   bool // protected by h.mu
}

// Subscribe follows job for client (a remote address: the per-client
// limit's key), starting after the transition numbered after (0: from
// the first). Transitions already committed are the caller's to read from
// the ledger; Publish delivers those beyond what the caller says it sent
// (Skip). Close the Sub when done.
func (h *Hub) Subscribe(job, client string, after int) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case h.clients[client] >= h.cfg.MaxPerClient:
		return nil, &TooManyError{Client: client, Limit: h.cfg.MaxPerClient}
	case h.total >= h.cfg.MaxTotal:
		return nil, &TooManyError{Limit: h.cfg.MaxTotal}
	}
	s := &Sub{h: h, job: job, client: client, c: make(chan Event, h.cfg.Buffer), next: after}
	if h.jobs[job] == nil {
		h.jobs[job] = map[*Sub]struct{}{}
	}
	h.jobs[job][s] = struct{}{}
	h.clients[client]++
	h.total++
	return s, nil
}

// C delivers the subscription's events; it is closed when the
// subscription is dropped (Lagged) or the hub closes.
func (s *Sub) C() <-chan Event { return s.c }

// Skip tells the hub that events up to id were sent from the ledger.
func (s *Sub) Skip(id int) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.next = max(s.next, id)
}

// Lagged reports whether the hub dropped the subscription because its
// buffer was full.
func (s *Sub) Lagged() bool {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.lagged
}

// Close ends the subscription and frees its place in the limits.
func (s *Sub) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.dropLocked(s)
}

func (h *Hub) dropLocked(s *Sub) {
	if s.done {
		return
	}
	s.done = true
	close(s.c)
	delete(h.jobs[s.job], s)
	if len(h.jobs[s.job]) == 0 {
		delete(h.jobs, s.job)
	}
	if h.clients[s.client]--; h.clients[s.client] <= 0 {
		delete(h.clients, s.client)
	}
	h.total--
}

// Publish delivers rec's transitions that each subscriber of its job has
// not had. It never blocks: a subscriber whose buffer fills is dropped.
func (h *Hub) Publish(rec treaty.JobRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.jobs[rec.Job] {
		for s.next < len(rec.Transitions) && !s.done {
			select {
			case s.c <- EventOf(&rec, s.next):
				s.next++
			default:
				s.lagged = true
				h.dropLocked(s)
			}
		}
	}
}

// Open returns the number of open subscriptions.
func (h *Hub) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// Close drops every subscription.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, subs := range h.jobs {
		for s := range subs {
			h.dropLocked(s)
		}
	}
}
