package node_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/node/wire"
	"github.com/aurora-federation/aurora/treaty"
)

// TestJobEventsSSE: a client following GET /v1/jobs/{id}/events sees the
// job's transitions in order with their ids, the running workload's
// endpoints, and the canceled transition, after which the stream ends; a
// reconnection with Last-Event-ID gets only what came after.
func TestJobEventsSSE(t *testing.T) {
	tn, _ := vastNode(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	k := clientKey(t)
	resp, err := tn.api.Submit(ctx, mustOrder(t, k, vastSpec()))
	if err != nil || resp.Result != "ack" {
		t.Fatalf("submit: %+v %v", resp, err)
	}
	var (
		mu  sync.Mutex
		evs []client.Event
	)
	running := make(chan struct{})
	watched := make(chan error, 1)
	go func() {
		var once sync.Once
		watched <- tn.api.Watch(ctx, resp.Job, 3, func(ev client.Event) error {
			mu.Lock()
			evs = append(evs, ev)
			mu.Unlock()
			if ev.Kind == wire.EventEndpoints {
				once.Do(func() { close(running) })
			}
			return nil
		})
	}()
	select {
	case <-running:
	case err := <-watched:
		t.Fatalf("the stream ended before the job ran: %v", err)
	case <-ctx.Done():
		t.Fatal("no endpoints event")
	}
	rec, err := client.BuildCancel(k, resp.Job, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.api.Cancel(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := <-watched; err != nil {
		t.Fatalf("watch: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var statuses []string
	lastID := 0
	for _, ev := range evs {
		if ev.Data.Job != resp.Job {
			t.Errorf("event of job %q", ev.Data.Job)
		}
		switch ev.Kind {
		case wire.EventTransition, wire.EventError:
			if ev.ID != lastID+1 {
				t.Errorf("event id %d after %d", ev.ID, lastID)
			}
			lastID = ev.ID
			statuses = append(statuses, ev.Data.Status)
		case wire.EventEndpoints:
			if len(ev.Data.Endpoints) == 0 || ev.Data.Endpoints[0].Host == "" {
				t.Errorf("endpoints event without an endpoint: %+v", ev.Data)
			}
		default:
			t.Errorf("unexpected %s event", ev.Kind)
		}
	}
	if len(statuses) < 3 || statuses[0] != treaty.StatusAccepted || statuses[len(statuses)-2] != treaty.StatusRunning || statuses[len(statuses)-1] != treaty.StatusCanceled {
		t.Errorf("statuses %v, want accepted … running, canceled", statuses)
	}

	var resumed []client.Event
	last, err := tn.api.Events(ctx, resp.Job, 1, func(ev client.Event) error { resumed = append(resumed, ev); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(resumed) != lastID-1 || resumed[0].ID != 2 || last != lastID {
		t.Errorf("resumed after 1: %d events ending at %d, want %d ending at %d", len(resumed), last, lastID-1, lastID)
	}
	err = tn.api.Do(ctx, http.MethodGet, "/v1/jobs/"+resp.Job+"/events", "", nil, nil)
	if err != nil {
		t.Fatalf("plain GET of a finished job's events: %v", err)
	}
}

// TestJobEventsLimits: api.max_event_streams_per_client streams stay open
// at once; one more is 429; when one closes another is taken. A bad
// Last-Event-ID is 400 naming the header.
func TestJobEventsLimits(t *testing.T) {
	cfg := newConfig()
	cfg.API.MaxEventStreamsPerClient = 2
	cfg.Providers[0].Options["latency_ms"] = "3600000" // stays launching: streams stay open
	cfg.Providers = cfg.Providers[:1]
	tn := startNode(t, cfg)
	ctx := t.Context()
	resp, err := tn.api.Submit(ctx, mustOrder(t, clientKey(t), spec()))
	if err != nil || resp.Result != "ack" {
		t.Fatalf("submit: %+v %v", resp, err)
	}
	open := func() (context.CancelFunc, chan error) {
		sctx, stop := context.WithCancel(ctx)
		first := make(chan error, 1)
		go func() {
			var once sync.Once
			_, err := tn.api.Events(sctx, resp.Job, 0, func(client.Event) error { once.Do(func() { first <- nil }); return nil })
			once.Do(func() { first <- err })
		}()
		return stop, first
	}
	var stops []context.CancelFunc
	for i := range 2 {
		stop, first := open()
		stops = append(stops, stop)
		if err := <-first; err != nil {
			t.Fatalf("stream %d at the limit: %v", i+1, err)
		}
	}
	_, err = tn.api.Events(ctx, resp.Job, 0, func(client.Event) error { return nil })
	wantAPIError(t, err, http.StatusTooManyRequests, "too_many_streams", "")
	stops[0]()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stop, first := open()
		err := <-first
		stop()
		var ae *client.APIError
		if err == nil {
			break
		}
		if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after closing a stream: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stops[1]()
	_, err = tn.api.Events(ctx, resp.Job, treaty.MaxTransitions+1, func(client.Event) error { return nil })
	wantAPIError(t, err, http.StatusBadRequest, "bad_request", "Last-Event-ID")
}

// TestJobEventsHeartbeat: an idle stream gets a ": ping" comment every
// api.events_heartbeat.
func TestJobEventsHeartbeat(t *testing.T) {
	cfg := newConfig()
	cfg.API.EventsHeartbeat = node.Duration(time.Second)
	cfg.Providers[0].Options["latency_ms"] = "3600000"
	cfg.Providers = cfg.Providers[:1]
	tn := startNode(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := tn.api.Submit(ctx, mustOrder(t, clientKey(t), spec()))
	if err != nil || resp.Result != "ack" {
		t.Fatalf("submit: %+v %v", resp, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tn.api.Base+"/v1/jobs/"+resp.Job+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		if sc.Text() == ": ping" {
			return
		}
	}
	t.Fatalf("no heartbeat before the stream ended: %v", sc.Err())
}
