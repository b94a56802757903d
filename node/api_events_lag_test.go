package node

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node/events"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/treaty"
)

// gatedWriter is a ResponseWriter whose writes block once armed, until
// released: a client that stops reading.
type gatedWriter struct {
	hdr     http.Header
	mu      sync.Mutex
	buf     bytes.Buffer
	armed   bool
	blocked chan struct{} // closed when a write blocks
	release chan struct{}
	once    sync.Once
}

func (g *gatedWriter) Header() http.Header { return g.hdr }
func (g *gatedWriter) WriteHeader(int)     {}
func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	armed := g.armed
	g.mu.Unlock()
	if armed {
		g.once.Do(func() { close(g.blocked) })
		<-g.release
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}
func (g *gatedWriter) FlushError() error                { return nil }
func (g *gatedWriter) SetWriteDeadline(time.Time) error { return nil }
func (g *gatedWriter) text() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// TestEventsStreamLags: a client that stops reading while more than
// api.events_buffer events arrive is dropped; after the events it held,
// its stream's last event is lagged.
func TestEventsStreamLags(t *testing.T) {
	ctx := t.Context()
	ledger := order.NewLedger(order.LedgerConfig{Store: order.NewMemStore(nil)})
	k, err := treaty.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	id := treaty.CIDOf([]byte("an order")).String()
	link := treaty.LinkTo(treaty.CIDOf([]byte("an order")))
	job := &order.Job{Record: treaty.JobRecord{V: 1, Job: id, Order: link, Ack: link, Operator: k.DID(), Client: k.DID(),
		Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"}, Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: 1}}},
		Order: []byte{0xa0}, Ack: []byte{0xa0}}
	if err := order.NewTestCommitter(ledger)(ctx, job, nil); err != nil {
		t.Fatal(err)
	}
	const buffer = 2
	hub := events.New(events.Config{Buffer: buffer})
	h := NewAPIHandler(APIHandlerConfig{Ledger: ledger, Events: hub, EventsBufferSize: buffer})
	w := &gatedWriter{hdr: http.Header{}, blocked: make(chan struct{}), release: make(chan struct{})}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/jobs/"+id+"/events", nil)
	done := make(chan struct{})
	go func() { defer close(done); h.ServeHTTP(w, req) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.text(), "id: 1\n") {
		if time.Now().After(deadline) {
			t.Fatal("the first event never came")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.mu.Lock()
	w.armed = true
	w.mu.Unlock()
	rec := job.Record
	for i := range 10 {
		rec.Transitions = append(rec.Transitions, treaty.Transition{Status: treaty.StatusLaunching, At: int64(2 + i), Detail: "attempt"})
	}
	// One event reaches the blocked writer, Buffer more wait in the
	// subscription, the next overflows it.
	hub.Publish(rec)
	<-w.blocked
	hub.Publish(rec)
	close(w.release)
	<-done
	out := w.text()
	if !strings.HasSuffix(strings.TrimSpace(out), `reconnect with Last-Event-ID"}`) || !strings.Contains(out, "event: lagged") {
		t.Fatalf("stream:\n%s", out)
	}
	if n := strings.Count(out, "event: error"); n < 1 || n > 1+buffer {
		t.Errorf("%d events delivered before the drop, want 1 to %d", n, 1+buffer)
	}
	if hub.Open() != 0 {
		t.Errorf("%d subscriptions open", hub.Open())
	}
}
