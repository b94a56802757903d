package tsa_test

import (
	"bytes"
	"crypto"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
	"github.com/digitorus/timestamp"
)

func TestVerify(t *testing.T) {
	digest := tsatest.Digest("aurora/test/peer\n42\nroot\n")
	other := tsatest.Digest("another checkpoint\n")
	good := tsatest.NewPKI(t, tsatest.Options{})
	stranger := tsatest.NewPKI(t, tsatest.Options{})
	withInter := tsatest.NewPKI(t, tsatest.Options{Intermediate: true})
	shortLived := tsatest.NewPKI(t, tsatest.Options{NotAfter: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	nonCrit := tsatest.NewPKI(t, tsatest.Options{NonCriticalEKU: true})
	noEKU := tsatest.NewPKI(t, tsatest.Options{NoEKU: true})
	extraEKU := tsatest.NewPKI(t, tsatest.Options{ExtraEKU: true})
	caLeaf := tsatest.NewPKI(t, tsatest.Options{LeafIsCA: true})
	encOnly := tsatest.NewPKI(t, tsatest.Options{KeyUsage: x509.KeyUsageKeyEncipherment})
	genInValidity := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	genAfterExpiry := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)

	sha384 := sha512.Sum384([]byte("x"))
	errResp, err := timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadAlgorithm)
	if err != nil {
		t.Fatal(err)
	}
	resp := func(p *tsatest.PKI, d []byte, o tsatest.TokenOptions) []byte { return p.Response(t, d, o) }
	goodResp := resp(good, digest[:], tsatest.TokenOptions{Nonce: big.NewInt(42)})

	tests := []struct {
		name   string
		token  []byte
		digest [32]byte
		opts   tsa.VerifyOptions
		want   tsa.Check // "" means accepted
	}{
		{"valid", goodResp, digest, tsa.VerifyOptions{Roots: good.Roots()}, ""},
		{"valid with nonce and policy", goodResp, digest, tsa.VerifyOptions{Roots: good.Roots(), Nonce: big.NewInt(42), Policy: tsatest.TestPolicy()}, ""},
		{"valid via intermediate", resp(withInter, digest[:], tsatest.TokenOptions{}), digest, tsa.VerifyOptions{Roots: withInter.Roots()}, ""},
		{"no roots configured", goodResp, digest, tsa.VerifyOptions{}, tsa.CheckRoots},
		{"wrong root", goodResp, digest, tsa.VerifyOptions{Roots: stranger.Roots()}, tsa.CheckChain},
		{"intermediate missing", resp(withInter, digest[:], tsatest.TokenOptions{OmitCertificates: true}), digest,
			tsa.VerifyOptions{Roots: withInter.Roots(), Intermediates: []*x509.Certificate{withInter.Leaf}}, tsa.CheckChain},
		{"omitted certs supplied as untrusted", resp(withInter, digest[:], tsatest.TokenOptions{OmitCertificates: true}), digest,
			tsa.VerifyOptions{Roots: withInter.Roots(), Intermediates: []*x509.Certificate{withInter.Leaf, withInter.Intermediate}}, ""},
		{"substituted signer certificate (same issuer and serial, other key)", resp(good, digest[:], tsatest.TokenOptions{OmitCertificates: true}), digest,
			tsa.VerifyOptions{Roots: stranger.Roots(), Intermediates: []*x509.Certificate{stranger.Leaf}}, tsa.CheckSignature},
		{"signer not embedded and unknown", resp(good, digest[:], tsatest.TokenOptions{OmitCertificates: true}), digest, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckSigner},
		{"non-critical EKU", resp(nonCrit, digest[:], tsatest.TokenOptions{}), digest, tsa.VerifyOptions{Roots: nonCrit.Roots()}, tsa.CheckEKUCritical},
		{"no EKU", resp(noEKU, digest[:], tsatest.TokenOptions{}), digest, tsa.VerifyOptions{Roots: noEKU.Roots()}, tsa.CheckEKU},
		{"extra EKU", resp(extraEKU, digest[:], tsatest.TokenOptions{}), digest, tsa.VerifyOptions{Roots: extraEKU.Roots()}, tsa.CheckEKU},
		{"CA signer", resp(caLeaf, digest[:], tsatest.TokenOptions{}), digest, tsa.VerifyOptions{Roots: caLeaf.Roots()}, tsa.CheckNotCA},
		{"keyUsage without signing", resp(encOnly, digest[:], tsatest.TokenOptions{}), digest, tsa.VerifyOptions{Roots: encOnly.Roots()}, tsa.CheckKeyUsage},
		{"nonce mismatch", goodResp, digest, tsa.VerifyOptions{Roots: good.Roots(), Nonce: big.NewInt(43)}, tsa.CheckNonce},
		{"nonce missing", resp(good, digest[:], tsatest.TokenOptions{}), digest, tsa.VerifyOptions{Roots: good.Roots(), Nonce: big.NewInt(42)}, tsa.CheckNonce},
		{"token for another digest", goodResp, other, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckImprint},
		{"imprint edited in the token", editImprint(t, goodResp, digest), other, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckSignature},
		{"policy mismatch", goodResp, digest, tsa.VerifyOptions{Roots: good.Roots(), Policy: asn1.ObjectIdentifier{1, 2, 3}}, tsa.CheckPolicy},
		{"sha384 imprint", resp(good, sha384[:], tsatest.TokenOptions{Hash: crypto.SHA384}), digest, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckHashAlgorithm},
		{"expired certificate, genTime within validity", resp(shortLived, digest[:], tsatest.TokenOptions{GenTime: genInValidity}), digest,
			tsa.VerifyOptions{Roots: shortLived.Roots()}, ""},
		{"genTime after certificate expiry", resp(shortLived, digest[:], tsatest.TokenOptions{GenTime: genAfterExpiry}), digest,
			tsa.VerifyOptions{Roots: shortLived.Roots()}, tsa.CheckValidity},
		{"At overrides genTime", resp(shortLived, digest[:], tsatest.TokenOptions{GenTime: genInValidity}), digest,
			tsa.VerifyOptions{Roots: shortLived.Roots(), At: genAfterExpiry}, tsa.CheckValidity},
		{"rejection response", errResp, digest, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckStatus},
		{"empty", nil, digest, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckSize},
		{"too large", make([]byte, tsa.MaxTokenSize+1), digest, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckSize},
		{"garbage", []byte("not a token"), digest, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckEncoding},
		{"trailing byte", append(bytes.Clone(goodResp), 0), digest, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckEncoding},
		{"truncated", goodResp[:len(goodResp)-1], digest, tsa.VerifyOptions{Roots: good.Roots()}, tsa.CheckEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := tsa.Verify(tt.token, tt.digest, tt.opts)
			if got := tsa.FailedCheck(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("Verify: check %q, err %v; want check %q", got, err, tt.want)
			}
			if tt.want == "" && (info == nil || info.Signer == nil || len(info.Chain) < 2) {
				t.Fatalf("Verify accepted but returned info %+v", info)
			}
			if tt.want != "" && info != nil {
				t.Fatalf("Verify rejected (%v) but returned info", err)
			}
		})
	}
}

func TestVerifyInfo(t *testing.T) {
	p := tsatest.NewPKI(t, tsatest.Options{})
	digest := tsatest.Digest("cp")
	gen := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	r := p.Response(t, digest[:], tsatest.TokenOptions{GenTime: gen, Nonce: big.NewInt(7)})
	info, err := tsa.Verify(r, digest, tsa.VerifyOptions{Roots: p.Roots()})
	if err != nil {
		t.Fatal(err)
	}
	if !info.GenTime.Equal(gen) || info.Nonce.Cmp(big.NewInt(7)) != 0 || !info.Policy.Equal(tsatest.TestPolicy()) ||
		!info.Signer.Equal(p.Leaf) || !info.Chain[len(info.Chain)-1].Equal(p.Root) || info.Accuracy != time.Second {
		t.Fatalf("info = %+v", info)
	}
	// The bare token verifies on its own too.
	bare, err := tsa.Verify(info.Token, digest, tsa.VerifyOptions{Roots: p.Roots()})
	if err != nil {
		t.Fatalf("bare token: %v", err)
	}
	if !bare.GenTime.Equal(gen) {
		t.Fatalf("bare token genTime %v", bare.GenTime)
	}
}

func TestVerifierVerifyToken(t *testing.T) {
	a, b := tsatest.NewPKI(t, tsatest.Options{}), tsatest.NewPKI(t, tsatest.Options{})
	digest := tsatest.Digest("cp")
	gen := time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC)
	v := tsa.Verifier{Opts: tsa.VerifyOptions{Roots: poolOf(a.Root, b.Root)}}
	for _, p := range []*tsatest.PKI{a, b} {
		got, err := v.VerifyToken(p.Response(t, digest[:], tsatest.TokenOptions{GenTime: gen}), digest)
		if err != nil || !got.Equal(gen) {
			t.Fatalf("VerifyToken = %v, %v; want %v", got, err, gen)
		}
	}
	stranger := tsatest.NewPKI(t, tsatest.Options{})
	if _, err := v.VerifyToken(stranger.Response(t, digest[:], tsatest.TokenOptions{}), digest); tsa.FailedCheck(err) != tsa.CheckChain {
		t.Fatalf("stranger's token: %v", err)
	}
}

func TestVerifyErrorEvidence(t *testing.T) {
	p := tsatest.NewPKI(t, tsatest.Options{})
	digest := tsatest.Digest("cp")
	r := p.Response(t, digest[:], tsatest.TokenOptions{})
	_, err := tsa.Verify(r, tsatest.Digest("other"), tsa.VerifyOptions{Roots: p.Roots()})
	var ve *tsa.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *VerifyError", err)
	}
	other := tsatest.Digest("other")
	if ve.Check != tsa.CheckImprint || ve.Got != hexOf(digest[:]) || ve.Want != hexOf(other[:]) {
		t.Fatalf("evidence = %+v", ve)
	}
	errResp, _ := timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.UnacceptedPolicy)
	_, err = tsa.Verify(errResp, digest, tsa.VerifyOptions{Roots: p.Roots()})
	var se *tsa.StatusError
	if !errors.As(err, &se) || !errors.Is(err, tsa.ErrRefused) || se.Status != 2 || len(se.Failures) != 1 || se.Failures[0] != "unacceptedPolicy" {
		t.Fatalf("err = %#v, want StatusError with unacceptedPolicy", err)
	}
}

// editImprint replaces the digest inside a response's TSTInfo by another
// one of the same length, leaving the signature as it was.
func editImprint(t *testing.T, resp []byte, digest [32]byte) []byte {
	t.Helper()
	i := bytes.Index(resp, digest[:])
	if i < 0 {
		t.Fatal("digest not found in response")
	}
	out := bytes.Clone(resp)
	o := tsatest.Digest("another checkpoint\n")
	copy(out[i:], o[:])
	return out
}
