// Package tsatest builds RFC 3161 test PKIs and tokens, including
// deliberately defective ones (non-critical EKU, CA signer, expired
// certificate, missing nonce) for negative tests of verifiers. Everything it
// makes is for tests only.
package tsatest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// The default validity of every certificate: 2020–2040.
func defaultNotBefore() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }
func defaultNotAfter() time.Time  { return time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC) }

// DefaultGenTime is the genTime of tokens whose TokenOptions.GenTime is zero.
func DefaultGenTime() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) }

// TestPolicy is the policy OID of test tokens: under IANA's documentation
// enterprise number (RFC 5612).
func TestPolicy() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3161, 99}
}

// Options shape the signing certificate. The zero value is a well-formed TSA
// certificate: critical timeStamping-only EKU, digitalSignature, CA:FALSE,
// valid 2020–2040, issued directly by the root.
type Options struct {
	NonCriticalEKU bool // EKU extension present but not critical
	NoEKU          bool // no EKU extension
	ExtraEKU       bool // serverAuth besides timeStamping
	LeafIsCA       bool // basicConstraints CA:TRUE on the signer
	// KeyUsage of the signer; zero means digitalSignature.
	KeyUsage x509.KeyUsage
	// NotBefore and NotAfter of the signer; zero means 2020-01-01 and
	// 2040-01-01.
	NotBefore, NotAfter time.Time
	// Intermediate puts a CA between the root and the signer.
	Intermediate bool
}

// PKI is a root, an optional intermediate and a TSA signer.
type PKI struct {
	Root         *x509.Certificate
	Intermediate *x509.Certificate // nil unless Options.Intermediate
	Leaf         *x509.Certificate
	LeafKey      *ecdsa.PrivateKey
}

// Roots returns a new pool with the root only.
func (p *PKI) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root)
	return pool
}

// NewPKI creates a P-256 PKI shaped by o.
func NewPKI(t testing.TB, o Options) *PKI {
	t.Helper()
	rootKey := newKey(t)
	root := create(t, &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tsatest root"},
		NotBefore:             defaultNotBefore(),
		NotAfter:              defaultNotAfter(),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, rootKey, rootKey)
	p := &PKI{Root: root}
	issuer, issuerKey := root, rootKey
	if o.Intermediate {
		ik := newKey(t)
		p.Intermediate = create(t, &x509.Certificate{
			SerialNumber:          big.NewInt(2),
			Subject:               pkix.Name{CommonName: "tsatest intermediate"},
			NotBefore:             defaultNotBefore(),
			NotAfter:              defaultNotAfter(),
			KeyUsage:              x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}, root, ik, rootKey)
		issuer, issuerKey = p.Intermediate, ik
	}
	leaf := &x509.Certificate{
		SerialNumber:          big.NewInt(3),
		Subject:               pkix.Name{CommonName: "tsatest TSA"},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              o.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  o.LeafIsCA,
	}
	if leaf.NotBefore.IsZero() {
		leaf.NotBefore = defaultNotBefore()
	}
	if leaf.NotAfter.IsZero() {
		leaf.NotAfter = defaultNotAfter()
	}
	if leaf.KeyUsage == 0 {
		leaf.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if !o.NoEKU {
		oids := []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}}
		if o.ExtraEKU {
			oids = append(oids, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1})
		}
		val, err := asn1.Marshal(oids)
		if err != nil {
			t.Fatal(err)
		}
		leaf.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: !o.NonCriticalEKU, Value: val}}
	}
	p.LeafKey = newKey(t)
	p.Leaf = create(t, leaf, issuer, p.LeafKey, issuerKey)
	return p
}

// TokenOptions shape one response.
type TokenOptions struct {
	// GenTime defaults to DefaultGenTime.
	GenTime time.Time
	// Nonce is echoed in the token when non-nil.
	Nonce *big.Int
	// Policy defaults to TestPolicy.
	Policy asn1.ObjectIdentifier
	// OmitCertificates leaves the signer (and intermediate) out of the token.
	OmitCertificates bool
	// Hash is the imprint algorithm; zero means SHA-256. digest must have its
	// size.
	Hash crypto.Hash
}

// Response returns a DER TimeStampResp over digest signed by p's leaf.
func (p *PKI) Response(t testing.TB, digest []byte, o TokenOptions) []byte {
	t.Helper()
	ts := timestamp.Timestamp{
		HashAlgorithm:     o.Hash,
		HashedMessage:     digest,
		Time:              o.GenTime,
		Nonce:             o.Nonce,
		Policy:            o.Policy,
		Accuracy:          time.Second,
		AddTSACertificate: !o.OmitCertificates,
	}
	if ts.HashAlgorithm == 0 {
		ts.HashAlgorithm = crypto.SHA256
	}
	if ts.Time.IsZero() {
		ts.Time = DefaultGenTime()
	}
	if ts.Policy == nil {
		ts.Policy = TestPolicy()
	}
	if p.Intermediate != nil && !o.OmitCertificates {
		ts.Certificates = []*x509.Certificate{p.Intermediate}
	}
	resp, err := ts.CreateResponseWithOpts(p.Leaf, p.LeafKey, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Digest returns SHA-256 of s, the digest form the provenance code uses.
func Digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// WritePEM writes certs as PEM to dir/name and returns the path.
func WritePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func create(t testing.TB, tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
