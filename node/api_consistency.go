package node

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/aurora-federation/aurora/provenance"
)

// ConsistencyView is GET /v1/log/consistency: the RFC 6962 consistency
// proof between the log's trees of sizes First ≤ Second. Proof is a list of
// SHA-256 hashes (base64 in JSON); it is empty when First is 0 or equals
// Second.
type ConsistencyView struct {
	First  uint64   `json:"first"`
	Second uint64   `json:"second"`
	Proof  [][]byte `json:"proof"`
}

// consistencyProof is GET /v1/log/consistency?first=N&second=M, for
// 0 ≤ N ≤ M ≤ the latest checkpoint's size: only signed trees, so that
// every proof served is to a tree the log has committed to (and synced).
func (n *Node) consistencyProof(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, vs := range q {
		if (k != "first" && k != "second") || len(vs) != 1 {
			writeError(w, http.StatusBadRequest, "bad_query", queryField(k), "only ?first=SIZE&second=SIZE, each once, are accepted")
			return
		}
	}
	size := func(name string) (uint64, bool) {
		s := q.Get(name)
		if !q.Has(name) {
			writeError(w, http.StatusBadRequest, "bad_query", name, name+": missing (?first=SIZE&second=SIZE)")
			return 0, false
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || strconv.FormatUint(v, 10) != s || v > provenance.MaxTreeSize {
			writeError(w, http.StatusBadRequest, "bad_query", name, fmt.Sprintf("%s: %q is not a tree size (a decimal number, 0 to 2^48)", name, truncate(s, 64)))
			return 0, false
		}
		return v, true
	}
	first, ok := size("first")
	if !ok {
		return
	}
	second, ok := size("second")
	if !ok {
		return
	}
	if first > second {
		writeError(w, http.StatusBadRequest, "bad_query", "first", fmt.Sprintf("first: %d is beyond second %d", first, second))
		return
	}
	var signed uint64
	switch cp, err := n.plog.LatestCheckpoint(r.Context()); {
	case errors.Is(err, provenance.ErrNotFound):
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	default:
		signed = cp.Size
	}
	if second > signed {
		writeError(w, http.StatusBadRequest, "bad_query", "second", fmt.Sprintf("second: %d is beyond the latest checkpoint's size %d", second, signed))
		return
	}
	proof, err := n.plog.ConsistencyProof(r.Context(), first, second)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ConsistencyView{First: first, Second: second, Proof: proof})
}
