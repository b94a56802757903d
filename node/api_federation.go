package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/treaty"
)

// TreatyView is a treaty as the API shows it.
type TreatyView struct {
	CID      string          `json:"cid"`
	State    string          `json:"state"`
	Template string          `json:"template"`
	Parties  []string        `json:"parties"`
	Signed   []string        `json:"signed"`
	Seq      int64           `json:"seq"`
	NotAfter int64           `json:"not_after"`
	Treaty   json.RawMessage `json:"treaty,omitempty"` // dag-json, on GET /v1/treaties/{cid} and POST answers
}

func treatyView(ti mesh.TreatyInfo, full bool) TreatyView {
	v := TreatyView{CID: ti.CID.String(), State: string(ti.State), Template: ti.Treaty.Template, Seq: ti.Treaty.Seq,
		NotAfter: ti.Treaty.NotAfter, Parties: []string{}, Signed: []string{}}
	for _, p := range ti.Treaty.Parties {
		v.Parties = append(v.Parties, string(p))
	}
	for _, p := range ti.Signed {
		v.Signed = append(v.Signed, string(p))
	}
	if full {
		if js, err := treaty.EncodeJSON(ti.Treaty); err == nil {
			v.Treaty = js
		}
	}
	return v
}

// ProposeRequest is POST /v1/treaties: a proposal from a template, or a
// treaty signed elsewhere (dag-json) to store and gossip.
type ProposeRequest struct {
	Template string            `json:"template,omitempty"`
	Peer     string            `json:"peer,omitempty"`
	Set      map[string]string `json:"set,omitempty"`
	Treaty   json.RawMessage   `json:"treaty,omitempty"`
}

func (n *Node) federationRoutes(mux *http.ServeMux, auth func(http.HandlerFunc) http.HandlerFunc) {
	if n.fed == nil {
		off := func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "no_mesh", "", "this node runs without a mesh (p2p.listen is empty)")
		}
		for _, p := range []string{"GET /v1/treaties", "POST /v1/treaties", "GET /v1/treaties/{cid}", "POST /v1/treaties/{cid}/sign", "POST /v1/treaties/{cid}/revoke", "GET /v1/peers"} {
			mux.HandleFunc(p, off)
		}
		return
	}
	m := n.fed.mesh
	mux.HandleFunc("GET /v1/treaties", func(w http.ResponseWriter, r *http.Request) {
		out := []TreatyView{}
		for _, ti := range m.List() {
			out = append(out, treatyView(ti, false))
		}
		writeJSON(w, http.StatusOK, map[string]any{"treaties": out})
	})
	mux.HandleFunc("GET /v1/treaties/{cid}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathCID(w, r)
		if !ok {
			return
		}
		ti, err := m.Get(id)
		if err != nil {
			writeError(w, http.StatusNotFound, "not_found", "cid", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, treatyView(ti, true))
	})
	mux.HandleFunc("POST /v1/treaties", auth(func(w http.ResponseWriter, r *http.Request) {
		var req ProposeRequest
		if !decodeStrict(w, r, 64<<10, &req) {
			return
		}
		var id treaty.Link
		var err error
		switch {
		case len(req.Treaty) > 0 && req.Template == "" && req.Peer == "":
			var t treaty.Treaty
			if err := treaty.DecodeJSON(req.Treaty, &t); err != nil {
				field := "treaty"
				var ve *treaty.ValidationError
				if errors.As(err, &ve) && ve.Field != "" {
					field = "treaty." + ve.Field
				}
				writeError(w, http.StatusBadRequest, "bad_record", field, err.Error())
				return
			}
			id, err = m.Submit(r.Context(), &t)
		case req.Template != "" && req.Peer != "" && len(req.Treaty) == 0:
			peerDID, perr := treaty.ParseDID(req.Peer)
			if perr != nil {
				writeError(w, http.StatusBadRequest, "bad_request", "peer", perr.Error())
				return
			}
			t, terr := treaty.FromTemplate(treaty.Proposal{Template: req.Template, Federation: n.fed.fed, Proposer: n.id.DID, Peer: peerDID, Now: n.opts.Clock(), Set: req.Set})
			if terr != nil {
				var ve *treaty.ValidationError
				field := "set"
				if errors.As(terr, &ve) {
					field = ve.Field
				}
				writeError(w, http.StatusBadRequest, "bad_request", field, terr.Error())
				return
			}
			id, err = m.Propose(r.Context(), t)
		default:
			writeError(w, http.StatusBadRequest, "bad_request", "body", `send {"template","peer","set"} to propose, or {"treaty"} to submit a signed treaty`)
			return
		}
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "rejected", "treaty", err.Error())
			return
		}
		n.writeTreaty(w, id)
	}))
	mux.HandleFunc("POST /v1/treaties/{cid}/sign", auth(func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathCID(w, r)
		if !ok {
			return
		}
		if err := m.Countersign(r.Context(), id); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "rejected", "cid", err.Error())
			return
		}
		n.writeTreaty(w, id)
	}))
	mux.HandleFunc("POST /v1/treaties/{cid}/revoke", auth(func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathCID(w, r)
		if !ok {
			return
		}
		var req struct {
			Reason string `json:"reason"`
		}
		if !decodeStrict(w, r, 4<<10, &req) {
			return
		}
		if err := m.Revoke(r.Context(), id, req.Reason); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "rejected", "cid", err.Error())
			return
		}
		n.writeTreaty(w, id)
	}))
	mux.HandleFunc("GET /v1/peers", func(w http.ResponseWriter, r *http.Request) {
		type peerView struct {
			DID       string   `json:"did"`
			PeerID    string   `json:"peer_id"`
			Addrs     []string `json:"addrs"`
			Connected bool     `json:"connected"`
			Treaties  []string `json:"treaties"`
			Score     float64  `json:"score"`
		}
		out := []peerView{}
		for _, p := range m.Peers() {
			v := peerView{DID: string(p.DID), PeerID: p.ID.String(), Connected: p.Connected, Score: p.Score, Addrs: []string{}, Treaties: []string{}}
			for _, a := range p.Addrs {
				v.Addrs = append(v.Addrs, a.String())
			}
			for _, t := range p.Treaties {
				v.Treaties = append(v.Treaties, t.String())
			}
			out = append(out, v)
		}
		writeJSON(w, http.StatusOK, map[string]any{"peers": out})
	})
}

func (n *Node) writeTreaty(w http.ResponseWriter, id treaty.Link) {
	ti, err := n.fed.mesh.Get(id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, treatyView(ti, true))
}

func pathCID(w http.ResponseWriter, r *http.Request) (treaty.Link, bool) {
	c, err := cid.Decode(r.PathValue("cid"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "cid", "not a CID: "+err.Error())
		return treaty.Link{}, false
	}
	return treaty.LinkTo(c), true
}

// decodeStrict decodes a bounded JSON body, rejecting duplicate keys,
// unknown fields and trailing data, each a 400 naming the field.
func decodeStrict(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if ct, ok := mediaType(r.Header.Get("Content-Type")); !ok || (ct != "" && ct != ctJSON) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "content-type", fmt.Sprintf("content type %q: send %s", truncate(r.Header.Get("Content-Type"), 128), ctJSON))
		return false
	}
	body, ok := readBody(w, r, limit)
	if !ok {
		return false
	}
	if path, err := duplicateKey(body); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "body", "body: "+err.Error())
		return false
	} else if path != "" {
		writeError(w, http.StatusBadRequest, "bad_request", path, fmt.Sprintf("body: duplicate key %q", path))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		field := "body"
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			field = te.Field
		case strings.HasPrefix(err.Error(), "json: unknown field \""):
			field = strings.TrimSuffix(strings.TrimPrefix(err.Error(), "json: unknown field \""), "\"")
		}
		writeError(w, http.StatusBadRequest, "bad_request", field, "body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "body", "body: trailing data")
		return false
	}
	return true
}

// duplicateKey returns the path ("set.region") of the first key that
// appears twice in one JSON object of body, or "" if none does; err
// reports JSON that does not parse.
func duplicateKey(body []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var walk func(path string) (string, error)
	walk = func(path string) (string, error) {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return "", nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", err
				}
				k, _ := kt.(string)
				p := k
				if path != "" {
					p = path + "." + k
				}
				if seen[k] {
					return p, nil
				}
				seen[k] = true
				if dup, err := walk(p); dup != "" || err != nil {
					return dup, err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if dup, err := walk(fmt.Sprintf("%s[%d]", path, i)); dup != "" || err != nil {
					return dup, err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return "", err
	}
	return walk("")
}
