package testnet

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// activate has a propose a bilateral treaty (with the template values in
// set) that b countersigns, through their meshes, and waits until both see
// it active. It returns the treaty's final CID.
func activate(t *testing.T, ctx context.Context, a, b *Node, set map[string]string) treaty.Link {
	t.Helper()
	tr, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "testnet", Proposer: a.Identity().DID,
		Peer: b.Identity().DID, Now: time.Now().Add(-time.Minute), Set: set})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Mesh().Propose(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, func() bool { _, err := b.Mesh().Get(id); return err == nil }); err != nil {
		t.Fatalf("the proposal never reached the peer: %v", err)
	}
	if err := b.Mesh().Countersign(ctx, id); err != nil {
		t.Fatal(err)
	}
	var final treaty.Link
	if err := waitFor(ctx, func() bool {
		ia, err1 := a.Mesh().Get(id)
		ib, err2 := b.Mesh().Get(id)
		final = ia.CID
		return err1 == nil && err2 == nil && ia.State == treaty.StateActive && ib.State == treaty.StateActive
	}); err != nil {
		t.Fatalf("the treaty never became active on both: %v", err)
	}
	return final
}

// witnessStatus is the C2SP status of a cosign request's answer (200 for
// none).
func witnessStatus(err error) int {
	var we *mesh.WitnessError
	switch {
	case err == nil:
		return 200
	case errors.As(err, &we):
		return we.Status
	}
	return -1
}

// TestWitnessServesPartnersOnly: on real hosts, a node's witness
// (/aurora/witness/1.0.0, and the C2SP HTTP endpoint) cosigns the logs of
// its treaty partners only. A stranger, a stranger with a proposal the
// witness never signed, and a partner whose treaty was revoked get 404; the
// partner is served while the treaty is active.
func TestWitnessServesPartnersOnly(t *testing.T) {
	// Hour-long epochs: no witness round but the test's own.
	tn, err := Start(t.Context(), Config{Nodes: 3, Dir: t.TempDir(), SimFailure: 0.0001, Epoch: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	w, partner, stranger := tn.Nodes[0], tn.Nodes[1], tn.Nodes[2]
	id := activate(t, ctx, w, partner, nil)
	ask := func(n *Node) int {
		t.Helper()
		cp, err := n.Log().Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = n.Mesh().RequestCosign(ctx, w.Identity().DID, provenance.CosignRequest(0, nil, cp.Note))
		return witnessStatus(err)
	}
	if s := ask(partner); s != 200 {
		t.Fatalf("the partner's checkpoint: %d, want 200", s)
	}
	if s := ask(stranger); s != 404 {
		t.Errorf("a stranger's checkpoint: %d, want 404", s)
	}
	cp, err := stranger.Log().Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(w.API.Base+"/witness/add-checkpoint", "text/plain", bytes.NewReader(provenance.CosignRequest(0, nil, cp.Note)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("a stranger's checkpoint over HTTP: %d, want 404", resp.StatusCode)
	}

	// A proposal signed by the stranger alone grants nothing.
	prop, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "testnet", Proposer: stranger.Identity().DID,
		Peer: w.Identity().DID, Now: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := stranger.Mesh().Propose(ctx, prop)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, func() bool { info, err := w.Mesh().Get(pid); return err == nil && info.State == treaty.StateProposed }); err != nil {
		t.Fatalf("the proposal never reached the witness: %v", err)
	}
	if s := ask(stranger); s != 404 {
		t.Errorf("a stranger with a proposal: %d, want 404", s)
	}

	// Revoked: the partner is a stranger again.
	if err := w.Mesh().Revoke(ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
	if w.Mesh().IsPartner(partner.Identity().DID) {
		t.Fatal("still a partner after the revocation")
	}
	if s := ask(partner); s != 404 {
		t.Errorf("a revoked partner's checkpoint: %d, want 404", s)
	}
}
