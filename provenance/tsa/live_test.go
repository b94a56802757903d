package tsa_test

import (
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
)

// TestLiveFreeTSA asks FreeTSA for a real token. It runs only with
// PROV_LIVE_TSA=1: CI has no network and must never depend on a free
// best-effort service.
func TestLiveFreeTSA(t *testing.T) {
	if os.Getenv("PROV_LIVE_TSA") != "1" {
		t.Skip("set PROV_LIVE_TSA=1 to contact https://freetsa.org")
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	fetch := func(url string) []byte {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, tsa.MaxPEMSize))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", url, resp.StatusCode, err)
		}
		return b
	}
	roots, err := tsa.CertPoolFromPEM(fetch("https://freetsa.org/files/cacert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	signers, err := tsa.ParseCertificatesPEM(fetch("https://freetsa.org/files/tsa.crt"))
	if err != nil {
		t.Fatal(err)
	}
	c := &tsa.Client{URL: "https://freetsa.org/tsr", HTTPClient: hc, Roots: roots, Intermediates: signers}
	digest := tsatest.Digest("aurora live TSA test\n")
	tok, err := c.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := tsa.Verify(tok, digest, tsa.VerifyOptions{Roots: roots, Intermediates: signers})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FreeTSA token: genTime %v, signer %q, %d bytes", info.GenTime, info.Signer.Subject, len(tok))
}
