package browser_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
)

// keyedPKI is a root and a TSA signer with keys of any type, for the
// signature algorithms tsatest (P-256 only) does not cover.
type keyedPKI struct {
	root, leaf *x509.Certificate
	key        crypto.Signer
}

// keyedOptions shape a keyedPKI beyond its defaults.
type keyedOptions struct {
	leafExtension   *pkix.Extension         // one more extension on the signer
	rootPermitsDNS  string                  // a name constraint on the root
	leafSignatureBy x509.SignatureAlgorithm // the root's signature on the signer
}

func newKeyedPKI(t *testing.T, rootKey, leafKey crypto.Signer, o keyedOptions) keyedPKI {
	t.Helper()
	create := func(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	nb, na := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "browser test root"}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	if o.rootPermitsDNS != "" {
		rootTmpl.PermittedDNSDomains, rootTmpl.PermittedDNSDomainsCritical = []string{o.rootPermitsDNS}, true
	}
	root := create(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "browser test TSA"}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, SignatureAlgorithm: o.leafSignatureBy,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	if o.leafExtension != nil {
		leafTmpl.ExtraExtensions = append(leafTmpl.ExtraExtensions, *o.leafExtension)
	}
	leaf := create(leafTmpl, root, leafKey.Public(), rootKey)
	return keyedPKI{root: root, leaf: leaf, key: leafKey}
}

func (p keyedPKI) response(t *testing.T, digest [32]byte, h crypto.Hash) []byte {
	t.Helper()
	ts := timestamp.Timestamp{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Time: tsatest.DefaultGenTime(), Policy: tsatest.TestPolicy(),
		Accuracy: time.Second, AddTSACertificate: true}
	resp, err := ts.CreateResponseWithOpts(p.leaf, p.key, h)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestBrowserTokenChecks: the page, opened from its file (no server), checks
// RFC 3161 tokens as provenance/tsa does: the same verdict, failed check by
// check name, genTime and signer key for each of a table of PKI shapes and
// tokens, among them openssl's (ESS v1 and v2) and RSA and P-384 TSAs.
func TestBrowserTokenChecks(t *testing.T) {
	br := startBrowser(t)
	page, err := filepath.Abs(filepath.Join("..", "..", "web", "verify", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	br.open(t, (&url.URL{Scheme: "file", Path: page}).String())

	digest := tsatest.Digest("aurora/browser/12D3KooWToken\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	type tokenCase struct {
		name   string
		token  []byte
		digest [32]byte
		roots  []*x509.Certificate
		want   tsa.Check // "" for a valid token
		// goAccepts marks a token the page refuses by design and the Go
		// verifier accepts.
		goAccepts bool
	}
	var cases []tokenCase
	pki := func(o tsatest.Options) *tsatest.PKI { return tsatest.NewPKI(t, o) }
	add := func(name string, p *tsatest.PKI, o tsatest.TokenOptions, want tsa.Check) {
		cases = append(cases, tokenCase{name: name, token: p.Response(t, digest[:], o), digest: digest, roots: []*x509.Certificate{p.Root}, want: want})
	}
	plain := pki(tsatest.Options{})
	add("valid", plain, tsatest.TokenOptions{}, "")
	inter := pki(tsatest.Options{Intermediate: true})
	add("valid through an intermediate", inter, tsatest.TokenOptions{}, "")
	cases = append(cases, tokenCase{name: "intermediate as the root", token: inter.Response(t, digest[:], tsatest.TokenOptions{}), digest: digest,
		roots: []*x509.Certificate{inter.Intermediate}})
	add("signer not embedded", plain, tsatest.TokenOptions{OmitCertificates: true}, tsa.CheckSigner)
	add("EKU not critical", pki(tsatest.Options{NonCriticalEKU: true}), tsatest.TokenOptions{}, tsa.CheckEKUCritical)
	add("no EKU", pki(tsatest.Options{NoEKU: true}), tsatest.TokenOptions{}, tsa.CheckEKU)
	add("EKU beyond timeStamping", pki(tsatest.Options{ExtraEKU: true}), tsatest.TokenOptions{}, tsa.CheckEKU)
	add("signer is a CA", pki(tsatest.Options{LeafIsCA: true}), tsatest.TokenOptions{}, tsa.CheckNotCA)
	add("key usage without signing", pki(tsatest.Options{KeyUsage: x509.KeyUsageKeyEncipherment}), tsatest.TokenOptions{}, tsa.CheckKeyUsage)
	add("signer expired at genTime", pki(tsatest.Options{NotAfter: tsatest.DefaultGenTime().Add(-time.Hour)}), tsatest.TokenOptions{}, tsa.CheckValidity)
	add("signer not yet valid at genTime", pki(tsatest.Options{NotBefore: tsatest.DefaultGenTime().Add(time.Hour)}), tsatest.TokenOptions{}, tsa.CheckValidity)
	add("valid years after genTime", plain, tsatest.TokenOptions{GenTime: time.Date(2039, 6, 1, 0, 0, 0, 0, time.UTC)}, "")
	cases = append(cases, tokenCase{name: "another PKI's root", token: plain.Response(t, digest[:], tsatest.TokenOptions{}), digest: digest,
		roots: []*x509.Certificate{pki(tsatest.Options{}).Root}, want: tsa.CheckChain})
	cases = append(cases, tokenCase{name: "another digest", token: plain.Response(t, digest[:], tsatest.TokenOptions{}), digest: sha256.Sum256([]byte("other")),
		roots: []*x509.Certificate{plain.Root}, want: tsa.CheckImprint})
	d384 := crypto.SHA384.New()
	d384.Write([]byte("x"))
	cases = append(cases, tokenCase{name: "SHA-384 imprint", token: plain.Response(t, d384.Sum(nil), tsatest.TokenOptions{Hash: crypto.SHA384}), digest: digest,
		roots: []*x509.Certificate{plain.Root}, want: tsa.CheckHashAlgorithm})
	flipped := plain.Response(t, digest[:], tsatest.TokenOptions{})
	flipped[len(flipped)-1] ^= 1 // the last byte of the CMS signature
	cases = append(cases, tokenCase{name: "signature byte flipped", token: flipped, digest: digest, roots: []*x509.Certificate{plain.Root}, want: tsa.CheckSignature})
	truncated := plain.Response(t, digest[:], tsatest.TokenOptions{})
	cases = append(cases, tokenCase{name: "truncated", token: truncated[:len(truncated)-3], digest: digest, roots: []*x509.Certificate{plain.Root}, want: tsa.CheckEncoding})
	cases = append(cases, tokenCase{name: "no roots", token: plain.Response(t, digest[:], tsatest.TokenOptions{}), digest: digest, want: tsa.CheckRoots})

	rsaKey := func() crypto.Signer {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	p384Key := func() crypto.Signer {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rsaPKI := newKeyedPKI(t, rsaKey(), rsaKey(), keyedOptions{})
	cases = append(cases, tokenCase{name: "RSA TSA, SHA-256", token: rsaPKI.response(t, digest, crypto.SHA256), digest: digest, roots: []*x509.Certificate{rsaPKI.root}})
	cases = append(cases, tokenCase{name: "RSA TSA, SHA-512", token: rsaPKI.response(t, digest, crypto.SHA512), digest: digest, roots: []*x509.Certificate{rsaPKI.root}})
	p384 := newKeyedPKI(t, p384Key(), p384Key(), keyedOptions{})
	cases = append(cases, tokenCase{name: "P-384 TSA, SHA-384", token: p384.response(t, digest, crypto.SHA384), digest: digest, roots: []*x509.Certificate{p384.root}})
	mixed := newKeyedPKI(t, rsaKey(), p384Key(), keyedOptions{})
	cases = append(cases, tokenCase{name: "P-384 TSA under an RSA root", token: mixed.response(t, digest, crypto.SHA256), digest: digest, roots: []*x509.Certificate{mixed.root}})
	cases = append(cases, tokenCase{name: "SHA-1 CMS signature", token: p384.response(t, digest, crypto.SHA1), digest: digest, roots: []*x509.Certificate{p384.root}, want: tsa.CheckHashAlgorithm})
	unknown := newKeyedPKI(t, p384Key(), p384Key(), keyedOptions{leafExtension: &pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{5, 0}}})
	cases = append(cases, tokenCase{name: "unknown critical extension", token: unknown.response(t, digest, crypto.SHA256), digest: digest, roots: []*x509.Certificate{unknown.root}, want: tsa.CheckChain})
	// Where the page is stricter than crypto/x509, as docs/PROVENANCE.md
	// says: it does not process name constraints, so a root carrying them
	// is refused, and it does not verify RSA-PSS signatures.
	constrained := newKeyedPKI(t, p384Key(), p384Key(), keyedOptions{rootPermitsDNS: "tsa.example"})
	cases = append(cases, tokenCase{name: "root with name constraints", token: constrained.response(t, digest, crypto.SHA256), digest: digest,
		roots: []*x509.Certificate{constrained.root}, want: tsa.CheckChain, goAccepts: true})
	pss := newKeyedPKI(t, rsaKey(), p384Key(), keyedOptions{leafSignatureBy: x509.SHA256WithRSAPSS})
	cases = append(cases, tokenCase{name: "RSA-PSS certificate signature", token: pss.response(t, digest, crypto.SHA256), digest: digest,
		roots: []*x509.Certificate{pss.root}, want: tsa.CheckChain, goAccepts: true})

	// The reference tokens of provenance/tsa: the dev TSA's and openssl's.
	golden := sha256.Sum256([]byte("aurora/golden/12D3KooWGolden\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	for _, name := range []string{"devtsa", "openssl-ess-v2", "openssl-ess-v1"} {
		dir := filepath.Join("..", "..", "provenance", "tsa", "testdata", "golden", name)
		roots, err := tsa.LoadCertificates(filepath.Join(dir, "root.pem"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := os.ReadFile(filepath.Join(dir, "token.tsr"))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tokenCase{name: "golden " + name, token: tok, digest: golden, roots: roots})
		cases = append(cases, tokenCase{name: "golden " + name + ", other digest", token: tok, digest: sha256.Sum256([]byte("x")), roots: roots, want: tsa.CheckImprint})
	}

	type in struct {
		Token  string   `json:"t"`
		Digest string   `json:"d"`
		Roots  []string `json:"r"`
	}
	type out struct {
		OK       bool   `json:"ok"`
		Check    string `json:"check"`
		Detail   string `json:"detail"`
		GenTime  int64  `json:"genTime"`
		SignerID string `json:"signerID"`
	}
	var ins []in
	for _, c := range cases {
		i := in{Token: base64.StdEncoding.EncodeToString(c.token), Digest: base64.StdEncoding.EncodeToString(c.digest[:]), Roots: []string{}}
		for _, r := range c.roots {
			i.Roots = append(i.Roots, base64.StdEncoding.EncodeToString(r.Raw))
		}
		ins = append(ins, i)
	}
	arg, err := json.Marshal(ins)
	if err != nil {
		t.Fatal(err)
	}
	var outs []out
	br.eval(t, fmt.Sprintf(`(async (cases) => {
  const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const out = [];
  for (const c of cases) out.push(await AuroraVerify.verifyToken(bytes(c.t), bytes(c.d), c.r.map(bytes)));
  return out;
})(%s)`, arg), &outs)
	if len(outs) != len(cases) {
		t.Fatalf("%d results for %d cases", len(outs), len(cases))
	}
	for i, c := range cases {
		got := outs[i]
		pool := x509.NewCertPool()
		for _, r := range c.roots {
			pool.AddCert(r)
		}
		opts := tsa.VerifyOptions{Roots: pool}
		if len(c.roots) == 0 {
			opts.Roots = nil
		}
		info, err := tsa.Verify(c.token, c.digest, opts)
		goCheck := string(tsa.FailedCheck(err))
		if err != nil && goCheck == "" {
			t.Errorf("%s: Go verifier: %v names no check", c.name, err)
		}
		if c.goAccepts {
			if got.Check != string(c.want) || err != nil {
				t.Errorf("%s: page %q (%s), Go verifier %v; want the page to refuse with %q where Go accepts", c.name, got.Check, got.Detail, err, c.want)
			}
			t.Logf("%-36s %-20s %s (Go accepts)", c.name, orOK(got.Check), truncate(got.Detail, 110))
			continue
		}
		switch {
		case got.Check != goCheck:
			t.Errorf("%s: page %q (%s), Go verifier %q (%v)", c.name, got.Check, got.Detail, goCheck, err)
		case got.Check != string(c.want):
			t.Errorf("%s: both say %q, the test expects %q", c.name, got.Check, c.want)
		case err == nil:
			id := tsa.SignerID(info.Signer)
			if got.GenTime != info.GenTime.Unix() || got.SignerID != hex.EncodeToString(id[:]) {
				t.Errorf("%s: page genTime %d signer %s, Go %d %x", c.name, got.GenTime, got.SignerID, info.GenTime.Unix(), id)
			}
		}
		t.Logf("%-36s %-20s %s", c.name, orOK(got.Check), truncate(got.Detail, 110))
	}
	br.noProblems(t)
}

func orOK(check string) string {
	if check == "" {
		return "ok"
	}
	return check
}
