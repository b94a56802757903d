package node_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/aurora-federation/aurora/node"
	verifyweb "github.com/aurora-federation/aurora/web/verify"
)

// TestVerifyPage: a node serves the browser verifier without a token: the
// page at /verify and its script and style sheet beside it, each with its
// media type, the page's Content-Security-Policy, nosniff and no framing,
// revalidated by ETag. Other methods get the API's JSON 404.
func TestVerifyPage(t *testing.T) {
	tn := startNode(t, newConfig())
	base := "http://" + tn.n.APIAddr()
	paths := map[string]string{"index.html": node.VerifyPagePath, "verify.js": "/verify.js", "verify.css": "/verify.css"}
	files := verifyweb.Files()
	if len(files) != len(paths) {
		t.Fatalf("%d files, want %d", len(files), len(paths))
	}
	for _, f := range files {
		path := paths[f.Name]
		resp, err := http.Get(base + path) // no Authorization header
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, f.Body) {
			t.Errorf("GET %s: %d, %d bytes (want 200 and the %d bytes of %s)", path, resp.StatusCode, len(body), len(f.Body), f.Name)
		}
		for k, want := range map[string]string{
			"Content-Type":            f.ContentType,
			"Content-Security-Policy": verifyweb.ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, k, got, want)
			}
		}
		sum := sha256.Sum256(f.Body)
		etag := h.Get("ETag")
		if etag != `"`+hex.EncodeToString(sum[:])+`"` {
			t.Fatalf("GET %s: ETag %q, want the file's SHA-256", path, etag)
		}
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: %d, want 304", path, etag, resp.StatusCode)
		}
	}
	for _, c := range []struct{ method, path string }{{http.MethodPost, "/verify"}, {http.MethodGet, "/verify/"}, {http.MethodGet, "/verify/verify.js"}} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e node.ErrorBody
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || err != nil || e.Error.Code != "not_found" {
			t.Errorf("%s %s: %d %+v (%v), want the API's 404 not_found", c.method, c.path, resp.StatusCode, e, err)
		}
	}
}
