// Package release builds and verifies Aurora's release bundle: a
// reproducible aurora-YYYYMMDD.tar.gz, its SHA256SUMS, an ASCII-armored
// OpenPGP detached signature (v4, RFC 4880 profile, EdDSA over Ed25519 in
// its legacy encoding, which Debian's gpg 2.2 verifies), two RFC 3161
// tokens over the tarball's SHA-256, and a release leaf in the operator's
// provenance log with its inclusion proof (a c2sp.org/tlog-proof bundle).
//
// The tarball is deterministic: entries in byte order of their names,
// directories before their contents, mtimes all set to the release time
// (SOURCE_DATE_EPOCH), uid and gid 0 and owner names "root", modes 0644 or
// 0755 (0755 for directories and for files with any execute bit), and a
// gzip stream with no name and a zero mtime. Two builds from the same
// inputs are byte-identical whatever the files' own mtimes, owners, umask
// or directory order.
//
// Verify runs the chain SHA-256 → OpenPGP signature → RFC 3161 tokens →
// Merkle inclusion of the release leaf and reports one Step per link. The
// same files verify with standard tools:
//
//	sha256sum -c SHA256SUMS
//	gpg --verify aurora-YYYYMMDD.tar.gz.asc aurora-YYYYMMDD.tar.gz
//	openssl ts -verify -digest HEX -in aurora-YYYYMMDD.tar.gz.tsa1.tsr -CAfile roots.pem
//	aurora proof verify --policy trust.policy aurora-YYYYMMDD.tar.gz.tlog-proof
package release
