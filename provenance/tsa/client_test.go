package tsa_test

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
)

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func TestClientTimestamp(t *testing.T) {
	d := newDevTSA(t, nil)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	c := &tsa.Client{URL: srv.URL, HTTPClient: srv.Client(), Roots: d.Roots(), Policy: tsa.DevPolicyOID()}
	digest := tsatest.Digest("aurora/fed/peer\n1\nroot\n")
	tok, err := c.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := tsa.Verify(tok, digest, tsa.VerifyOptions{Roots: d.Roots()})
	if err != nil {
		t.Fatal(err)
	}
	if info.Nonce == nil || info.Nonce.Sign() <= 0 {
		t.Fatalf("token nonce %v, want a positive random nonce", info.Nonce)
	}
	// Two requests carry different nonces.
	tok2, err := c.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	info2, _ := tsa.Verify(tok2, digest, tsa.VerifyOptions{Roots: d.Roots()})
	if info2.Nonce.Cmp(info.Nonce) == 0 {
		t.Fatal("two requests used the same nonce")
	}
}

// replayServer answers every request with the same, once valid, response:
// what a TSA-in-the-middle replaying old tokens would do.
func replayServer(t *testing.T, resp []byte, ctype string, code int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(code)
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientRejects(t *testing.T) {
	d := newDevTSA(t, nil)
	stranger := newDevTSA(t, nil)
	digest := tsatest.Digest("cp")
	old, err := d.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	otherDigest, err := d.Timestamp(t.Context(), tsatest.Digest("other"))
	if err != nil {
		t.Fatal(err)
	}
	live := httptest.NewServer(d.Handler())
	t.Cleanup(live.Close)

	tests := []struct {
		name      string
		client    *tsa.Client
		wantCheck tsa.Check
		wantResp  bool // a *ResponseError
		wantIs    error
	}{
		{"replayed token (nonce mismatch)", &tsa.Client{URL: replayServer(t, old, tsa.ReplyMediaType, 200).URL, Roots: d.Roots()}, tsa.CheckNonce, false, nil},
		{"token for another digest", &tsa.Client{URL: replayServer(t, otherDigest, tsa.ReplyMediaType, 200).URL, Roots: d.Roots()}, tsa.CheckImprint, false, nil},
		{"wrong roots", &tsa.Client{URL: live.URL, Roots: stranger.Roots()}, tsa.CheckChain, false, nil},
		{"policy refused", &tsa.Client{URL: live.URL, Roots: d.Roots(), Policy: asn1.ObjectIdentifier{1, 2, 3}}, tsa.CheckStatus, false, tsa.ErrRefused},
		{"HTTP 500", &tsa.Client{URL: replayServer(t, []byte("down"), "text/plain", 500).URL, Roots: d.Roots()}, "", true, nil},
		{"wrong media type", &tsa.Client{URL: replayServer(t, old, "text/html", 200).URL, Roots: d.Roots()}, "", true, nil},
		{"oversize body", &tsa.Client{URL: replayServer(t, make([]byte, tsa.MaxTokenSize+1), tsa.ReplyMediaType, 200).URL, Roots: d.Roots()}, "", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Timestamp(t.Context(), digest)
			if err == nil {
				t.Fatal("Timestamp succeeded")
			}
			if got := tsa.FailedCheck(err); got != tt.wantCheck {
				t.Fatalf("check %q (%v), want %q", got, err, tt.wantCheck)
			}
			var re *tsa.ResponseError
			if errors.As(err, &re) != tt.wantResp {
				t.Fatalf("err = %v; ResponseError wanted: %v", err, tt.wantResp)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}

func TestClientConfigAndContext(t *testing.T) {
	d := newDevTSA(t, nil)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	digest := tsatest.Digest("cp")
	if _, err := (&tsa.Client{Roots: d.Roots()}).Timestamp(t.Context(), digest); err == nil {
		t.Error("client without URL succeeded")
	}
	if _, err := (&tsa.Client{URL: srv.URL}).Timestamp(t.Context(), digest); err == nil {
		t.Error("client without roots succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := (&tsa.Client{URL: srv.URL, Roots: d.Roots()}).Timestamp(ctx, digest)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}
