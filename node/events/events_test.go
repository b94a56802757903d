package events

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aurora-federation/aurora/node/wire"
	"github.com/aurora-federation/aurora/treaty"
)

func record(job string, n int) treaty.JobRecord {
	rec := treaty.JobRecord{Job: job}
	for i := range n {
		st := treaty.StatusLaunching
		if i == 0 {
			st = treaty.StatusAccepted
		}
		rec.Transitions = append(rec.Transitions, treaty.Transition{Status: st, At: int64(i + 1), Detail: fmt.Sprint("attempt ", i)})
	}
	return rec
}

func drain(s *Sub) []Event {
	var out []Event
	for {
		select {
		case e, ok := <-s.C():
			if !ok {
				return out
			}
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestBufferAtAndBeyond: a subscriber that reads nothing keeps exactly
// Buffer events; one more drops it as lagged, and the channel closes
// after the events it holds.
func TestBufferAtAndBeyond(t *testing.T) {
	const buf = 8
	h := New(Config{Buffer: buf})
	at, err := h.Subscribe("j", "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(record("j", buf))
	if at.Lagged() {
		t.Fatal("a subscriber holding exactly Buffer events was dropped")
	}
	got := drain(at)
	if len(got) != buf || got[0].ID != 1 || got[buf-1].ID != buf || got[1].Kind != wire.EventError || got[0].Kind != wire.EventTransition {
		t.Fatalf("events at the limit: %+v", got)
	}
	at.Close()

	beyond, err := h.Subscribe("j", "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(record("j", buf+1))
	if !beyond.Lagged() {
		t.Fatal("a subscriber one event beyond its buffer was not dropped")
	}
	if got := drain(beyond); len(got) != buf {
		t.Errorf("the dropped subscriber still delivers the %d events it held, got %d", buf, len(got))
	}
	if _, ok := <-beyond.C(); ok {
		t.Error("the channel of a dropped subscriber is open")
	}
	if h.Open() != 0 {
		t.Errorf("%d subscriptions open after the drop", h.Open())
	}
}

// TestPublishResumes: events already sent (after, Skip) are not sent
// again; only new transitions are.
func TestPublishResumes(t *testing.T) {
	h := New(Config{})
	s, err := h.Subscribe("j", "a", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h.Publish(record("j", 3))
	if got := drain(s); len(got) != 1 || got[0].ID != 3 {
		t.Fatalf("after 2: %+v", got)
	}
	s.Skip(5)
	h.Publish(record("j", 6))
	if got := drain(s); len(got) != 1 || got[0].ID != 6 {
		t.Fatalf("after a skip to 5: %+v", got)
	}
	h.Publish(record("other", 6))
	if got := drain(s); len(got) != 0 {
		t.Errorf("another job's events: %+v", got)
	}
}

// TestLimits: MaxPerClient streams per client at the limit, one more is
// refused; closing one frees its place; MaxTotal bounds every client.
func TestLimits(t *testing.T) {
	h := New(Config{MaxPerClient: 2, MaxTotal: 3})
	a1, err1 := h.Subscribe("j", "a", 0)
	_, err2 := h.Subscribe("k", "a", 0)
	if err1 != nil || err2 != nil {
		t.Fatalf("at the per-client limit: %v %v", err1, err2)
	}
	var tm *TooManyError
	if _, err := h.Subscribe("j", "a", 0); !errors.As(err, &tm) || tm.Client != "a" || tm.Limit != 2 {
		t.Fatalf("beyond the per-client limit: %v", err)
	}
	a1.Close()
	if _, err := h.Subscribe("j", "a", 0); err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	if _, err := h.Subscribe("j", "b", 0); err != nil {
		t.Fatalf("another client at the total limit: %v", err)
	}
	if _, err := h.Subscribe("j", "c", 0); !errors.As(err, &tm) || tm.Client != "" || tm.Limit != 3 {
		t.Fatalf("beyond the total limit: %v", err)
	}
	h.Close()
	if _, err := h.Subscribe("j", "d", 0); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if h.Open() != 0 {
		t.Errorf("%d open after Close", h.Open())
	}
}
