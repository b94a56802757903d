package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aurora-federation/aurora/treaty"
)

// MaxReleaseBody bounds POST /v1/releases: a name, two hex digests per
// token, a fingerprint; 8 tokens fit in under 1 KiB.
const MaxReleaseBody = 4 << 10

// ReleaseRequest is POST /v1/releases: a release bundle the operator
// publishes, to be recorded as a release leaf in this node's log.
type ReleaseRequest struct {
	// Name is the tarball's file name, e.g. aurora-20261207.tar.gz.
	Name string `json:"name"`
	// SHA256 is the tarball's SHA-256 in lowercase hex.
	SHA256 string `json:"sha256"`
	// Signer is the OpenPGP v4 fingerprint of the signing key (40
	// lowercase hex digits).
	Signer string `json:"signer"`
	// TokensSHA256 are the SHA-256 (hex) of each RFC 3161 token over the
	// tarball.
	TokensSHA256 []string `json:"tokens_sha256"`
}

// ReleaseResponse answers POST /v1/releases: the leaf's index. Its proof
// is GET /v1/releases/{index}/proof once its epoch has closed.
type ReleaseResponse struct {
	Index uint64 `json:"index"`
	At    int64  `json:"at"`
}

// releaseRoutes mounts POST /v1/releases (operator token) and GET
// /v1/releases/{index}/proof.
func (n *Node) releaseRoutes(mux *http.ServeMux, auth func(http.HandlerFunc) http.HandlerFunc) {
	mux.HandleFunc("POST /v1/releases", auth(n.postRelease))
	mux.HandleFunc("GET /v1/releases/{index}/proof", n.releaseProof)
}

func (n *Node) postRelease(w http.ResponseWriter, r *http.Request) {
	if ct, ok := mediaType(r.Header.Get("Content-Type")); !ok || (ct != "" && ct != ctJSON) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "content-type",
			fmt.Sprintf("content type %q: POST /v1/releases takes %s", truncate(r.Header.Get("Content-Type"), 128), ctJSON))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxReleaseBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "body", fmt.Sprintf("a release request is at most %d bytes", MaxReleaseBody))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", "body", err.Error())
		return
	}
	var req ReleaseRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", jsonField(err), "release request: "+err.Error())
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "body", "release request: trailing data after the JSON object")
		return
	}
	now := n.opts.Clock()
	e := &treaty.ReleaseEntry{V: treaty.ReleaseVersion, Name: req.Name, Signer: req.Signer, At: now.Unix()}
	if e.SHA256, err = hexField(req.SHA256); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "sha256", "sha256: "+err.Error())
		return
	}
	for i, d := range req.TokensSHA256 {
		b, err := hexField(d)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("tokens_sha256[%d]", i), "tokens_sha256: "+err.Error())
			return
		}
		e.TokensSHA256 = append(e.TokensSHA256, b)
	}
	entry := &treaty.LogEntry{Release: e}
	if err := entry.Validate(); err != nil {
		field := ""
		var ve *treaty.ValidationError
		if errors.As(err, &ve) {
			field = strings.TrimPrefix(ve.Field, "release.")
		}
		writeError(w, http.StatusBadRequest, "invalid", field, err.Error())
		return
	}
	leaf, err := treaty.Encode(entry)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	idx, err := n.plog.Append(r.Context(), leaf)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "log_unavailable", "", "release: append to the log: "+err.Error())
		return
	}
	n.log.InfoContext(r.Context(), "release logged", "name", e.Name, "sha256", req.SHA256, "signer", e.Signer, "index", idx)
	writeJSON(w, http.StatusCreated, ReleaseResponse{Index: idx, At: e.At})
}

// releaseProof serves the proof bundle of a release leaf, like a job's
// (GET /v1/jobs/{id}/proof): 404 if the leaf is not a release entry, 503
// with Retry-After until its epoch has closed.
func (n *Node) releaseProof(w http.ResponseWriter, r *http.Request) {
	n.leafProof(w, r, "release", func(e *treaty.LogEntry) bool { return e.Release != nil })
}

func hexField(s string) ([]byte, error) {
	if strings.ToLower(s) != s {
		return nil, errors.New("want lowercase hex")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("want lowercase hex")
	}
	return b, nil
}

// jsonField names the JSON field a decode error is about ("" if unknown).
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if s, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(s, `"`)
	}
	return "body"
}
