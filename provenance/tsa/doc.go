// Package tsa obtains and verifies RFC 3161 timestamps for provenance
// checkpoints, and runs a development time-stamping authority.
//
// Each epoch, a node timestamps SHA-256 of its checkpoint note text with two
// independent TSAs (Dual). A token is only ever accepted after Verify: the
// CMS signature, a chain from the signing certificate to configured roots
// valid at the token's own genTime (so tokens outlive their TSA
// certificate), the RFC 3161 §2.3 rules for that certificate (timeStamping
// as its only extended key usage, in a critical extension; not a CA), the
// ESS signing-certificate attribute, the SHA-256 message imprint, and the
// nonce and policy when known. A failure is a *VerifyError naming the check.
// github.com/digitorus/timestamp builds requests and responses; its Parse is
// not used for verification because it checks the signature only against
// the token's embedded certificate and never builds a chain.
//
// Verification is provenance/rfc3161's, re-exported here (verify.go):
// offline verifiers link it without this package's HTTP client.
//
// Tokens are stored as the DER TimeStampResp the TSA returned; Verify also
// accepts a bare TimeStampToken. Both forms verify with OpenSSL:
//
//	openssl ts -verify -digest HEX -in token.tsr -CAfile roots.pem [-untrusted tsa.pem] [-attime UNIX]
//
// # Dev TSA
//
// DevTSA (`aurora tsa serve`, and in-process in the testnet) creates its own
// root CA and TSA certificate in a directory and serves RFC 3161 over HTTP.
// Configure its root.pem as the trust anchor. It is not for production.
//
// # Production TSAs
//
// Production configuration names two independent TSAs (different operators
// and roots), for example FreeTSA plus a commercial or qualified eIDAS TSA.
// CI never contacts them. Facts about FreeTSA as of 2026-11 (check before
// pinning anything):
//
//   - Endpoint: https://freetsa.org/tsr (POST application/timestamp-query).
//   - Root: https://freetsa.org/files/cacert.pem, "Free TSA Root CA"
//     (O=Free TSA, OU=Root CA, CN=www.freetsa.org, L=Wuerzburg, ST=Bayern,
//     C=DE), valid 2016-03-13 to 2041-03-07.
//   - Signing certificate: https://freetsa.org/files/tsa.crt (O=Free TSA,
//     OU=TSA, CN=www.freetsa.org). The RSA certificate valid 2016-03-13 to
//     2026-03-11 has expired; its successor, valid 2026-02-15 to 2040-02-02,
//     uses ECDSA P-384. Keep both: old tokens verify at their genTime.
//   - Its tokens carry the ESS signingCertificate attribute (v1, SHA-1),
//     which Verify accepts alongside v2.
//   - It is a free best-effort service without an SLA: one of two TSAs at
//     most, never a CI dependency.
//
// OpenSSL equivalent for FreeTSA:
//
//	openssl ts -verify -in x.tsr -data f -CAfile cacert.pem -untrusted tsa.crt
package tsa
