package node

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// snapshotTSATimeout bounds each TSA request of a snapshot.
const snapshotTSATimeout = 30 * time.Second

func (n *Node) snapshotRoutes(mux *http.ServeMux, auth func(http.HandlerFunc) http.HandlerFunc) {
	mux.HandleFunc("POST /v1/ledger/snapshot", auth(n.postSnapshot))
	mux.HandleFunc("GET /v1/ledger/snapshots/{index}/proof", n.snapshotProof)
}

// postSnapshot takes a ledger snapshot (POST /v1/ledger/snapshot,
// operator token, no body): a manifest of the latest closed epoch (its
// cosigned checkpoint, root block and job count) and the node's active
// treaties, signed with the node's key, timestamped by both TSAs, pinned
// (nodes with a mesh), and recorded as a snapshot leaf. It answers 201
// with a client.Snapshot; the leaf's proof is GET
// /v1/ledger/snapshots/{index}/proof once its epoch has closed.
func (n *Node) postSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "body", "POST /v1/ledger/snapshot takes no body")
		return
	}
	ctx := r.Context()
	st, err := n.epochs.Latest(ctx)
	if err != nil {
		retry := max(n.opts.Config.Provenance.Epoch.Std(), time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		writeError(w, http.StatusServiceUnavailable, "no_epoch", "", "snapshot: no epoch has closed yet: "+err.Error())
		return
	}
	cp, err := provenance.OpenCheckpoint(st.Checkpoint, n.plog.Origin(), n.plog.Verifier())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", "snapshot: the latest checkpoint: "+err.Error())
		return
	}
	now := n.opts.Clock()
	m := &treaty.SnapshotManifest{V: treaty.Version, Operator: n.id.DID, Origin: cp.Origin, Checkpoint: st.Checkpoint, Size: int64(cp.Size),
		Epoch: int64(st.Epoch), EpochRoot: st.Root, Jobs: int64(st.Jobs), At: now.Unix()}
	if n.fed != nil {
		for _, ti := range n.fed.mesh.List() {
			if ti.State == treaty.StateActive && ti.Treaty.IsParty(n.id.DID) {
				m.Treaties++
			}
		}
	}
	if err := treaty.Sign(m, n.key); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", "snapshot: "+err.Error())
		return
	}
	mcid, data, err := treaty.ID(m)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", "snapshot: "+err.Error())
		return
	}
	digest := sha256.Sum256(data)
	tokens := n.snapshotTokens(ctx, digest)
	pinned := false
	if n.fed != nil {
		c, err := n.fed.ipfs.Put(ctx, data, cid.DagCBOR)
		if err == nil && !c.Equals(mcid) {
			err = fmt.Errorf("stored as %s, not %s", c, mcid)
		}
		if err == nil {
			err = n.fed.ipfs.PinRecursive(ctx, mcid)
		}
		if err != nil {
			n.log.WarnContext(ctx, "snapshot manifest not pinned", "cid", mcid, "err", err)
		} else {
			pinned = true
		}
	}
	e := &treaty.SnapshotEntry{V: treaty.Version, Manifest: treaty.LinkTo(mcid), SHA256: digest[:], At: now.Unix()}
	for _, t := range tokens {
		d := sha256.Sum256(t)
		e.TokensSHA256 = append(e.TokensSHA256, d[:])
	}
	leaf, err := treaty.Encode(&treaty.LogEntry{Snapshot: e})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", "snapshot: "+err.Error())
		return
	}
	idx, err := n.plog.Append(ctx, leaf)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "log_unavailable", "", "snapshot: append to the log: "+err.Error())
		return
	}
	resp := client.Snapshot{Index: idx, CID: mcid.String(), Manifest: base64.StdEncoding.EncodeToString(data), Pinned: pinned, At: now.Unix(), Tokens: []string{}}
	for _, t := range tokens {
		resp.Tokens = append(resp.Tokens, base64.StdEncoding.EncodeToString(t))
	}
	n.log.InfoContext(ctx, "ledger snapshot", "cid", mcid, "epoch", st.Epoch, "size", cp.Size, "tokens", len(tokens), "pinned", pinned, "index", idx)
	writeJSON(w, http.StatusCreated, resp)
}

// snapshotTokens asks each configured TSA for a token over digest; a TSA
// that fails is logged and left out (the response says how many).
func (n *Node) snapshotTokens(ctx context.Context, digest [32]byte) [][]byte {
	var out [][]byte
	for i, ts := range n.tsas {
		if ts == nil {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, snapshotTSATimeout)
		tok, err := ts.Timestamp(tctx, digest)
		cancel()
		if err != nil {
			n.log.WarnContext(ctx, "snapshot: a TSA failed", "tsa", i, "err", err)
			continue
		}
		out = append(out, tok)
	}
	return out
}

// snapshotProof serves the proof bundle of a snapshot leaf, as
// GET /v1/releases/{index}/proof does for a release leaf.
func (n *Node) snapshotProof(w http.ResponseWriter, r *http.Request) {
	n.leafProof(w, r, "snapshot", func(e *treaty.LogEntry) bool { return e.Snapshot != nil })
}

// leafProof serves the proof bundle of the leaf at the path's {index} when
// is says it is of the kind: 404 otherwise, 503 with Retry-After until its
// epoch has closed.
func (n *Node) leafProof(w http.ResponseWriter, r *http.Request, kind string, is func(*treaty.LogEntry) bool) {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_path", "index", "index: want a leaf index (a decimal integer)")
		return
	}
	if idx >= n.plog.Size() {
		writeError(w, http.StatusNotFound, "not_found", "index", fmt.Sprintf("leaf %d: the log has %d leaves", idx, n.plog.Size()))
		return
	}
	leaf, err := n.plog.Leaf(r.Context(), idx)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	var e treaty.LogEntry
	if err := treaty.Decode(leaf, &e); err != nil || !is(&e) {
		writeError(w, http.StatusNotFound, "not_a_"+kind, "index", fmt.Sprintf("leaf %d is not a %s entry", idx, kind))
		return
	}
	b, err := n.epochs.Bundle(r.Context(), idx)
	if err != nil {
		if errors.Is(err, provenance.ErrNotFound) {
			retry := max(n.opts.Config.Provenance.Epoch.Std(), time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			writeError(w, http.StatusServiceUnavailable, "proof_unavailable", "", err.Error())
			return
		}
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	out, err := b.Marshal()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(out)
}
