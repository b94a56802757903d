package client

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestWatchResumes: the stream breaks after each event; Watch reconnects
// with Last-Event-ID, sees every event once, in order, skips comments and
// id-less events, and stops at the terminal transition.
func TestWatchResumes(t *testing.T) {
	statuses := []string{"accepted", "launching", "running", "canceled"}
	var (
		mu      sync.Mutex
		lastIDs []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		after := 0
		fmt.Sscan(r.Header.Get("Last-Event-ID"), &after)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": ping\n\n")
		if after == 2 {
			fmt.Fprint(w, "event: endpoints\ndata: {\"job\":\"j\",\n")
			fmt.Fprint(w, "data: \"endpoints\":[{\"kind\":\"tcp\",\"host\":\"h\",\"port\":1}]}\n\n")
		}
		i := after
		kind := "transition"
		if statuses[i] == "launching" {
			kind = "error"
		}
		fmt.Fprintf(w, "id: %d\nevent: %s\ndata: {\"job\":\"j\",\"status\":%q,\"at\":%d}\n\n", i+1, kind, statuses[i], i+1)
	}))
	defer srv.Close()
	c := New(srv.URL, "")
	var got []string
	err := c.Watch(t.Context(), "j", 2, func(ev Event) error {
		got = append(got, fmt.Sprintf("%d/%s/%s/%d", ev.ID, ev.Kind, ev.Data.Status, len(ev.Data.Endpoints)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "1/transition/accepted/0 2/error/launching/0 0/endpoints//1 3/transition/running/0 4/transition/canceled/0"
	if strings.Join(got, " ") != want {
		t.Errorf("events\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if strings.Join(lastIDs, ",") != ",1,2,3" {
		t.Errorf("Last-Event-ID sent: %q", lastIDs)
	}
}

// TestEventsBounds: a line over the limit ends the stream with an error;
// so does an error answer, with its code.
func TestEventsBounds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/missing/events") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"not_found","message":"no job","field":"id"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", strings.Repeat("x", maxEventLine+1))
	}))
	defer srv.Close()
	c := New(srv.URL, "")
	if _, err := c.Events(t.Context(), "big", 0, func(Event) error { return nil }); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("an over-long line: %v", err)
	}
	_, err := c.Events(t.Context(), "missing", 0, func(Event) error { return nil })
	if ae, ok := err.(*APIError); !ok || ae.Code != "not_found" || ae.Field != "id" {
		t.Errorf("an error answer: %v", err)
	}
}
