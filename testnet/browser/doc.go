// Package browser holds the tests of the browser verifier (web/verify) in a
// real headless Chromium: a two-node federation on loopback produces a job's
// proof bundle and trust policy, the node serves the page at /verify, and
// the page's verdicts on the good bundle and on tampered ones are compared
// with the Go verifier's (provenance.VerifyBundle). They need Debian's
// chromium at /usr/bin/chromium; `make test-browser` (which .ci/run runs
// after installing it) fails without it, `go test -short` skips.
package browser
