package mesh_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// handed records what each node's OnEquivocation was given.
type handed struct {
	mu  sync.Mutex
	got map[int][]*mesh.Equivocation
}

func (h *handed) hook(i int) mesh.EquivocationHandler {
	return func(e *mesh.Equivocation) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.got[i] = append(h.got[i], e)
	}
}

func (h *handed) of(i int) []*mesh.Equivocation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*mesh.Equivocation(nil), h.got[i]...)
}

// TestEvidenceGossip: on real hosts, evidence one node publishes reaches
// every node (by gossip, or by the sync that runs when peers connect),
// which verifies it against the origin's key, keeps it and
// hands it to OnEquivocation once; forged evidence is rejected, kept
// nowhere and costs its sender gossip score; a node that joins later gets
// the evidence by sync.
func TestEvidenceGossip(t *testing.T) {
	const fed = "evid"
	h := &handed{got: map[int][]*mesh.Equivocation{}}
	opts := meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) { c.OnEquivocation = h.hook(i) }}
	nodes := meshtest.Start(t, 3, opts)
	a := nodes[0]
	offender := meshtest.RandomKey(t) // a log no node has a treaty with
	origin := meshtest.Origin(t, fed, offender)
	ev := provenance.Evidence{Origin: origin,
		A: meshtest.SignedCheckpoint(t, offender, origin, 40, sha256.Sum256([]byte("what the witness cosigned"))),
		B: meshtest.SignedCheckpoint(t, offender, origin, 40, sha256.Sum256([]byte("what the log gossiped")))}
	e, fresh, err := a.PublishEvidence(t.Context(), ev, mesh.SourceWitness)
	if err != nil || !fresh || e.Offender != offender.DID() || e.SizeA != 40 || e.SizeB != 40 {
		t.Fatalf("PublishEvidence = %+v, %v, %v", e, fresh, err)
	}
	for i, n := range nodes[1:] {
		meshtest.WaitFor(t, meshtest.Wait, "the evidence on every node", func() bool { return len(n.Equivocations()) == 1 })
		got := n.Equivocations()[0]
		if !got.ID.Equals(e.ID) || got.Source != mesh.SourceGossip || got.Offender != offender.DID() || got.From == "" {
			t.Errorf("node %d kept %+v", i+1, got)
		}
		// Kept by the validator, handed over by the topic reader (or the
		// sync round) just after.
		meshtest.WaitFor(t, meshtest.Wait, "OnEquivocation on every node", func() bool { return len(h.of(i+1)) >= 1 })
		if hs := h.of(i + 1); len(hs) != 1 || !hs[0].ID.Equals(e.ID) {
			t.Errorf("node %d's OnEquivocation got %d records, want 1", i+1, len(hs))
		}
	}
	if hs := h.of(0); len(hs) != 0 {
		t.Errorf("the publisher's own OnEquivocation ran %d times: its caller accounts for its own evidence", len(hs))
	}
	if kept := a.Equivocations(); len(kept) != 1 || kept[0].Source != mesh.SourceWitness || kept[0].From != "" {
		t.Errorf("the publisher kept %+v", kept)
	}

	// Forged: the same checkpoint twice proves nothing.
	b := nodes[1]
	evil := newAttacker(t, fed)
	evil.connect(t, b)
	bogus, err := provenance.Evidence{Origin: origin, A: ev.A, B: ev.A}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	evil.publish(t, mesh.Topics(fed)[3], bogus)
	meshtest.WaitFor(t, meshtest.Wait, "the bogus evidence to be rejected", func() bool { return validated(t, b, "evidence", "reject") >= 1 })
	waitScoreBelowZero(t, b, evil)
	for _, n := range nodes {
		if len(n.Equivocations()) != 1 {
			t.Errorf("node %d keeps %d records after the bogus one", n.Index, len(n.Equivocations()))
		}
	}

	// A latecomer syncs it.
	late := meshtest.StartNode(t, 3, opts)
	meshtest.Connect(t, late.Mesh, nodes[2].Mesh)
	meshtest.WaitFor(t, meshtest.Wait, "the latecomer to sync the evidence", func() bool { return len(late.Equivocations()) == 1 && len(h.of(3)) >= 1 })
	if got := late.Equivocations()[0]; !got.ID.Equals(e.ID) || got.Source != mesh.SourceGossip {
		t.Errorf("the latecomer kept %+v", got)
	}
	if hs := h.of(3); len(hs) != 1 {
		t.Errorf("the latecomer's OnEquivocation got %d records, want 1", len(hs))
	}
}

// TestStorageFullIsFinal: a peer that refuses a forward with storage_full
// (its disk is below the reserve: nothing committed) is a final refusal,
// like launch_queue_full; timeout and internal are not.
func TestStorageFullIsFinal(t *testing.T) {
	const fed = "full"
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, fed, a, b)
	client := meshtest.RandomKey(t)
	for _, tc := range []struct {
		code  string
		final bool
	}{
		{"storage_full", true},
		{"launch_queue_full", true},
		{mesh.CodeTimeout, false},
		{mesh.CodeInternal, false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			b.Acker.SetBefore(func(_ context.Context, _ treaty.DID) error {
				return &meshtest.CodeError{Code: tc.code, Message: "refused"}
			})
			_, err := a.Forward(t.Context(), b.DID(), id, meshtest.Order(t, client, time.Now()))
			var fe *mesh.ForwardError
			if !errors.As(err, &fe) || fe.Code != tc.code || fe.Refused() != tc.final {
				t.Fatalf("Forward = %v, want a ForwardError %q with Refused() %v", err, tc.code, tc.final)
			}
		})
	}
}
