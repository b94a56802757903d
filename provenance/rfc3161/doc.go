// Package rfc3161 verifies RFC 3161 time-stamp tokens against trusted
// roots: the CMS signature, a chain from the signing certificate to the
// roots valid at the token's own genTime (so tokens outlive their TSA
// certificate), the RFC 3161 §2.3 rules for that certificate (timeStamping
// as its only extended key usage, in a critical extension; not a CA), the
// ESS signing-certificate attribute, the SHA-256 message imprint, and the
// nonce and policy when known. A failure is a *VerifyError naming the
// check. It also reads PEM trust material.
//
// It is the verifier half of provenance/tsa, which re-exports it next to
// the RFC 3161 client and the dev TSA: it imports only the standard
// library's crypto and encoding (no net/http), so offline verifiers
// (cmd/aurora-verify) link it alone. Error messages keep the "tsa:" prefix.
package rfc3161
