package tsa_test

import (
	"crypto/x509"
	"errors"
	"testing"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
)

func TestCheckDistinctURLs(t *testing.T) {
	tests := []struct {
		name     string
		a, b     string
		wantSame bool
		wantErr  bool
	}{
		{"different hosts", "https://freetsa.org/tsr", "http://timestamp.digicert.com", false, false},
		{"same", "https://freetsa.org/tsr", "https://freetsa.org/tsr", true, false},
		{"case and default port", "HTTPS://FreeTSA.org:443/tsr/", "https://freetsa.org/tsr", true, false},
		{"different paths", "https://tsa.example/a", "https://tsa.example/b", false, false},
		{"different ports", "http://127.0.0.1:8001/", "http://127.0.0.1:8002/", false, false},
		{"not http", "ftp://tsa.example", "https://tsa.example", false, true},
		{"relative", "/tsr", "https://tsa.example", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tsa.CheckDistinctURLs(tt.a, tt.b)
			var same *tsa.SameTSAError
			switch {
			case tt.wantSame:
				if !errors.As(err, &same) || !errors.Is(err, tsa.ErrSameTSA) {
					t.Fatalf("err = %v, want *SameTSAError", err)
				}
			case tt.wantErr:
				if err == nil || errors.As(err, &same) {
					t.Fatalf("err = %v, want a URL error", err)
				}
			case err != nil:
				t.Fatal(err)
			}
		})
	}
}

func TestCheckDistinctSigners(t *testing.T) {
	a, b := newDevTSA(t, nil), newDevTSA(t, nil)
	roots := x509.NewCertPool()
	for _, d := range []*tsa.DevTSA{a, b} {
		roots.AddCert(d.Root())
	}
	opts := tsa.VerifyOptions{Roots: roots}
	if err := tsa.CheckDistinctSigners(t.Context(), [2]string{"a", "b"}, [2]tsa.Timestamper{a, b}, opts); err != nil {
		t.Fatalf("two dev TSAs: %v", err)
	}
	err := tsa.CheckDistinctSigners(t.Context(), [2]string{"a", "a-again"}, [2]tsa.Timestamper{a, a}, opts)
	if !errors.Is(err, tsa.ErrSameTSA) {
		t.Fatalf("one TSA under two names: %v", err)
	}
	// The verifier names signers by key, so a token twice is one TSA.
	v := tsa.Verifier{Opts: opts}
	d := tsatest.Digest("cp")
	tokA, _ := a.Timestamp(t.Context(), d)
	tokA2, _ := a.Timestamp(t.Context(), d)
	tokB, _ := b.Timestamp(t.Context(), d)
	_, idA, _, errA := v.VerifyTokenSigner(tokA, d)
	_, idA2, _, errA2 := v.VerifyTokenSigner(tokA2, d)
	_, idB, nameB, errB := v.VerifyTokenSigner(tokB, d)
	if errA != nil || errA2 != nil || errB != nil {
		t.Fatal(errA, errA2, errB)
	}
	if idA != idA2 || idA == idB || nameB == "" {
		t.Fatalf("signer IDs: a %x a %x b %x (%q)", idA[:4], idA2[:4], idB[:4], nameB)
	}
}
