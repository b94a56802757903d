package tsa_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
	"github.com/digitorus/timestamp"
)

// The OpenSSL test PKI of the provenance notes (§3.3): an EC P-256 root and
// a TSA certificate with basicConstraints CA:FALSE, keyUsage
// digitalSignature+nonRepudiation and a critical timeStamping EKU.
const opensslCAConf = `[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = OpenSSL Test TSA Root
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ v3_tsa ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

// opensslTSAConf is the notes' tsa.cnf; %ALG% selects the ESS certificate
// identifier: sha256 gives signingCertificateV2, sha1 the v1 attribute
// FreeTSA sends.
const opensslTSAConf = `[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = .
serial = ./tsaserial
crypto_device = builtin
signer_cert = ./tsa.pem
certs = ./ca.pem
signer_key = ./tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500, microsecs:100
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = %ALG%
`

var opensslPolicy = asn1.ObjectIdentifier{1, 2, 3, 4, 1}

// opensslPath returns the openssl binary or skips the test.
func opensslPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed: OpenSSL interop is not tested")
	}
	return p
}

// runOpenSSL runs openssl in dir and returns its combined output and error.
func runOpenSSL(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(opensslPath(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustOpenSSL(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := runOpenSSL(t, dir, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// opensslVerifyOK runs openssl ts -verify and requires "Verification: OK".
func opensslVerifyOK(t *testing.T, dir string, args ...string) {
	t.Helper()
	out := mustOpenSSL(t, dir, append([]string{"ts", "-verify"}, args...)...)
	if !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify %v:\n%s", args, out)
	}
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// newOpenSSLTSA builds the notes' PKI and TSA configuration in dir.
func newOpenSSLTSA(t testing.TB, dir, essAlg string) {
	t.Helper()
	writeFile(t, dir, "ca.cnf", []byte(opensslCAConf))
	writeFile(t, dir, "tsa.cnf", []byte(strings.ReplaceAll(opensslTSAConf, "%ALG%", essAlg)))
	writeFile(t, dir, "tsaserial", []byte("01\n"))
	mustOpenSSL(t, dir, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-config", "ca.cnf", "-extensions", "v3_ca")
	mustOpenSSL(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA 1")
	mustOpenSSL(t, dir, "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "tsa.pem", "-days", "825", "-extfile", "ca.cnf", "-extensions", "v3_tsa")
}

func loadPEM(t testing.TB, path string) []*x509.Certificate {
	t.Helper()
	certs, err := tsa.LoadCertificates(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func requestNonce(t testing.TB, path string) *timestamp.Request {
	t.Helper()
	der, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, err := timestamp.ParseRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestOpenSSLVerifiesDevTSATokens: tokens our dev TSA issues pass
// openssl ts -verify in each of its modes.
func TestOpenSSLVerifiesDevTSATokens(t *testing.T) {
	opensslPath(t)
	dir := t.TempDir()
	d, err := tsa.NewDevTSA(filepath.Join(dir, "tsa"), nil)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("aurora/test/12D3KooWpeer\n7\nq2V0aGVyZWFsaXJvb3Q=\n")
	writeFile(t, dir, "checkpoint.txt", data)
	writeFile(t, dir, "tampered.txt", append(bytes.Clone(data), '!'))
	digest := sha256.Sum256(data)
	root := d.RootCertPath()
	writeFile(t, dir, "tsa.pem", pemOf(d.Certificate()))

	tok, err := d.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "resp.tsr", tok)
	info, err := tsa.Verify(tok, digest, tsa.VerifyOptions{Roots: d.Roots()})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "token.der", info.Token)

	t.Run("data", func(t *testing.T) {
		opensslVerifyOK(t, dir, "-data", "checkpoint.txt", "-in", "resp.tsr", "-CAfile", root)
	})
	t.Run("digest", func(t *testing.T) {
		opensslVerifyOK(t, dir, "-digest", hex.EncodeToString(digest[:]), "-in", "resp.tsr", "-CAfile", root)
	})
	t.Run("bare token", func(t *testing.T) {
		opensslVerifyOK(t, dir, "-data", "checkpoint.txt", "-in", "token.der", "-token_in", "-CAfile", root)
	})
	t.Run("tampered data fails", func(t *testing.T) {
		out, err := runOpenSSL(t, dir, "ts", "-verify", "-data", "tampered.txt", "-in", "resp.tsr", "-CAfile", root)
		if err == nil || !strings.Contains(out, "FAILED") {
			t.Fatalf("openssl accepted a token for other data:\n%s", out)
		}
	})

	// openssl's own query, sent to our HTTP handler: the reply must satisfy
	// openssl's nonce and policy checks (-queryfile) and our verifier.
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name  string
		query []string
		extra []string
	}{
		{"openssl query", []string{"-cert"}, nil},
		{"openssl query without certReq", nil, []string{"-untrusted", "tsa.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qdir := t.TempDir()
			writeFile(t, qdir, "checkpoint.txt", data)
			writeFile(t, qdir, "tsa.pem", pemOf(d.Certificate()))
			mustOpenSSL(t, qdir, append([]string{"ts", "-query", "-data", "checkpoint.txt", "-sha256", "-out", "req.tsq"}, tc.query...)...)
			body, err := os.ReadFile(filepath.Join(qdir, "req.tsq"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Post(srv.URL, tsa.QueryMediaType, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out bytes.Buffer
			if _, err := out.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("POST: %d %v", resp.StatusCode, err)
			}
			writeFile(t, qdir, "resp.tsr", out.Bytes())
			opensslVerifyOK(t, qdir, append([]string{"-queryfile", "req.tsq", "-in", "resp.tsr", "-CAfile", root}, tc.extra...)...)
			opts := tsa.VerifyOptions{Roots: d.Roots(), Nonce: requestNonce(t, filepath.Join(qdir, "req.tsq")).Nonce}
			if tc.extra != nil {
				opts.Intermediates = []*x509.Certificate{d.Certificate()}
			}
			if _, err := tsa.Verify(out.Bytes(), digest, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVerifyOpenSSLTokens: tokens issued by openssl ts -reply with the
// notes' PKI verify with our verifier, with ESS v2 and v1 attributes.
func TestVerifyOpenSSLTokens(t *testing.T) {
	opensslPath(t)
	for _, ess := range []string{"sha256", "sha1"} {
		t.Run("ess "+ess, func(t *testing.T) {
			dir := t.TempDir()
			newOpenSSLTSA(t, dir, ess)
			data := []byte("aurora/test/peer\n9\nroot\n")
			writeFile(t, dir, "checkpoint.txt", data)
			digest := sha256.Sum256(data)
			roots := poolOf(loadPEM(t, filepath.Join(dir, "ca.pem"))...)
			leaf := loadPEM(t, filepath.Join(dir, "tsa.pem"))

			reply := func(t *testing.T, name string, query ...string) []byte {
				t.Helper()
				mustOpenSSL(t, dir, append([]string{"ts", "-query", "-data", "checkpoint.txt", "-sha256", "-out", name + ".tsq"}, query...)...)
				mustOpenSSL(t, dir, "ts", "-reply", "-queryfile", name+".tsq", "-config", "tsa.cnf", "-section", "tsa_config1", "-out", name+".tsr")
				b, err := os.ReadFile(filepath.Join(dir, name+".tsr"))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}

			t.Run("with certificate and nonce", func(t *testing.T) {
				r := reply(t, "a", "-cert")
				nonce := requestNonce(t, filepath.Join(dir, "a.tsq")).Nonce
				info, err := tsa.Verify(r, digest, tsa.VerifyOptions{Roots: roots, Nonce: nonce, Policy: opensslPolicy})
				if err != nil {
					t.Fatal(err)
				}
				if !info.Signer.Equal(leaf[0]) || info.Accuracy == 0 {
					t.Fatalf("info %+v", info)
				}
				// openssl's bare token form verifies as well.
				mustOpenSSL(t, dir, "ts", "-reply", "-in", "a.tsr", "-token_out", "-out", "a.tok")
				tok, err := os.ReadFile(filepath.Join(dir, "a.tok"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tsa.Verify(tok, digest, tsa.VerifyOptions{Roots: roots, Nonce: nonce}); err != nil {
					t.Fatalf("bare token: %v", err)
				}
				if _, err := tsa.Verify(r, sha256.Sum256([]byte("other")), tsa.VerifyOptions{Roots: roots}); tsa.FailedCheck(err) != tsa.CheckImprint {
					t.Fatalf("other digest: %v", err)
				}
				if _, err := tsa.Verify(r, digest, tsa.VerifyOptions{Roots: roots, Nonce: nonce.Add(nonce, nonce)}); tsa.FailedCheck(err) != tsa.CheckNonce {
					t.Fatalf("other nonce: %v", err)
				}
			})
			t.Run("without certificate", func(t *testing.T) {
				r := reply(t, "b")
				if _, err := tsa.Verify(r, digest, tsa.VerifyOptions{Roots: roots}); tsa.FailedCheck(err) != tsa.CheckSigner {
					t.Fatalf("err = %v, want a signer error", err)
				}
				if _, err := tsa.Verify(r, digest, tsa.VerifyOptions{Roots: roots, Intermediates: leaf}); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("no nonce, other policy", func(t *testing.T) {
				r := reply(t, "c", "-cert", "-no_nonce", "-tspolicy", "1.2.3.4.5.6")
				info, err := tsa.Verify(r, digest, tsa.VerifyOptions{Roots: roots, Policy: asn1.ObjectIdentifier{1, 2, 3, 4, 5, 6}})
				if err != nil {
					t.Fatal(err)
				}
				if info.Nonce != nil {
					t.Fatalf("nonce %v in a -no_nonce token", info.Nonce)
				}
				if _, err := tsa.Verify(r, digest, tsa.VerifyOptions{Roots: roots, Policy: opensslPolicy}); tsa.FailedCheck(err) != tsa.CheckPolicy {
					t.Fatalf("err = %v, want a policy error", err)
				}
			})
			t.Run("wrong root", func(t *testing.T) {
				r := reply(t, "d", "-cert")
				other := newDevTSA(t, nil)
				if _, err := tsa.Verify(r, digest, tsa.VerifyOptions{Roots: other.Roots()}); tsa.FailedCheck(err) != tsa.CheckChain {
					t.Fatalf("err = %v, want a chain error", err)
				}
			})
		})
	}
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// TestOpenSSLAgreesOnDefects cross-checks our negative cases against
// OpenSSL: tokens from defective TSA certificates, and validity judged at
// the token's genTime (openssl -attime) rather than now.
func TestOpenSSLAgreesOnDefects(t *testing.T) {
	opensslPath(t)
	digest := sha256.Sum256([]byte("cp"))
	now := time.Now().UTC().Truncate(time.Second)
	expired := tsatest.NewPKI(t, tsatest.Options{NotBefore: now.Add(-90 * 24 * time.Hour), NotAfter: now.Add(-30 * 24 * time.Hour)})
	genTime := now.Add(-60 * 24 * time.Hour)
	tests := []struct {
		name      string
		pki       *tsatest.PKI
		genTime   time.Time
		attime    bool
		wantCheck tsa.Check // "" = both accept
	}{
		{"well formed", tsatest.NewPKI(t, tsatest.Options{}), time.Time{}, false, ""},
		{"non-critical EKU", tsatest.NewPKI(t, tsatest.Options{NonCriticalEKU: true}), time.Time{}, false, tsa.CheckEKUCritical},
		{"extra EKU", tsatest.NewPKI(t, tsatest.Options{ExtraEKU: true}), time.Time{}, false, tsa.CheckEKU},
		{"expired certificate, checked at genTime", expired, genTime, true, ""},
		{"expired certificate, checked now", expired, genTime, false, tsa.CheckValidity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := tt.pki.Response(t, digest[:], tsatest.TokenOptions{GenTime: tt.genTime})
			writeFile(t, dir, "r.tsr", r)
			root := tsatest.WritePEM(t, dir, "root.pem", tt.pki.Root)
			args := []string{"ts", "-verify", "-digest", hex.EncodeToString(digest[:]), "-in", "r.tsr", "-CAfile", root}
			opts := tsa.VerifyOptions{Roots: tt.pki.Roots()}
			if tt.attime {
				args = append(args, "-attime", strconv.FormatInt(tt.genTime.Unix(), 10))
			} else if !tt.genTime.IsZero() {
				opts.At = now // what openssl does without -attime
			}
			out, oerr := runOpenSSL(t, dir, args...)
			_, err := tsa.Verify(r, digest, opts)
			if got := tsa.FailedCheck(err); got != tt.wantCheck || (tt.wantCheck == "" && err != nil) {
				t.Fatalf("Verify: %v, want check %q", err, tt.wantCheck)
			}
			if opensslOK := oerr == nil && strings.Contains(out, "Verification: OK"); opensslOK != (tt.wantCheck == "") {
				t.Fatalf("openssl disagrees (ok=%v):\n%s", opensslOK, out)
			}
		})
	}
}
