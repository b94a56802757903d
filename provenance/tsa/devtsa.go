package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/aurora-federation/aurora/provenance/rfc3161"
)

// Clock tells the time. The dev TSA takes one so tests control genTime.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock; ClockFunc(time.Now) is the system
// clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// Files a DevTSA keeps in its directory. Keys are PKCS#8 PEM, mode 0600.
const (
	DevRootCertFile = "root.pem" // the trust anchor to configure in verifiers
	DevRootKeyFile  = "root.key" // kept to reissue the TSA certificate
	DevTSACertFile  = "tsa.pem"
	DevTSAKeyFile   = "tsa.key"
)

// Dev PKI lifetimes: the notes' OpenSSL profile (825-day TSA certificate) under
// a ten-year root. The TSA certificate is reissued on load once less than
// devRenewBefore of it remains.
const (
	devRootLifetime = 10 * 365 * 24 * time.Hour
	devLeafLifetime = 825 * 24 * time.Hour
	devRenewBefore  = 30 * 24 * time.Hour
	devBackdate     = time.Hour // tolerate verifiers whose clocks are a little behind
)

// MaxRequestSize bounds a TimeStampReq the dev TSA accepts. A SHA-512 request
// with a nonce and a policy is under 150 bytes.
const MaxRequestSize = 4 << 10

// DevPolicyOID returns the TSA policy of tokens the dev TSA issues: an arc
// under IANA's documentation enterprise number 32473 (RFC 5612), so it can
// never be mistaken for a production policy.
func DevPolicyOID() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3161, 1}
}

// DevTSA is a development RFC 3161 time-stamping authority with its own root
// CA and TSA certificate (EC P-256; the TSA certificate has a critical
// timeStamping EKU, keyUsage digitalSignature and CA:FALSE), so its tokens
// verify with Verify and with openssl ts -verify against DevRootCertFile.
// genTime comes from the Clock; the CMS signingTime attribute that
// digitorus/pkcs7 adds is the system time (verifiers ignore it). It is
// stateless after NewDevTSA and safe for concurrent use. It is for
// development and testnets: the keys sit unencrypted in its directory.
type DevTSA struct {
	clock    Clock
	dir      string
	root     *x509.Certificate
	leaf     *x509.Certificate
	key      *ecdsa.PrivateKey
	policy   asn1.ObjectIdentifier
	accuracy time.Duration
}

// NewDevTSA loads the dev TSA in dir, or creates it (directory mode 0700) when
// dir holds none of its files. A partial set of files is an error rather
// than being overwritten. A TSA certificate that has expired or expires
// within 30 days at clock's time is reissued under the same root. A nil
// clock is the system clock.
func NewDevTSA(dir string, clock Clock) (*DevTSA, error) {
	if clock == nil {
		clock = ClockFunc(time.Now)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tsa: dev: %w", err)
	}
	d := &DevTSA{clock: clock, dir: dir, policy: DevPolicyOID(), accuracy: time.Second}
	files := []string{DevRootCertFile, DevRootKeyFile, DevTSACertFile, DevTSAKeyFile}
	var present, missing []string
	for _, f := range files {
		switch _, err := os.Stat(filepath.Join(dir, f)); {
		case err == nil:
			present = append(present, f)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, f)
		default:
			return nil, fmt.Errorf("tsa: dev: %w", err)
		}
	}
	var err error
	switch {
	case len(present) == 0:
		err = d.create()
	case len(missing) == 0:
		err = d.load()
	default:
		err = fmt.Errorf("tsa: dev: %s has %v but lacks %v; remove the directory to start a new dev PKI", dir, present, missing)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (d *DevTSA) path(name string) string { return filepath.Join(d.dir, name) }

func (d *DevTSA) create() error {
	now := d.clock.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tsa: dev: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Aurora development"}, CommonName: "Aurora Dev TSA Root " + serial.Text(16)[:8]},
		NotBefore:             now.Add(-devBackdate),
		NotAfter:              now.Add(devRootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, rootKey.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("tsa: dev: root certificate: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("tsa: dev: %w", err)
	}
	if err := writeKey(d.path(DevRootKeyFile), rootKey); err != nil {
		return err
	}
	if err := writeCert(d.path(DevRootCertFile), root); err != nil {
		return err
	}
	d.root = root
	return d.issueLeaf(rootKey)
}

// issueLeaf creates a new TSA key and certificate under the root.
func (d *DevTSA) issueLeaf(rootKey *ecdsa.PrivateKey) error {
	now := d.clock.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tsa: dev: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	notAfter := now.Add(devLeafLifetime)
	if notAfter.After(d.root.NotAfter) {
		notAfter = d.root.NotAfter
	}
	ekuExt, err := timeStampingEKU()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Aurora development"}, CommonName: "Aurora Dev TSA"},
		NotBefore:             now.Add(-devBackdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  false,
		// crypto/x509 writes the EKU extension non-critical; RFC 3161
		// requires it critical, so it goes in as a raw extension.
		ExtraExtensions: []pkix.Extension{ekuExt},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, d.root, key.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("tsa: dev: TSA certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("tsa: dev: %w", err)
	}
	if err := writeKey(d.path(DevTSAKeyFile), key); err != nil {
		return err
	}
	if err := writeCert(d.path(DevTSACertFile), leaf); err != nil {
		return err
	}
	d.leaf, d.key = leaf, key
	return nil
}

// timeStampingEKU is the extendedKeyUsage extension RFC 3161 §2.3 requires:
// critical, with id-kp-timeStamping only.
func timeStampingEKU() (pkix.Extension, error) {
	val, err := asn1.Marshal([]asn1.ObjectIdentifier{rfc3161.OIDTimeStamping})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("tsa: dev: %w", err)
	}
	return pkix.Extension{Id: rfc3161.OIDExtKeyUsage, Critical: true, Value: val}, nil
}

func (d *DevTSA) load() error {
	roots, err := LoadCertificates(d.path(DevRootCertFile))
	if err != nil {
		return err
	}
	leaves, err := LoadCertificates(d.path(DevTSACertFile))
	if err != nil {
		return err
	}
	if len(roots) != 1 || len(leaves) != 1 {
		return fmt.Errorf("tsa: dev: %s and %s must hold one certificate each", DevRootCertFile, DevTSACertFile)
	}
	rootKey, err := readKey(d.path(DevRootKeyFile), roots[0])
	if err != nil {
		return err
	}
	d.root = roots[0]
	now := d.clock.Now()
	if now.After(d.root.NotAfter) {
		return fmt.Errorf("tsa: dev: root in %s expired on %s; remove the directory to start a new dev PKI", d.dir, d.root.NotAfter.UTC().Format(time.DateOnly))
	}
	if now.Add(devRenewBefore).After(leaves[0].NotAfter) {
		return d.issueLeaf(rootKey)
	}
	key, err := readKey(d.path(DevTSAKeyFile), leaves[0])
	if err != nil {
		return err
	}
	if _, err := rfc3161.VerifyChain(leaves[0], nil, rfc3161.CertPool(d.root), now); err != nil {
		return fmt.Errorf("tsa: dev: %s: %w", DevTSACertFile, err)
	}
	if err := rfc3161.CheckTSACertificate(leaves[0]); err != nil {
		return fmt.Errorf("tsa: dev: %s: %w", DevTSACertFile, err)
	}
	d.leaf, d.key = leaves[0], key
	return nil
}

// Root returns the dev TSA's root certificate, the trust anchor for its
// tokens. Callers must not modify it.
func (d *DevTSA) Root() *x509.Certificate { return d.root }

// Certificate returns the TSA (signing) certificate. Callers must not modify
// it.
func (d *DevTSA) Certificate() *x509.Certificate { return d.leaf }

// Roots returns a new pool holding only Root.
func (d *DevTSA) Roots() *x509.CertPool { return rfc3161.CertPool(d.root) }

// RootCertPath is the PEM file of Root, for verifiers and openssl -CAfile.
func (d *DevTSA) RootCertPath() string { return d.path(DevRootCertFile) }

// RequestError is a TimeStampReq the dev TSA rejected: the field and the
// rule, and the PKIFailureInfo name it answered with.
type RequestError struct {
	Field   string // e.g. "messageImprint.hashAlgorithm"
	Reason  string
	Failure string // PKIFailureInfo: badAlg, badDataFormat, unacceptedPolicy, ...
	Err     error
}

func (e *RequestError) Error() string {
	msg := fmt.Sprintf("tsa: request %s: %s (%s)", e.Field, e.Reason, e.Failure)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *RequestError) Unwrap() error { return e.Err }

func failureCode(name string) timestamp.FailureInfo {
	switch name {
	case "badAlg":
		return timestamp.BadAlgorithm
	case "badRequest":
		return timestamp.BadRequest
	case "badDataFormat":
		return timestamp.BadDataFormat
	case "timeNotAvailable":
		return timestamp.TimeNotAvailable
	case "unacceptedPolicy":
		return timestamp.UnacceptedPolicy
	case "unacceptedExtension":
		return timestamp.UnacceptedExtension
	}
	return timestamp.SystemFailure
}

type parsedRequest struct {
	hash    crypto.Hash
	imprint []byte
	nonce   *big.Int
	certReq bool
}

// parseRequest parses a DER TimeStampReq strictly (RFC 3161 §2.4.1).
func (d *DevTSA) parseRequest(der []byte) (*parsedRequest, *RequestError) {
	if len(der) == 0 || len(der) > MaxRequestSize {
		return nil, &RequestError{Field: "TimeStampReq", Reason: fmt.Sprintf("%d bytes, limit %d", len(der), MaxRequestSize), Failure: "badDataFormat"}
	}
	var req rfc3161.Request
	if err := rfc3161.UnmarshalDER(der, &req); err != nil {
		return nil, &RequestError{Field: "TimeStampReq", Reason: "not DER", Failure: "badDataFormat", Err: err}
	}
	if req.Version != 1 {
		return nil, &RequestError{Field: "version", Reason: fmt.Sprintf("%d, want 1", req.Version), Failure: "badRequest"}
	}
	alg := req.MessageImprint.HashAlgorithm
	h, ok := rfc3161.HashFromOID(alg.Algorithm)
	if !ok || !rfc3161.HashParamsOK(alg) {
		return nil, &RequestError{Field: "messageImprint.hashAlgorithm", Reason: alg.Algorithm.String() + " is not sha256, sha384 or sha512", Failure: "badAlg"}
	}
	if len(req.MessageImprint.HashedMessage) != h.Size() {
		return nil, &RequestError{Field: "messageImprint.hashedMessage", Reason: fmt.Sprintf("%d bytes for %s", len(req.MessageImprint.HashedMessage), h), Failure: "badDataFormat"}
	}
	if req.Nonce != nil && (req.Nonce.Sign() < 0 || req.Nonce.BitLen() > 256) {
		return nil, &RequestError{Field: "nonce", Reason: "negative or longer than 256 bits", Failure: "badDataFormat"}
	}
	if len(req.ReqPolicy) > 0 && !req.ReqPolicy.Equal(d.policy) {
		return nil, &RequestError{Field: "reqPolicy", Reason: req.ReqPolicy.String() + " is not " + d.policy.String(), Failure: "unacceptedPolicy"}
	}
	if len(req.Extensions) > 0 {
		return nil, &RequestError{Field: "extensions", Reason: "no extensions are supported", Failure: "unacceptedExtension"}
	}
	return &parsedRequest{hash: h, imprint: req.MessageImprint.HashedMessage, nonce: req.Nonce, certReq: req.CertReq}, nil
}

// Respond answers one DER TimeStampReq with a DER TimeStampResp. A request it
// rejects still gets a response (PKIStatus rejection with a failure bit, as
// RFC 3161 wants), returned together with a *RequestError saying why. Other
// errors mean no response could be produced.
func (d *DevTSA) Respond(req []byte) ([]byte, error) {
	pr, rerr := d.parseRequest(req)
	if rerr == nil {
		now := d.clock.Now()
		if now.Before(d.leaf.NotBefore) || now.After(d.leaf.NotAfter) {
			rerr = &RequestError{Field: "genTime", Reason: fmt.Sprintf("%s is outside the TSA certificate's validity; restart the dev TSA to reissue it", now.UTC().Format(time.RFC3339)), Failure: "timeNotAvailable"}
		}
	}
	if rerr != nil {
		resp, err := timestamp.CreateErrorResponse(timestamp.Rejection, failureCode(rerr.Failure))
		if err != nil {
			return nil, fmt.Errorf("tsa: dev: error response: %w", err)
		}
		return resp, rerr
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     pr.hash,
		HashedMessage:     pr.imprint,
		Time:              d.clock.Now().UTC().Truncate(time.Second),
		Accuracy:          d.accuracy,
		Nonce:             pr.nonce,
		Policy:            d.policy,
		AddTSACertificate: pr.certReq,
	}
	resp, err := ts.CreateResponseWithOpts(d.leaf, d.key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("tsa: dev: sign: %w", err)
	}
	return resp, nil
}

// Timestamp issues a token over digest in process, without HTTP, and
// verifies it like Client does. It makes the dev TSA a Timestamper for tests
// and the in-process testnet.
func (d *DevTSA) Timestamp(ctx context.Context, digest [32]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, err
	}
	req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Certificates: true, Nonce: nonce}).Marshal()
	if err != nil {
		return nil, fmt.Errorf("tsa: dev: %w", err)
	}
	resp, err := d.Respond(req)
	if err != nil {
		return nil, err
	}
	if _, err := Verify(resp, digest, VerifyOptions{Roots: d.Roots(), Nonce: nonce, Policy: d.policy}); err != nil {
		return nil, err
	}
	return resp, nil
}

// Handler serves RFC 3161 over HTTP (§3.4) on any path: POST with
// Content-Type application/timestamp-query and a body of at most
// MaxRequestSize bytes, answered with application/timestamp-reply. Other
// methods get 405, other media types 415, larger bodies 413.
func (d *DevTSA) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "tsa: POST a timestamp query", http.StatusMethodNotAllowed)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != QueryMediaType {
			http.Error(w, "tsa: Content-Type must be "+QueryMediaType, http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, fmt.Sprintf("tsa: request exceeds %d bytes", MaxRequestSize), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "tsa: read request", http.StatusBadRequest)
			return
		}
		resp, err := d.Respond(body)
		var rerr *RequestError
		if resp == nil || (err != nil && !errors.As(err, &rerr)) {
			http.Error(w, "tsa: internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ReplyMediaType)
		_, _ = w.Write(resp)
	})
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tsa: dev: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func writeCert(path string, c *x509.Certificate) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644)
}

func writeKey(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("tsa: dev: %w", err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// readKey reads a PKCS#8 EC key and checks it belongs to cert.
func readKey(path string, cert *x509.Certificate) (*ecdsa.PrivateKey, error) {
	const maxKeyFile = 16 << 10
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tsa: dev: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("tsa: dev: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("tsa: dev: %s: larger than %d bytes", path, maxKeyFile)
	}
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" || len(b.Headers) != 0 || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("tsa: dev: %s: want exactly one PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tsa: dev: %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("tsa: dev: %s: %T is not an EC key", path, k)
	}
	if !ek.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("tsa: dev: %s does not match the key in its certificate", path)
	}
	return ek, nil
}

// writeFileAtomic writes data to a temporary file in path's directory,
// syncs it and renames it over path, so a crash leaves the old file or the
// new one, never a torn one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tsa: dev: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("tsa: dev: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("tsa: dev: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tsa: dev: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tsa: dev: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tsa: dev: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
