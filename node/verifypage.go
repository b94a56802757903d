package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	verifyweb "github.com/aurora-federation/aurora/web/verify"
)

// VerifyPagePath is where the node serves the browser verifier
// (web/verify): the page at /verify, its script and style sheet beside it
// at /verify.js and /verify.css (the page refers to them relatively).
const VerifyPagePath = "/verify"

// verifyPageRoutes serves the browser verifier without authentication: it
// is a static page that verifies in the browser and sends nothing back.
// Every file carries the page's Content-Security-Policy, nosniff, no
// framing and no referrer, and an ETag (its SHA-256) for revalidation.
func verifyPageRoutes(mux *http.ServeMux) {
	for _, f := range verifyweb.Files() {
		path := VerifyPagePath
		if f.Name != "index.html" {
			path += strings.TrimPrefix(f.Name, "verify")
		}
		sum := sha256.Sum256(f.Body)
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", f.ContentType)
			h.Set("Content-Security-Policy", verifyweb.ContentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Cross-Origin-Resource-Policy", "same-origin")
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", etag)
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.Body))
		})
	}
}
