package tsa_test

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
	"github.com/digitorus/timestamp"
)

// goldenSeeds adds every golden token and root to f and returns the roots.
func goldenSeeds(f *testing.F, file string) []*x509.Certificate {
	f.Helper()
	var roots []*x509.Certificate
	for _, name := range goldenVectors {
		b, err := os.ReadFile(filepath.Join(goldenDir(name), file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if c, err := tsa.LoadCertificates(filepath.Join(goldenDir(name), "root.pem")); err == nil {
			roots = append(roots, c...)
		}
	}
	return roots
}

// FuzzVerify feeds arbitrary bytes to the response/token parser and
// verifier. Seeds: the golden tokens (dev TSA and OpenSSL), a rejection, and
// tokens without certificates or with an intermediate.
func FuzzVerify(f *testing.F) {
	roots := goldenSeeds(f, "token.tsr")
	digest := sha256.Sum256([]byte(goldenData))
	p := tsatest.NewPKI(f, tsatest.Options{Intermediate: true})
	roots = append(roots, p.Root)
	f.Add(p.Response(f, digest[:], tsatest.TokenOptions{Nonce: big.NewInt(1)}))
	f.Add(p.Response(f, digest[:], tsatest.TokenOptions{OmitCertificates: true}))
	rej, err := timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadDataFormat)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rej)
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	pool := poolOf(roots...)
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := tsa.Verify(data, digest, tsa.VerifyOptions{Roots: pool, Intermediates: []*x509.Certificate{p.Leaf, p.Intermediate}})
		if err != nil {
			if info != nil {
				t.Fatal("error with info")
			}
			if tsa.FailedCheck(err) == "" {
				t.Fatalf("error names no check: %v", err)
			}
			return
		}
		// Accepted: the bare token must verify the same way.
		again, err := tsa.Verify(info.Token, digest, tsa.VerifyOptions{Roots: pool, Intermediates: []*x509.Certificate{p.Leaf, p.Intermediate}})
		if err != nil || !again.GenTime.Equal(info.GenTime) {
			t.Fatalf("accepted token's bare form: %v", err)
		}
	})
}

// FuzzRespond feeds arbitrary requests to the dev TSA: it must always answer
// with a response, and a granted one must verify over the request's imprint.
func FuzzRespond(f *testing.F) {
	d, err := tsa.NewDevTSA(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	digest := sha256.Sum256([]byte(goldenData))
	for _, r := range []timestamp.Request{
		{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Certificates: true, Nonce: big.NewInt(99)},
		{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], TSAPolicyOID: tsa.DevPolicyOID()},
		{HashAlgorithm: crypto.SHA1, HashedMessage: digest[:20]},
	} {
		b, err := r.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, err := d.Respond(req)
		if resp == nil {
			t.Fatalf("no response: %v", err)
		}
		if err != nil {
			return
		}
		parsed, perr := timestamp.ParseRequest(req)
		if perr != nil {
			t.Fatalf("dev TSA granted a request digitorus cannot parse: %v", perr)
		}
		if parsed.HashAlgorithm != crypto.SHA256 {
			return
		}
		var dg [32]byte
		copy(dg[:], parsed.HashedMessage)
		if _, err := tsa.Verify(resp, dg, tsa.VerifyOptions{Roots: d.Roots(), Nonce: parsed.Nonce, Intermediates: []*x509.Certificate{d.Certificate()}}); err != nil {
			t.Fatalf("granted response does not verify: %v", err)
		}
	})
}

// FuzzParseCertificatesPEM feeds arbitrary trust-anchor files to the PEM
// parser.
func FuzzParseCertificatesPEM(f *testing.F) {
	goldenSeeds(f, "root.pem")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("junk\n-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := tsa.ParseCertificatesPEM(data)
		if err != nil {
			if certs != nil {
				t.Fatal("error with certificates")
			}
			return
		}
		if len(certs) == 0 || len(certs) > tsa.MaxPEMCerts {
			t.Fatalf("%d certificates accepted", len(certs))
		}
	})
}
