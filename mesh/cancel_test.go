package mesh_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/treaty"
)

// cancelRecorder is a node's OnCancel: it records what it was given and
// answers with record, or with err.
type cancelRecorder struct {
	mu     sync.Mutex
	from   []treaty.DID
	got    [][]byte
	record []byte
	err    error
}

func (r *cancelRecorder) handle(_ context.Context, from treaty.DID, _ treaty.Link, cancel []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.from = append(r.from, from)
	r.got = append(r.got, bytes.Clone(cancel))
	return r.record, r.err
}

func (r *cancelRecorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// TestCancelStream: a partner's cancel reaches OnCancel with the sender's
// DID and the exact bytes and gets the handler's record back; a coded
// refusal keeps its code; a stranger is refused before the handler; a
// Cancel is bounded at MaxCancelBytes on both sides.
func TestCancelStream(t *testing.T) {
	rec := &cancelRecorder{record: []byte("the canceled job record")}
	nodes := meshtest.Start(t, 3, meshtest.Options{Federation: "cancels", Configure: func(i int, c *mesh.Config) {
		if i == 1 {
			c.OnCancel = rec.handle
		}
	}})
	a, b, stranger := nodes[0], nodes[1], nodes[2]
	id := meshtest.Activate(t, "cancels", a, b)
	ctx := t.Context()

	cancel := bytes.Repeat([]byte{0xa5}, mesh.MaxCancelBytes)
	got, err := a.Cancel(ctx, b.DID(), id, cancel)
	if err != nil {
		t.Fatalf("cancel at the limit: %v", err)
	}
	if string(got) != string(rec.record) {
		t.Errorf("reply %q, want the handler's record", got)
	}
	if rec.calls() != 1 || rec.from[0] != a.DID() || !bytes.Equal(rec.got[0], cancel) {
		t.Errorf("handler saw %d calls from %v", rec.calls(), rec.from)
	}

	if _, err := a.Cancel(ctx, b.DID(), id, append(cancel, 0)); err == nil {
		t.Error("a cancel beyond MaxCancelBytes was sent")
	}

	rec.mu.Lock()
	rec.err = &meshtest.CodeError{Code: "job_finished", Message: "job already ended: failed"}
	rec.mu.Unlock()
	var fe *mesh.ForwardError
	if _, err := a.Cancel(ctx, b.DID(), id, []byte("cancel")); !errors.As(err, &fe) || fe.Code != "job_finished" || fe.Peer != b.DID() {
		t.Errorf("coded refusal: %v, want a ForwardError with code job_finished", err)
	}

	before := rec.calls()
	if _, err := stranger.Cancel(ctx, b.DID(), id, []byte("cancel")); !errors.As(err, &fe) || fe.Code != mesh.CodeNoLane {
		t.Errorf("stranger's cancel: %v, want no_lane", err)
	}
	if rec.calls() != before {
		t.Error("a stranger's cancel reached the handler")
	}
}

// TestCancelStreamOversized: a frame whose cancel is one byte over the
// limit is refused by the server, naming the field, before the handler.
func TestCancelStreamOversized(t *testing.T) {
	rec := &cancelRecorder{record: []byte("r")}
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: "cancels", Configure: func(i int, c *mesh.Config) {
		if i == 1 {
			c.OnCancel = rec.handle
		}
	}})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, "cancels", a, b)
	reply, err := mesh.RawCancelExchange(t.Context(), a.Mesh, b.ID(), id, make([]byte, mesh.MaxCancelBytes+1))
	var fe *mesh.ForwardError
	if !errors.As(err, &fe) || fe.Code != mesh.CodeBadFrame || !bytes.Contains([]byte(fe.Message), []byte("cancel")) {
		t.Fatalf("oversized cancel: %q %v, want bad_frame naming cancel", reply, err)
	}
	if rec.calls() != 0 {
		t.Error("the oversized cancel reached the handler")
	}
}
