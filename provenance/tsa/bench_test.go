package tsa_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/aurora-federation/aurora/provenance/tsa"
)

// BenchmarkVerify verifies the golden tokens (P-256, dev TSA and OpenSSL).
func BenchmarkVerify(b *testing.B) {
	digest := sha256.Sum256([]byte(goldenData))
	for _, name := range goldenVectors {
		b.Run(name, func(b *testing.B) {
			tok, err := os.ReadFile(filepath.Join(goldenDir(name), "token.tsr"))
			if err != nil {
				b.Fatal(err)
			}
			roots, err := tsa.LoadCertificates(filepath.Join(goldenDir(name), "root.pem"))
			if err != nil {
				b.Fatal(err)
			}
			opts := tsa.VerifyOptions{Roots: poolOf(roots...)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tsa.Verify(tok, digest, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDevTSATimestamp issues and verifies one token in process.
func BenchmarkDevTSATimestamp(b *testing.B) {
	d, err := tsa.NewDevTSA(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte(goldenData))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Timestamp(b.Context(), digest); err != nil {
			b.Fatal(err)
		}
	}
}
