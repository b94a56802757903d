package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// equivocations reads a node's GET /v1/equivocations.
func equivocations(t *testing.T, ctx context.Context, n *Node) (views []node.EquivocationView, total int) {
	t.Helper()
	var v struct {
		Equivocations []node.EquivocationView `json:"equivocations"`
		Total         int                     `json:"total"`
	}
	if err := n.API.Do(ctx, "GET", "/v1/equivocations?limit=100", "", nil, &v); err != nil {
		t.Fatal(err)
	}
	return v.Equivocations, v.Total
}

// equivocationsBy reads aurora_equivocations_total{source} of a node.
func equivocationsBy(t *testing.T, n *Node, source string) float64 {
	t.Helper()
	return meshtest.Metric(t, n.Metrics().Registry, "aurora_equivocations_total", map[string]string{"source": source})
}

// TestEquivocationCaughtThroughGossip: a node that signs two checkpoints
// at one size is caught by a peer that never witnessed either, through
// gossip. Three real nodes: the offender O; its partner W, whose witness
// cosigned one checkpoint and is then asked to cosign the other (and later
// gets an anchor carrying a third); and T, W's partner, with no treaty
// with O. W keeps and gossips the evidence; T verifies it with O's key,
// keeps it, counts it, lowers O's peer score and serves it on
// GET /v1/equivocations.
func TestEquivocationCaughtThroughGossip(t *testing.T) {
	// Hour-long epochs: the only checkpoints witnessed and announced are
	// the test's.
	tn, err := Start(t.Context(), Config{Nodes: 3, Dir: t.TempDir(), SimFailure: 0.0001, Epoch: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	o, w, th := tn.Nodes[0], tn.Nodes[1], tn.Nodes[2]
	odid := o.Identity().DID
	activate(t, ctx, o, w, nil)
	activate(t, ctx, w, th, nil)
	if th.Mesh().IsPartner(odid) {
		t.Fatal("T is O's partner: it must never witness O")
	}
	prior := th.PeerReputation(odid)

	// O's log holds a job; W's witness cosigns its checkpoint.
	ord, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h", Regions: o.Regions}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.API.Submit(ctx, ord); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, func() bool { return o.Log().Size() > 0 }); err != nil {
		t.Fatal("O's log never grew")
	}
	honest, err := o.Log().Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Mesh().RequestCosign(ctx, w.Identity().DID, provenance.CosignRequest(0, nil, honest.Note)); err != nil {
		t.Fatalf("W did not cosign O's checkpoint: %v", err)
	}

	// O signs another root at the same size and asks W to cosign it.
	okey, err := node.LoadKey(filepath.Join(o.Home, node.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	origin := o.Log().Origin()
	forged := meshtest.SignedCheckpoint(t, okey, origin, honest.Size, sha256.Sum256([]byte("another history")))
	_, err = o.Mesh().RequestCosign(ctx, w.Identity().DID, provenance.CosignRequest(honest.Size, nil, forged))
	if s := witnessStatus(err); s != 422 {
		t.Fatalf("W answered the conflicting checkpoint with %d, want 422", s)
	}
	if got := equivocationsBy(t, w, "witness"); got != 1 {
		t.Errorf("W: aurora_equivocations_total{source=witness} = %v, want 1", got)
	}

	// T learns it through gossip: kept, then accounted for.
	if err := waitFor(ctx, func() bool { _, n := equivocations(t, ctx, th); return n == 1 && equivocationsBy(t, th, "gossip") >= 1 }); err != nil {
		t.Fatal("T never learned of the equivocation")
	}
	views, _ := equivocations(t, ctx, th)
	v := views[0]
	if v.Offender != string(odid) || v.Origin != origin || v.Source != "gossip" || v.SizeA != honest.Size || v.SizeB != honest.Size ||
		v.OffenderReputation != th.PeerReputation(odid) {
		t.Errorf("T serves %+v", v)
	}
	raw, err := base64.StdEncoding.DecodeString(v.Evidence)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := provenance.ParseEvidence(raw)
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := provenance.LogVerifier(origin, odid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provenance.VerifyEvidence(ev, logKey); err != nil {
		t.Errorf("the evidence T serves does not verify offline: %v", err)
	}
	if got := equivocationsBy(t, th, "gossip"); got != 1 {
		t.Errorf("T: aurora_equivocations_total{source=gossip} = %v, want 1", got)
	}
	// 20 broken promises on a peer never observed: the prior (800) falls to
	// about 110.
	if after := th.PeerReputation(odid); prior != 800 || after < 90 || after > 130 {
		t.Errorf("T's score of O: %d before the evidence, %d after: want 800, then about 110", prior, after)
	}
	if views, _ := equivocations(t, ctx, w); len(views) != 1 || views[0].Source != "witness" || views[0].From != "" {
		t.Errorf("W serves %+v", views)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=1&limit=2", "before=1"} {
		var ae *client.APIError
		if err := th.API.Do(ctx, "GET", "/v1/equivocations?"+q, "", nil, nil); !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "bad_query" {
			t.Errorf("GET /v1/equivocations?%s = %v, want 400 bad_query", q, err)
		}
	}

	// The C2SP HTTP endpoint of W's witness catches it too.
	viaHTTP := meshtest.SignedCheckpoint(t, okey, origin, honest.Size, sha256.Sum256([]byte("history over HTTP")))
	resp, err := http.Post(w.API.Base+"/witness/add-checkpoint", "text/plain", bytes.NewReader(provenance.CosignRequest(honest.Size, nil, viaHTTP)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 422 {
		t.Fatalf("W's HTTP witness answered the conflicting checkpoint with %d, want 422", resp.StatusCode)
	}
	if got := equivocationsBy(t, w, "witness"); got != 2 {
		t.Errorf("W: aurora_equivocations_total{source=witness} = %v after the HTTP request, want 2", got)
	}

	// O then gossips an anchor with another root at that size: W checks it
	// against what its witness cosigned, refuses it (it is not
	// cross-anchored) and gossips the evidence.
	third := meshtest.SignedCheckpoint(t, okey, origin, honest.Size, sha256.Sum256([]byte("a third history")))
	if err := o.Mesh().PublishAnchor(ctx, &treaty.Anchor{V: treaty.Version, Origin: origin, Checkpoint: string(third), TSA: [][]byte{}}); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, func() bool { return equivocationsBy(t, w, "anchor") == 1 }); err != nil {
		t.Fatal("W never found the anchor contradicting its witness")
	}
	// Refused, so not kept nor cross-anchored: rejected from O, ignored if
	// T's relay came first.
	anchors := func(result string) float64 {
		return meshtest.Metric(t, w.Metrics().Registry, "aurora_pubsub_validated_total", map[string]string{"topic": "anchor", "result": result})
	}
	if anchors("accept") != 0 || anchors("reject")+anchors("ignore") < 1 {
		t.Errorf("W judged O's contradicting anchor: %v accepted, %v rejected, %v ignored; want it refused", anchors("accept"), anchors("reject"), anchors("ignore"))
	}
	if err := waitFor(ctx, func() bool { _, n := equivocations(t, ctx, th); return n == 3 && equivocationsBy(t, th, "gossip") >= 3 }); err != nil {
		t.Fatal("T never learned of the other equivocations")
	}
	if got := equivocationsBy(t, th, "gossip"); got != 3 {
		t.Errorf("T: aurora_equivocations_total{source=gossip} = %v, want 3", got)
	}

	// W's witness keeps at most provenance.DefaultMaxEvidencePerOrigin
	// records about O's log (it holds two): two more are kept, the next is
	// refused and counted, and still answered 422.
	refused := func() float64 {
		return meshtest.Metric(t, w.Metrics().Registry, "aurora_witness_evidence_refused_total", nil)
	}
	for i := range provenance.DefaultMaxEvidencePerOrigin - 1 {
		cp := meshtest.SignedCheckpoint(t, okey, origin, honest.Size, sha256.Sum256([]byte{byte(i), 'h'}))
		resp, err := http.Post(w.API.Base+"/witness/add-checkpoint", "text/plain", bytes.NewReader(provenance.CosignRequest(honest.Size, nil, cp)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wantRefused := float64(max(0, i+2+1-provenance.DefaultMaxEvidencePerOrigin))
		if resp.StatusCode != 422 || refused() != wantRefused {
			t.Fatalf("conflicting checkpoint %d over HTTP: %d, aurora_witness_evidence_refused_total %v; want 422, %v", i+3, resp.StatusCode, refused(), wantRefused)
		}
	}
}
