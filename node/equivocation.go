package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// equivocationPenalty is what one piece of evidence costs the offender's
// peer score: this many broken promises (providers.PeerUnfilled), enough to
// take a peer with a perfect record from 1000 to about 400 permille and a
// peer never observed from the prior (800) to about 110. Like any evidence
// in the reputation it fades with the half-life; the evidence itself stays.
const equivocationPenalty = 20

// equivocations is what the node does about a log caught signing two
// checkpoints that cannot both be honest: it keeps and gossips the evidence
// (through the mesh), counts it in aurora_equivocations_total{source},
// lowers the offender's peer score and serves the evidence on
// GET /v1/equivocations. Safe for concurrent use once mesh is set.
type equivocations struct {
	rep   *providers.Reputation
	me    treaty.DID
	log   *slog.Logger
	total *prometheus.CounterVec

	// mesh keeps and gossips the evidence: set once it is built, before it
	// starts.
	mesh *mesh.Mesh
}

func newEquivocations(reg prometheus.Registerer, rep *providers.Reputation, me treaty.DID, log *slog.Logger) (*equivocations, error) {
	q := &equivocations{rep: rep, me: me, log: log, total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aurora_equivocations_total",
		Help: "Pieces of verified evidence that a log signed two conflicting checkpoints, stored by this node, by how it learned of them: " +
			"witness (its witness was asked to cosign a conflicting checkpoint), anchor (an anchor contradicted the witness's stored checkpoint or another anchor of the same size), " +
			"gossip (a peer's evidence, by gossip or sync).",
	}, []string{"source"})}
	for _, s := range []string{mesh.SourceWitness, mesh.SourceAnchor, mesh.SourceGossip} {
		q.total.WithLabelValues(s)
	}
	if err := reg.Register(q.total); err != nil {
		return nil, fmt.Errorf("node: equivocation metrics: %w", err)
	}
	return q, nil
}

// caught keeps and gossips evidence this node found itself.
func (q *equivocations) caught(ctx context.Context, ev provenance.Evidence, source string) {
	e, fresh, err := q.mesh.PublishEvidence(ctx, ev, source)
	if err != nil {
		q.log.Error("equivocation evidence not kept or not gossiped", "origin", ev.Origin, "source", source, "err", err)
	}
	if fresh {
		q.account(e)
	}
}

// learned is the mesh's OnEquivocation: evidence it verified and kept from
// a peer or from two anchors.
func (q *equivocations) learned(e *mesh.Equivocation) { q.account(e) }

func (q *equivocations) account(e *mesh.Equivocation) {
	q.total.WithLabelValues(e.Source).Inc()
	if e.Offender != q.me {
		for range equivocationPenalty {
			q.rep.ObservePeerOutcome(e.Offender, providers.PeerUnfilled, -1)
		}
	}
	q.log.Warn("log equivocated", "origin", e.Evidence.Origin, "offender", string(e.Offender), "size_a", e.SizeA, "size_b", e.SizeB,
		"source", e.Source, "from", string(e.From), "evidence", e.ID.String())
}

// addCheckpoint is the witness, on the libp2p stream and over HTTP: an
// equivocation it detects is kept and gossiped as evidence.
func (f *federation) addCheckpoint(ctx context.Context, body []byte) ([]byte, error) {
	resp, err := f.witness.AddCheckpoint(ctx, body)
	var eq *provenance.EquivocationError
	if errors.As(err, &eq) {
		f.eq.caught(context.WithoutCancel(ctx), eq.Evidence, mesh.SourceWitness)
	}
	return resp, err
}

// witnessFunc adapts a function to c2sphttp.Witness.
type witnessFunc func(ctx context.Context, body []byte) ([]byte, error)

func (w witnessFunc) AddCheckpoint(ctx context.Context, body []byte) ([]byte, error) {
	return w(ctx, body)
}

// checkAnchor compares a peer's verified anchor checkpoint with what our
// witness cosigned for that log (our partners' logs): the same size with
// another root is an equivocation, kept and gossiped, and the anchor is
// refused (rejected when the log's own operator sent it, ignored when
// relayed). Other sizes need a consistency proof, which the log must give
// our witness before it cosigns again.
func (f *federation) checkAnchor(ctx context.Context, from, owner treaty.DID, cp provenance.Checkpoint) error {
	stored, err := f.witness.Latest(ctx, cp.Origin)
	if err != nil || stored.Size != cp.Size || stored.Root == cp.Root {
		return nil
	}
	f.eq.caught(ctx, provenance.Evidence{Origin: cp.Origin, A: stored.Note, B: cp.Note}, mesh.SourceAnchor)
	err = fmt.Errorf("node: anchor of %s at size %d contradicts the checkpoint our witness cosigned: the log equivocated", cp.Origin, cp.Size)
	if from == owner {
		return err
	}
	return fmt.Errorf("%w: %w", mesh.ErrIgnore, err)
}

// EquivocationView is one record of GET /v1/equivocations: the evidence
// (docs/PROVENANCE.md §6) and what this node knows of it.
type EquivocationView struct {
	// ID is the CID of the evidence's dag-cbor; Evidence that dag-cbor
	// (base64), verifiable offline with the origin's log key.
	ID       string `json:"id"`
	Evidence string `json:"evidence"`
	Origin   string `json:"origin"`
	// Offender is the DID whose log key signed both checkpoints, and
	// OffenderReputation its peer score here now (permille).
	Offender           string `json:"offender"`
	OffenderReputation int64  `json:"offender_reputation"`
	// A and B are the two signed checkpoint notes (SizeA ≤ SizeB); Proof
	// the seeded consistency proof between them (base64 hashes, empty for
	// equal sizes).
	SizeA uint64   `json:"size_a"`
	SizeB uint64   `json:"size_b"`
	A     string   `json:"a"`
	B     string   `json:"b"`
	Proof []string `json:"proof"`
	// Source is how this node learned of it (witness, anchor, gossip),
	// From the peer that relayed it ("" when found here), At when it was
	// stored (unix seconds).
	Source string `json:"source"`
	From   string `json:"from,omitempty"`
	At     int64  `json:"at"`
}

// equivocationRoutes serves GET /v1/equivocations.
func (n *Node) equivocationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/equivocations", n.listEquivocations)
}

// listEquivocations is GET /v1/equivocations?limit=N: the evidence this
// node keeps, newest first, at most limit (default 20, at most 100), and
// how many it keeps in all.
func (n *Node) listEquivocations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, vs := range q {
		if k != "limit" || len(vs) != 1 {
			writeError(w, http.StatusBadRequest, "bad_query", k, "only ?limit=N, once, is accepted")
			return
		}
	}
	limit, err := queryInt(q.Get("limit"), 20, 1, 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", "limit", err.Error())
		return
	}
	out := []EquivocationView{}
	var all []*mesh.Equivocation
	if n.fed != nil {
		all = n.fed.mesh.Equivocations()
	}
	rep := n.router.Reputation()
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		e := all[i]
		raw, err := e.Evidence.Marshal()
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
			return
		}
		proof := make([]string, 0, len(e.Evidence.Proof))
		for _, h := range e.Evidence.Proof {
			proof = append(proof, base64.StdEncoding.EncodeToString(h))
		}
		out = append(out, EquivocationView{ID: e.ID.String(), Evidence: base64.StdEncoding.EncodeToString(raw), Origin: e.Evidence.Origin,
			Offender: string(e.Offender), OffenderReputation: rep.PeerScore(e.Offender), SizeA: e.SizeA, SizeB: e.SizeB,
			A: string(e.Evidence.A), B: string(e.Evidence.B), Proof: proof, Source: e.Source, From: string(e.From), At: e.At.Truncate(time.Second).Unix()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"equivocations": out, "total": len(all)})
}

// PeerReputation returns this node's peer score of d in permille (the
// reputation's prior for a peer never observed).
func (n *Node) PeerReputation(d treaty.DID) int64 { return n.router.Reputation().PeerScore(d) }
