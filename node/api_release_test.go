package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
)

func releaseBody(name string) node.ReleaseRequest {
	return node.ReleaseRequest{Name: name, SHA256: strings.Repeat("ab", 32), Signer: strings.Repeat("cd", 20),
		TokensSHA256: []string{strings.Repeat("01", 32), strings.Repeat("02", 32)}}
}

func postRelease(t *testing.T, tn *testNode, token string, body []byte) (int, client.APIError, node.ReleaseResponse) {
	t.Helper()
	c := client.New(tn.api.Base, token)
	var resp node.ReleaseResponse
	err := c.Do(t.Context(), http.MethodPost, "/v1/releases", "application/json", body, &resp)
	var ae *client.APIError
	switch {
	case err == nil:
		return http.StatusCreated, client.APIError{}, resp
	case errors.As(err, &ae):
		return ae.Status, *ae, resp
	}
	t.Fatal(err)
	return 0, client.APIError{}, resp
}

// TestReleaseEndpoint: POST /v1/releases takes the operator token, bounds
// and strictly decodes its body, names the bad field, and appends a release
// leaf to the real node's log whose proof bundle GET
// /v1/releases/{index}/proof serves once its epoch closed: the bundle
// verifies, and its leaf is the release that was posted.
func TestReleaseEndpoint(t *testing.T) {
	t0 := time.Now()
	tn := startNode(t, newConfig())
	t.Logf("node started in %v", time.Since(t0))
	good, err := json.Marshal(releaseBody("aurora-20261207.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	pad := func(n int) []byte { // good, padded with trailing spaces to n bytes
		return append(append([]byte{}, good...), strings.Repeat(" ", n-len(good))...)
	}
	with := func(mut func(r *node.ReleaseRequest)) []byte {
		r := releaseBody("aurora-20261207.tar.gz")
		mut(&r)
		b, _ := json.Marshal(r)
		return b
	}
	tests := []struct {
		name      string
		token     string
		body      []byte
		status    int
		wantField string
	}{
		{"no token", "", good, http.StatusUnauthorized, ""},
		{"wrong token", "nope", good, http.StatusForbidden, ""},
		{"unknown field", tn.token, []byte(`{"name":"a.tar.gz","sha256":"","signer":"","tokens_sha256":[],"extra":1}`), http.StatusBadRequest, "extra"},
		{"wrong type", tn.token, []byte(`{"name":7}`), http.StatusBadRequest, "name"},
		{"trailing data", tn.token, append(append([]byte{}, good...), []byte(`{}`)...), http.StatusBadRequest, "body"},
		{"upper-case digest", tn.token, with(func(r *node.ReleaseRequest) { r.SHA256 = strings.ToUpper(r.SHA256) }), http.StatusBadRequest, "sha256"},
		{"short digest", tn.token, with(func(r *node.ReleaseRequest) { r.SHA256 = "abcd" }), http.StatusBadRequest, "sha256"},
		{"bad token digest", tn.token, with(func(r *node.ReleaseRequest) { r.TokensSHA256[1] = "zz" }), http.StatusBadRequest, "tokens_sha256[1]"},
		{"no tokens", tn.token, with(func(r *node.ReleaseRequest) { r.TokensSHA256 = nil }), http.StatusBadRequest, "tokens_sha256"},
		{"bad name", tn.token, with(func(r *node.ReleaseRequest) { r.Name = "../etc/passwd" }), http.StatusBadRequest, "name"},
		{"bad signer", tn.token, with(func(r *node.ReleaseRequest) { r.Signer = "abc" }), http.StatusBadRequest, "signer"},
		{"body beyond the limit", tn.token, pad(node.MaxReleaseBody + 1), http.StatusRequestEntityTooLarge, "body"},
		{"body at the limit", tn.token, pad(node.MaxReleaseBody), http.StatusCreated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ae, _ := postRelease(t, tn, tt.token, tt.body)
			if status != tt.status || ae.Field != tt.wantField {
				t.Fatalf("status %d field %q (%s), want %d field %q", status, ae.Field, ae.Message, tt.status, tt.wantField)
			}
		})
	}

	start := time.Now()
	status, ae, resp := postRelease(t, tn, tn.token, good)
	if status != http.StatusCreated {
		t.Fatalf("POST /v1/releases: %d %s", status, ae.Message)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	path := fmt.Sprintf("/v1/releases/%d/proof", resp.Index)
	var raw []byte
	for {
		raw, err = tn.api.Raw(ctx, http.MethodGet, path, "", nil)
		if err == nil {
			break
		}
		if !client.IsStatus(err, http.StatusServiceUnavailable) || ctx.Err() != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("proof after %v", time.Since(start))
	b, err := provenance.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if b.Index != resp.Index {
		t.Fatalf("bundle of leaf %d, want %d", b.Index, resp.Index)
	}
	origin := "aurora/testnet/" + tn.n.Identity().PeerID.String()
	rep, err := provenance.VerifyBundle(b, provenance.VerifyOptions{Origin: origin, LogDID: tn.n.Identity().DID, Record: provenance.CheckLeaf})
	if err != nil {
		t.Fatalf("the release bundle does not verify: %v", err)
	}
	rel := rep.Job.Release
	if rel == nil || rel.Name != "aurora-20261207.tar.gz" || fmt.Sprintf("%x", rel.SHA256) != strings.Repeat("ab", 32) || rel.Signer != strings.Repeat("cd", 20) || len(rel.TokensSHA256) != 2 || rel.At != resp.At {
		t.Fatalf("the leaf is %+v, not the posted release", rel)
	}

	// Only JSON.
	for _, ct := range []string{"application/jsonx", "application/cbor", "application/json; v=2"} {
		_, err := client.New(tn.api.Base, tn.token).Raw(t.Context(), http.MethodPost, "/v1/releases", ct, good)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnsupportedMediaType || ae.Field != "content-type" {
			t.Errorf("Content-Type %s: %v, want 415 naming content-type", ct, err)
		}
	}

	// A job's leaf is not a release; an index past the log is not found.
	k := clientKey(t)
	or, err := tn.api.Submit(t.Context(), mustOrder(t, k, spec()))
	if err != nil {
		t.Fatal(err)
	}
	j, err := tn.api.Job(t.Context(), or.Job)
	if err != nil || len(j.Leaves) == 0 {
		t.Fatalf("job: %v %+v", err, j)
	}
	for _, c := range []struct {
		path, code string
		status     int
	}{
		{fmt.Sprintf("/v1/releases/%d/proof", j.Leaves[0]), "not_a_release", http.StatusNotFound},
		{"/v1/releases/99999/proof", "not_found", http.StatusNotFound},
		{"/v1/releases/x/proof", "bad_path", http.StatusBadRequest},
	} {
		_, err := tn.api.Raw(t.Context(), http.MethodGet, c.path, "", nil)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != c.status || ae.Code != c.code {
			t.Errorf("GET %s = %v, want %d %s", c.path, err, c.status, c.code)
		}
	}
}
