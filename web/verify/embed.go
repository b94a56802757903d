// Package verifyweb holds Aurora's browser verifier: a static page
// (index.html, verify.js, verify.css) that verifies a proof bundle against a
// trust-policy file client-side, with the checks of `aurora-verify --policy`
// (docs/PROVENANCE.md, "Verifying in a browser"). The page refers to its
// script and style sheet by relative URL, so it works opened from a file as
// well as served: a server serves the three files side by side (the node at
// /verify, /verify.js and /verify.css) with ContentSecurityPolicy.
//
// The package imports nothing of Aurora; node imports it.
package verifyweb

import "embed"

// ContentSecurityPolicy is the policy the page is written for: its own
// script and style sheet only, no inline code, no network requests of any
// kind, no frames, forms or plugins, and Trusted Types enforced (the script
// builds the DOM with textContent only).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// File is one file of the page.
type File struct {
	// Name is the file's name in this directory ("index.html").
	Name string
	// ContentType is its media type with charset.
	ContentType string
	// Body is its content. Callers must not modify it.
	Body []byte
}

//go:embed index.html verify.js verify.css
var files embed.FS

// Files returns the page's files, index.html first. Each call reads the
// embedded copies; the result is the caller's.
func Files() []File {
	out := []File{
		{Name: "index.html", ContentType: "text/html; charset=utf-8"},
		{Name: "verify.js", ContentType: "text/javascript; charset=utf-8"},
		{Name: "verify.css", ContentType: "text/css; charset=utf-8"},
	}
	for i := range out {
		b, err := files.ReadFile(out[i].Name)
		if err != nil {
			// The names are the embed directive's: a missing file fails the build.
			panic("verifyweb: " + err.Error())
		}
		out[i].Body = b
	}
	return out
}
