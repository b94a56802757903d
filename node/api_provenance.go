package node

import (
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/c2sphttp"
	"github.com/aurora-federation/aurora/provenance/tsa"
)

// Paths of the C2SP endpoints on the API listener.
const (
	// TilesPrefix is the log's C2SP tlog-tiles prefix: <api>/tlog/checkpoint,
	// <api>/tlog/tile/….
	TilesPrefix = "/tlog"
	// WitnessPrefix is the witness's C2SP tlog-witness submission prefix:
	// POST <api>/witness/add-checkpoint.
	WitnessPrefix = "/witness"
)

// TrustView is GET /v1/trust: what this node knows that a verifier needs,
// from which `aurora federation policy` writes a trust-policy file.
type TrustView struct {
	// Origin and LogKey are this node's log: its origin and C2SP verifier
	// key (ORIGIN+HASH+BASE64).
	Origin string `json:"origin"`
	LogKey string `json:"log_key"`
	// Tiles is the path of the log's tlog-tiles prefix on this API.
	Tiles string `json:"tiles"`
	// Witness is this node's own witness (absent without a mesh), and
	// WitnessPath its add-checkpoint prefix on this API.
	Witness     *TrustWitness `json:"witness,omitempty"`
	WitnessPath string        `json:"witness_path,omitempty"`
	// Partners are the parties of this node's active treaties: their logs
	// and their witnesses, whose cosignatures count on this node's
	// checkpoints.
	Partners []TrustPartner `json:"partners"`
	// TSARoots are the DER certificates (base64) of the TSA roots this node
	// verifies its timestamps against; TSAMin the distinct TSAs required.
	TSARoots []string `json:"tsa_roots"`
	TSAMin   int      `json:"tsa_min"`
	// ExternalWitnesses are the witnesses outside the federation this node
	// asks to cosign (provenance.external_witnesses); their cosignatures
	// count like the partners'.
	ExternalWitnesses []TrustExternalWitness `json:"external_witnesses"`
}

// TrustWitness is a witness's key name and C2SP verifier key
// (NAME+HASH+BASE64, type 0x04).
type TrustWitness struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// TrustPartner is a treaty partner's log and witness.
type TrustPartner struct {
	DID     string       `json:"did"`
	Origin  string       `json:"origin"`
	LogKey  string       `json:"log_key"`
	Witness TrustWitness `json:"witness"`
}

// EpochView is one epoch of GET /v1/epochs.
type EpochView struct {
	Epoch uint64 `json:"epoch"`
	// Start and End are the epoch's leaves [start, end).
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
	Jobs  uint64 `json:"jobs"`
	// Root is the CID of the epoch's EpochRoot block (docs/PROVENANCE.md
	// §8), "" until it is pinned.
	Root string `json:"root"`
	// Checkpoint is the cosigned checkpoint note.
	Checkpoint   string `json:"checkpoint"`
	Cosignatures int    `json:"cosignatures"`
	Tokens       int    `json:"tokens"`
	Witnessed    bool   `json:"witnessed"`
	Pinned       bool   `json:"pinned"`
	Announced    bool   `json:"announced"`
	Attested     bool   `json:"attested"`
	ClosedAt     int64  `json:"closed_at"` // unix seconds
}

// apiRoutes mounts the routes beyond the core API: the federation's,
// provenance's and releases'.
func (n *Node) apiRoutes(mux *http.ServeMux, auth func(http.HandlerFunc) http.HandlerFunc) {
	n.federationRoutes(mux, auth)
	n.provenanceRoutes(mux)
	verifyPageRoutes(mux)
	n.equivocationRoutes(mux)
	n.releaseRoutes(mux, auth)
	n.snapshotRoutes(mux, auth)
}

// provenanceRoutes serves the log as C2SP tlog-tiles, the witness as C2SP
// tlog-witness, GET /v1/trust and GET /v1/epochs. The C2SP endpoints answer
// errors with the plain-text bodies those specs use.
func (n *Node) provenanceRoutes(mux *http.ServeMux) {
	tilesH, err := c2sphttp.NewTilesHandler(c2sphttp.TilesConfig{Log: n.plog, Latest: n.plog.LatestCheckpoint, Logger: n.log.With("component", "tiles")})
	if err == nil {
		mux.Handle(TilesPrefix+"/", http.StripPrefix(TilesPrefix, tilesH))
	}
	if n.fed != nil {
		mux.Handle(WitnessPrefix+"/", http.StripPrefix(WitnessPrefix, c2sphttp.NewWitnessHandler(witnessFunc(n.fed.addCheckpoint), n.log.With("component", "witness-http"))))
	}
	mux.HandleFunc("GET /v1/trust", func(w http.ResponseWriter, r *http.Request) {
		v, err := n.trustView()
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /v1/epochs", n.listEpochs)
	mux.HandleFunc("GET /v1/log/consistency", n.consistencyProof)
}

func (n *Node) trustView() (TrustView, error) {
	v := TrustView{Origin: n.plog.Origin(), Tiles: TilesPrefix, Partners: []TrustPartner{}, TSARoots: []string{}, TSAMin: 2, ExternalWitnesses: n.extWit.trust()}
	var err error
	if v.LogKey, err = provenance.LogVerifierKey(v.Origin, n.id.DID); err != nil {
		return v, err
	}
	if n.fed != nil {
		wv := n.fed.witness.Verifier()
		v.Witness, v.WitnessPath = &TrustWitness{Name: wv.Name(), Key: wv.VerifierKey()}, WitnessPrefix
		for _, p := range n.fed.partners() {
			pid, err := mesh.PeerIDOf(p)
			if err != nil {
				continue
			}
			origin := "aurora/" + n.fed.fed + "/" + pid.String()
			lk, err := provenance.LogVerifierKey(origin, p)
			if err != nil {
				continue
			}
			pw, err := provenance.WitnessVerifier(witnessName(pid), p)
			if err != nil {
				continue
			}
			v.Partners = append(v.Partners, TrustPartner{DID: string(p), Origin: origin, LogKey: lk, Witness: TrustWitness{Name: pw.Name(), Key: pw.VerifierKey()}})
		}
	}
	if path := n.opts.Config.Provenance.TSARoots; path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return v, err
		}
		certs, err := tsa.ParseCertificatesPEM(pem)
		if err != nil {
			return v, err
		}
		for _, c := range certs {
			v.TSARoots = append(v.TSARoots, base64.StdEncoding.EncodeToString(c.Raw))
		}
	}
	return v, nil
}

// listEpochs is GET /v1/epochs?limit=N&before=E: the latest epochs first,
// at most limit (default 20, at most 100), those numbered below before.
func (n *Node) listEpochs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, vs := range q {
		if (k != "limit" && k != "before") || len(vs) != 1 {
			writeError(w, http.StatusBadRequest, "bad_query", k, "only ?limit=N and ?before=EPOCH, each once, are accepted")
			return
		}
	}
	limit, err := queryInt(q.Get("limit"), 20, 1, 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", "limit", err.Error())
		return
	}
	latest, err := n.epochs.Latest(r.Context())
	out := []EpochView{}
	if errors.Is(err, provenance.ErrNotFound) {
		writeJSON(w, http.StatusOK, map[string]any{"epochs": out})
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	next := latest.Epoch
	if b := q.Get("before"); b != "" {
		e, err := strconv.ParseUint(b, 10, 64)
		if err != nil || e == 0 || strconv.FormatUint(e, 10) != b {
			writeError(w, http.StatusBadRequest, "bad_query", "before", "want an epoch number (1, 2, …)")
			return
		}
		next = min(next, e-1)
	}
	for ; next > 0 && len(out) < limit; next-- {
		s, err := n.epochs.Epoch(r.Context(), next)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
			return
		}
		tokens := 0
		for _, t := range s.Tokens {
			if t != nil {
				tokens++
			}
		}
		out = append(out, EpochView{Epoch: s.Epoch, Start: s.Start, End: s.End, Jobs: s.Jobs, Root: s.Root, Checkpoint: string(s.Checkpoint),
			Cosignatures: s.Cosigs, Tokens: tokens, Witnessed: s.Witnessed, Pinned: s.Pinned, Announced: s.Announced, Attested: s.Attested,
			ClosedAt: s.ClosedAt.Truncate(time.Second).Unix()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"epochs": out})
}
