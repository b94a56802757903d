package tsa_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
	"github.com/digitorus/timestamp"
)

// fakeClock is a settable Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newDevTSA(t *testing.T, clock tsa.Clock) *tsa.DevTSA {
	t.Helper()
	d, err := tsa.NewDevTSA(t.TempDir(), clock)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDevTSACreateAndLoad(t *testing.T) {
	dir := t.TempDir()
	d1, err := tsa.NewDevTSA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{tsa.DevRootKeyFile, tsa.DevTSAKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	d2, err := tsa.NewDevTSA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !d1.Root().Equal(d2.Root()) || !d1.Certificate().Equal(d2.Certificate()) {
		t.Fatal("reloading the directory produced a different PKI")
	}
	if d2.RootCertPath() != filepath.Join(dir, tsa.DevRootCertFile) {
		t.Fatalf("RootCertPath = %s", d2.RootCertPath())
	}
	// The certificate profile RFC 3161 and the notes' OpenSSL config ask for.
	leaf := d1.Certificate()
	var critical bool
	for _, e := range leaf.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			critical = e.Critical
		}
	}
	if !critical || leaf.IsCA || leaf.KeyUsage != 1 /* digitalSignature */ || leaf.PublicKeyAlgorithm.String() != "ECDSA" {
		t.Fatalf("TSA certificate profile: EKU critical %v, CA %v, keyUsage %v, key %v", critical, leaf.IsCA, leaf.KeyUsage, leaf.PublicKeyAlgorithm)
	}
	// A token from the first instance verifies against the root file.
	roots, err := tsa.LoadCertificates(d2.RootCertPath())
	if err != nil {
		t.Fatal(err)
	}
	digest := tsatest.Digest("cp")
	tok, err := d1.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.Verify(tok, digest, tsa.VerifyOptions{Roots: poolOf(roots...)}); err != nil {
		t.Fatal(err)
	}
}

func TestDevTSAPartialDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := tsa.NewDevTSA(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, tsa.DevTSAKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, err := tsa.NewDevTSA(dir, nil)
	if err == nil || !strings.Contains(err.Error(), tsa.DevTSAKeyFile) {
		t.Fatalf("err = %v, want one naming the missing %s", err, tsa.DevTSAKeyFile)
	}
}

func TestDevTSAMismatchedKey(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if _, err := tsa.NewDevTSA(d, nil); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(b, tsa.DevTSAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, tsa.DevTSAKeyFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.NewDevTSA(a, nil); err == nil {
		t.Fatal("loaded a TSA key that does not match its certificate")
	}
}

func TestDevTSAGenTimeFromClock(t *testing.T) {
	clk := &fakeClock{now: time.Date(2030, 5, 6, 7, 8, 9, 500, time.UTC)}
	d := newDevTSA(t, clk)
	clk.Set(clk.Now().Add(48 * time.Hour))
	digest := tsatest.Digest("cp")
	tok, err := d.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := tsa.Verify(tok, digest, tsa.VerifyOptions{Roots: d.Roots(), Policy: tsa.DevPolicyOID()})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Truncate(time.Second); !info.GenTime.Equal(want) {
		t.Fatalf("genTime %v, want %v", info.GenTime, want)
	}
}

func TestDevTSAExpiredCertificate(t *testing.T) {
	clk := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	d, err := tsa.NewDevTSA(dir, clk)
	if err != nil {
		t.Fatal(err)
	}
	digest := tsatest.Digest("cp")
	old, err := d.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(d.Certificate().NotAfter.Add(time.Hour))

	// A running dev TSA refuses to sign outside its certificate's validity.
	_, err = d.Timestamp(t.Context(), digest)
	var rerr *tsa.RequestError
	if !errors.As(err, &rerr) || rerr.Failure != "timeNotAvailable" {
		t.Fatalf("err = %v, want a timeNotAvailable refusal", err)
	}
	// The old token still verifies: validity is checked at its genTime.
	if _, err := tsa.Verify(old, digest, tsa.VerifyOptions{Roots: d.Roots()}); err != nil {
		t.Fatalf("token issued before expiry: %v", err)
	}
	// Restarting reissues the TSA certificate under the same root.
	d2, err := tsa.NewDevTSA(dir, clk)
	if err != nil {
		t.Fatal(err)
	}
	if !d2.Root().Equal(d.Root()) || d2.Certificate().Equal(d.Certificate()) {
		t.Fatal("restart did not reissue the TSA certificate under the same root")
	}
	tok, err := d2.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.Verify(tok, digest, tsa.VerifyOptions{Roots: d.Roots()}); err != nil {
		t.Fatal(err)
	}
}

func TestDevTSARejectsRequests(t *testing.T) {
	d := newDevTSA(t, nil)
	digest := tsatest.Digest("cp")
	marshal := func(r timestamp.Request) []byte {
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Nonce: big.NewInt(1)}
	withExt := good
	withExt.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}}
	sha1 := good
	sha1.HashAlgorithm, sha1.HashedMessage = crypto.SHA1, digest[:20]
	short := good
	short.HashedMessage = digest[:31]
	policy := good
	policy.TSAPolicyOID = asn1.ObjectIdentifier{1, 2, 3, 4}
	bigNonce := good
	bigNonce.Nonce = new(big.Int).Lsh(big.NewInt(1), 300)
	v2 := marshal(good)
	v2[4] = 2 // SEQUENCE(30 len) INTEGER(02 01 01): the version byte

	tests := []struct {
		name      string
		req       []byte
		wantField string
		wantFail  string
	}{
		{"empty", nil, "TimeStampReq", "badDataFormat"},
		{"oversize", make([]byte, tsa.MaxRequestSize+1), "TimeStampReq", "badDataFormat"},
		{"garbage", []byte("hello"), "TimeStampReq", "badDataFormat"},
		{"trailing byte", append(marshal(good), 0), "TimeStampReq", "badDataFormat"},
		{"version 2", v2, "version", "badRequest"},
		{"sha1", marshal(sha1), "messageImprint.hashAlgorithm", "badAlg"},
		{"short digest", marshal(short), "messageImprint.hashedMessage", "badDataFormat"},
		{"other policy", marshal(policy), "reqPolicy", "unacceptedPolicy"},
		{"extension", marshal(withExt), "extensions", "unacceptedExtension"},
		{"huge nonce", marshal(bigNonce), "nonce", "badDataFormat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := d.Respond(tt.req)
			var rerr *tsa.RequestError
			if !errors.As(err, &rerr) || rerr.Field != tt.wantField || rerr.Failure != tt.wantFail {
				t.Fatalf("err = %v, want field %q failure %q", err, tt.wantField, tt.wantFail)
			}
			_, verr := tsa.Verify(resp, digest, tsa.VerifyOptions{Roots: d.Roots()})
			var se *tsa.StatusError
			if !errors.As(verr, &se) || len(se.Failures) != 1 || se.Failures[0] != tt.wantFail {
				t.Fatalf("response: %v, want a rejection with %s", verr, tt.wantFail)
			}
		})
	}
	t.Run("accepted", func(t *testing.T) {
		resp, err := d.Respond(marshal(good))
		if err != nil {
			t.Fatal(err)
		}
		// certReq was false: the token does not embed the TSA certificate.
		opts := tsa.VerifyOptions{Roots: d.Roots(), Nonce: big.NewInt(1)}
		if _, err := tsa.Verify(resp, digest, opts); tsa.FailedCheck(err) != tsa.CheckSigner {
			t.Fatalf("without the TSA certificate: %v, want a signer error", err)
		}
		opts.Intermediates = []*x509.Certificate{d.Certificate()}
		if _, err := tsa.Verify(resp, digest, opts); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDevTSAHandler(t *testing.T) {
	d := newDevTSA(t, nil)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	digest := tsatest.Digest("cp")
	req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Certificates: true}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		method   string
		ctype    string
		body     []byte
		wantCode int
	}{
		{"ok", http.MethodPost, tsa.QueryMediaType, req, http.StatusOK},
		{"ok with parameters", http.MethodPost, tsa.QueryMediaType + "; charset=binary", req, http.StatusOK},
		{"rejection is still a reply", http.MethodPost, tsa.QueryMediaType, []byte("junk"), http.StatusOK},
		{"GET", http.MethodGet, "", nil, http.StatusMethodNotAllowed},
		{"wrong media type", http.MethodPost, "application/octet-stream", req, http.StatusUnsupportedMediaType},
		{"too large", http.MethodPost, tsa.QueryMediaType, make([]byte, tsa.MaxRequestSize+1), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hreq, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+"/tsr", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				hreq.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := srv.Client().Do(hreq)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantCode == http.StatusOK && resp.Header.Get("Content-Type") != tsa.ReplyMediaType {
				t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			if tt.name == "ok" {
				if _, err := tsa.Verify(body, digest, tsa.VerifyOptions{Roots: d.Roots()}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestParseCertificatesPEM(t *testing.T) {
	d := newDevTSA(t, nil)
	root, leaf := pemOf(d.Root()), pemOf(d.Certificate())
	tests := []struct {
		name    string
		data    string
		want    int
		wantErr string
	}{
		{"one", string(root), 1, ""},
		{"two with blank lines", "\n" + string(root) + "\n\n" + string(leaf), 2, ""},
		{"empty", "", 0, "no CERTIFICATE"},
		{"text before", "hello\n" + string(root), 0, "text outside"},
		{"text after", string(root) + "bye\n", 0, "text outside"},
		{"private key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0, "not a CERTIFICATE"},
		{"headers", strings.Replace(string(root), "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1), 0, "headers"},
		{"malformed first block hides a good one", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n" + string(leaf), 0, "malformed"},
		{"not DER", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0, "not a DER certificate"},
		{"too large", string(make([]byte, tsa.MaxPEMSize+1)), 0, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := tsa.ParseCertificatesPEM([]byte(tt.data))
			if tt.wantErr == "" {
				if err != nil || len(certs) != tt.want {
					t.Fatalf("got %d certificates, %v; want %d", len(certs), err, tt.want)
				}
				return
			}
			var pe *tsa.PEMError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a PEMError mentioning %q", err, tt.wantErr)
			}
		})
	}
}
