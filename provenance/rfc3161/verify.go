package rfc3161

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// MaxTokenSize bounds a TimeStampResp or TimeStampToken we parse. A P-256
// token with its certificate is about 1.4 KB and RSA-4096 chains a few KB; the
// bound leaves room for long chains and refuses anything absurd before any
// ASN.1 is parsed.
const MaxTokenSize = 64 << 10

// Check names one verification step. A *VerifyError says which one failed.
type Check string

// The checks Verify performs, in order.
const (
	CheckRoots          Check = "roots"               // trusted roots are configured
	CheckSize           Check = "size"                // 0 < len(token) <= MaxTokenSize
	CheckEncoding       Check = "encoding"            // strict DER TimeStampResp / ContentInfo / SignedData / TSTInfo
	CheckStatus         Check = "status"              // PKIStatus granted (or grantedWithMods) with a token
	CheckContentType    Check = "content-type"        // eContentType and signed contentType are id-ct-TSTInfo
	CheckSigner         Check = "signer"              // exactly one signer whose certificate is known
	CheckHashAlgorithm  Check = "hash-algorithm"      // SHA-256/384/512 for the signature, SHA-256 for the imprint
	CheckSignature      Check = "signature"           // CMS signature and message digest
	CheckSigningCert    Check = "signing-certificate" // ESS signing-certificate(-v2) names the signer certificate
	CheckChain          Check = "chain"               // signer chains to the configured roots
	CheckValidity       Check = "validity"            // every certificate is valid at the token's genTime (or At)
	CheckEKU            Check = "eku"                 // the signer's only EKU is id-kp-timeStamping
	CheckEKUCritical    Check = "eku-critical"        // and that extension is critical (RFC 3161 §2.3)
	CheckNotCA          Check = "not-ca"              // the signer is an end entity
	CheckKeyUsage       Check = "key-usage"           // if present, keyUsage allows digitalSignature
	CheckImprint        Check = "imprint"             // the message imprint is the expected digest
	CheckNonce          Check = "nonce"               // the nonce echoes the request's
	CheckPolicy         Check = "policy"              // the TSA policy is the expected one
	CheckTSTExtensions  Check = "tst-extensions"      // no critical TSTInfo extensions
	CheckTSTInfoVersion Check = "tstinfo-version"     // TSTInfo version is 1
)

// VerifyError reports the check a token failed and the evidence: what the
// token holds against what was expected.
type VerifyError struct {
	Check Check
	// Detail describes the failure in words.
	Detail string
	// Got and Want are the compared values when the check is a comparison
	// (hex for digests, decimal for nonces, dotted OIDs).
	Got, Want string
	// Err is the underlying error, if any.
	Err error
}

func (e *VerifyError) Error() string {
	msg := "tsa: verify " + string(e.Check)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Got != "" || e.Want != "" {
		msg += fmt.Sprintf(" (got %s, want %s)", e.Got, e.Want)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *VerifyError) Unwrap() error { return e.Err }

func fail(c Check, detail string, err error) *VerifyError {
	return &VerifyError{Check: c, Detail: detail, Err: err}
}

// FailedCheck returns the check err failed, or "" if err is not (or does not
// wrap) a *VerifyError.
func FailedCheck(err error) Check {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Check
	}
	var se *StatusError
	if errors.As(err, &se) {
		return CheckStatus
	}
	return ""
}

// VerifyOptions says what a token must chain to and match.
type VerifyOptions struct {
	// Roots are the trusted TSA roots. Required: Verify fails closed without.
	Roots *x509.CertPool
	// Intermediates are untrusted certificates used to build the chain, and
	// to find the signer when the token does not embed its certificate (like
	// openssl ts -verify -untrusted). Default none.
	Intermediates []*x509.Certificate
	// At is when the chain must be valid. Zero (the default) means the
	// token's own genTime, so a token stays verifiable after its TSA
	// certificate expires (openssl -attime).
	At time.Time
	// Nonce, when non-nil, must equal the token's nonce.
	Nonce *big.Int
	// Policy, when non-empty, must equal the token's TSA policy OID.
	Policy asn1.ObjectIdentifier
}

// Info is what a verified token attests.
type Info struct {
	// GenTime is the TSA's time for the token.
	GenTime time.Time
	// Accuracy is the TSA's declared accuracy, zero when absent.
	Accuracy     time.Duration
	SerialNumber *big.Int
	Policy       asn1.ObjectIdentifier
	// Nonce is the token's nonce, nil when absent.
	Nonce *big.Int
	// Signer is the TSA certificate; Chain runs from it to a trusted root.
	Signer *x509.Certificate
	Chain  []*x509.Certificate
	// Token is the bare TimeStampToken (a CMS ContentInfo). It aliases the
	// input of Verify.
	Token []byte
}

// Verify checks an RFC 3161 token over digest (a SHA-256 value): token is a
// DER TimeStampResp or a bare TimeStampToken. It verifies the CMS signature,
// that the signer certificate chains to opts.Roots and is valid at the
// token's genTime (not now), that the signer has the timeStamping EKU as its
// only, critical extended key usage and is not a CA, that the ESS
// signing-certificate attribute names it, that the message imprint is
// SHA-256 over digest, and the nonce and policy when opts names them. An
// error is a *VerifyError naming the failed check.
//
// Verify never trusts the certificates a token embeds except to build a
// chain to opts.Roots. It is safe for concurrent use.
func Verify(token []byte, digest [32]byte, opts VerifyOptions) (*Info, error) {
	if opts.Roots == nil {
		return nil, fail(CheckRoots, "no trusted TSA roots configured", nil)
	}
	if len(token) == 0 || len(token) > MaxTokenSize {
		return nil, fail(CheckSize, fmt.Sprintf("token is %d bytes, limit %d", len(token), MaxTokenSize), nil)
	}
	tok, err := tokenFromDER(token)
	if err != nil {
		return nil, err
	}
	env, err := parseEnvelope(tok)
	if err != nil {
		return nil, err
	}
	var tst tstInfo
	if err := UnmarshalDER(env.content, &tst); err != nil {
		return nil, fail(CheckEncoding, "TSTInfo", err)
	}
	if tst.Version != 1 {
		return nil, &VerifyError{Check: CheckTSTInfoVersion, Got: fmt.Sprint(tst.Version), Want: "1"}
	}
	// The token's certificates and the caller's untrusted ones are
	// candidates for the signer; only the chain check below decides trust.
	candidates := append(env.certs, opts.Intermediates...)
	signer, err := findSigner(env.signer, candidates)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(env, signer); err != nil {
		return nil, err
	}
	if err := checkSigningCertAttr(env.attrs, signer); err != nil {
		return nil, err
	}
	at := opts.At
	if at.IsZero() {
		at = tst.GenTime
	}
	chain, err := VerifyChain(signer, candidates, opts.Roots, at)
	if err != nil {
		return nil, err
	}
	if err := CheckTSACertificate(signer); err != nil {
		return nil, err
	}
	if err := checkTST(&tst, digest, opts); err != nil {
		return nil, err
	}
	return &Info{
		GenTime:      tst.GenTime,
		Accuracy:     tst.Accuracy.duration(),
		SerialNumber: tst.SerialNumber,
		Policy:       tst.Policy,
		Nonce:        tst.Nonce,
		Signer:       signer,
		Chain:        chain,
		Token:        tok,
	}, nil
}

// tokenFromDER returns the TimeStampToken inside a TimeStampResp, or der
// itself when it already is a bare token (a ContentInfo starts with an OID,
// a TimeStampResp with the PKIStatusInfo SEQUENCE).
func tokenFromDER(der []byte) ([]byte, error) {
	var outer asn1.RawValue
	if err := UnmarshalDER(der, &outer); err != nil {
		return nil, fail(CheckEncoding, "outer value", err)
	}
	if outer.Class != asn1.ClassUniversal || outer.Tag != asn1.TagSequence || !outer.IsCompound {
		return nil, fail(CheckEncoding, "outer value is not a SEQUENCE", nil)
	}
	var first asn1.RawValue
	if _, err := asn1.Unmarshal(outer.Bytes, &first); err != nil {
		return nil, fail(CheckEncoding, "first element", err)
	}
	if first.Class == asn1.ClassUniversal && first.Tag == asn1.TagOID {
		return der, nil
	}
	var resp tsResp
	if err := UnmarshalDER(der, &resp); err != nil {
		return nil, fail(CheckEncoding, "TimeStampResp", err)
	}
	if s := resp.Status.Status; s != statusGranted && s != statusGrantedWithMods {
		return nil, &StatusError{Status: s, Text: resp.Status.StatusString, Failures: resp.Status.failures()}
	}
	if len(resp.Token.FullBytes) == 0 {
		return nil, fail(CheckStatus, "granted response carries no token", nil)
	}
	return resp.Token.FullBytes, nil
}

// StatusError is a TimeStampResp whose PKIStatus is not granted: the TSA's
// refusal, with its status text and failure bits as evidence.
// FailedCheck reports it as CheckStatus.
type StatusError struct {
	Status   int      // PKIStatus: 2 rejection, 3 waiting, 4/5 revocation
	Text     []string // PKIFreeText, if any
	Failures []string // PKIFailureInfo bit names, e.g. "badAlg"
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("tsa: TSA refused the request: status %d, failures %v, text %q", e.Status, e.Failures, e.Text)
}

// Is lets errors.Is(err, ErrRefused) match any refusal.
func (e *StatusError) Is(target error) bool { return target == ErrRefused }

// ErrRefused matches a *StatusError: the TSA answered but did not grant.
var ErrRefused = errors.New("tsa: request refused")

// envelope is a TimeStampToken's SignedData, checked structurally.
type envelope struct {
	content     []byte // the encapsulated TSTInfo
	certs       []*x509.Certificate
	signer      *signerInfo
	attrs       []attribute // the signer's signed attributes
	signedAttrs []byte      // their DER as a SET OF, what the signature covers
}

// maxTokenCerts bounds the certificates one token may embed.
const maxTokenCerts = 16

// parseEnvelope checks ContentInfo and SignedData (RFC 5652) strictly: DER,
// id-signedData holding id-ct-TSTInfo, X.509 certificates only, exactly one
// SignerInfo with signed attributes.
func parseEnvelope(tok []byte) (*envelope, error) {
	var ci contentInfo
	if err := UnmarshalDER(tok, &ci); err != nil {
		return nil, fail(CheckEncoding, "ContentInfo", err)
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, &VerifyError{Check: CheckContentType, Detail: "ContentInfo", Got: ci.ContentType.String(), Want: oidSignedData.String()}
	}
	var sd signedData
	if err := UnmarshalDER(ci.Content.Bytes, &sd); err != nil {
		return nil, fail(CheckEncoding, "SignedData", err)
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidTSTInfo) {
		return nil, &VerifyError{Check: CheckContentType, Detail: "eContentType", Got: sd.EncapContentInfo.EContentType.String(), Want: oidTSTInfo.String()}
	}
	env := &envelope{}
	if err := UnmarshalDER(sd.EncapContentInfo.EContent.Bytes, &env.content); err != nil {
		return nil, fail(CheckEncoding, "eContent is not an OCTET STRING", err)
	}
	for rest := sd.Certificates.Bytes; len(rest) > 0; {
		var raw asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &raw); err != nil {
			return nil, fail(CheckEncoding, "certificates", err)
		}
		if raw.Class != asn1.ClassUniversal || raw.Tag != asn1.TagSequence {
			return nil, fail(CheckEncoding, "certificates: only X.509 certificates are supported", nil)
		}
		if len(env.certs) == maxTokenCerts {
			return nil, fail(CheckEncoding, fmt.Sprintf("more than %d certificates", maxTokenCerts), nil)
		}
		c, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, fail(CheckEncoding, "certificate", err)
		}
		env.certs = append(env.certs, c)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fail(CheckSigner, fmt.Sprintf("%d signer infos, want exactly 1", len(sd.SignerInfos)), nil)
	}
	env.signer = new(signerInfo)
	if err := UnmarshalDER(sd.SignerInfos[0].FullBytes, env.signer); err != nil {
		return nil, fail(CheckEncoding, "SignerInfo", err)
	}
	sa := env.signer.SignedAttrs
	if len(sa.FullBytes) == 0 {
		return nil, fail(CheckSignature, "no signed attributes", nil)
	}
	// The signature covers the attributes DER-encoded as a SET OF, i.e.
	// with the [0] IMPLICIT tag replaced by the universal SET tag (RFC 5652
	// §5.4). A one-byte [0] constructed tag is 0xa0.
	if sa.FullBytes[0] != 0xa0 {
		return nil, fail(CheckEncoding, "signedAttrs tag", nil)
	}
	env.signedAttrs = append([]byte{0x31}, sa.FullBytes[1:]...)
	if _, err := asn1.UnmarshalWithParams(env.signedAttrs, &env.attrs, "set"); err != nil {
		return nil, fail(CheckEncoding, "signedAttrs", err)
	}
	return env, nil
}

// findSigner returns the candidate the SignerInfo identifies, by issuer and
// serial number or by subject key identifier.
func findSigner(si *signerInfo, candidates []*x509.Certificate) (*x509.Certificate, error) {
	sid := si.SID
	switch {
	case sid.Class == asn1.ClassUniversal && sid.Tag == asn1.TagSequence:
		var ias issuerAndSerial
		if err := UnmarshalDER(sid.FullBytes, &ias); err != nil {
			return nil, fail(CheckEncoding, "SignerIdentifier", err)
		}
		for _, c := range candidates {
			if bytes.Equal(c.RawIssuer, ias.Issuer.FullBytes) && c.SerialNumber.Cmp(ias.Serial) == 0 {
				return c, nil
			}
		}
	case sid.Class == asn1.ClassContextSpecific && sid.Tag == 0 && !sid.IsCompound:
		for _, c := range candidates {
			if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, sid.Bytes) {
				return c, nil
			}
		}
	default:
		return nil, fail(CheckEncoding, "SignerIdentifier is neither issuerAndSerialNumber nor subjectKeyIdentifier", nil)
	}
	return nil, fail(CheckSigner, "signer certificate is neither embedded nor among the intermediates", nil)
}

// verifySignature checks the SignerInfo: allowed digest, signed contentType
// id-ct-TSTInfo, messageDigest over the TSTInfo, and the signature over the
// signed attributes by signer's key. The CMS signingTime attribute, if any,
// plays no part: the token's time is its TSTInfo genTime.
func verifySignature(env *envelope, signer *x509.Certificate) error {
	si := env.signer
	h, ok := HashFromOID(si.DigestAlgorithm.Algorithm)
	if !ok || !HashParamsOK(si.DigestAlgorithm) {
		return &VerifyError{Check: CheckHashAlgorithm, Detail: "SignerInfo digestAlgorithm", Got: si.DigestAlgorithm.Algorithm.String(), Want: "sha256, sha384 or sha512"}
	}
	var ct asn1.ObjectIdentifier
	if err := signedAttr(env.attrs, oidContentTypeAttr, &ct); err != nil {
		return fail(CheckContentType, "signed contentType attribute", err)
	}
	if !ct.Equal(oidTSTInfo) {
		return &VerifyError{Check: CheckContentType, Detail: "signed contentType attribute", Got: ct.String(), Want: oidTSTInfo.String()}
	}
	var md []byte
	if err := signedAttr(env.attrs, oidMessageDigestAttr, &md); err != nil {
		return fail(CheckSignature, "messageDigest attribute", err)
	}
	hh := h.New()
	hh.Write(env.content)
	if sum := hh.Sum(nil); !bytes.Equal(sum, md) {
		return &VerifyError{Check: CheckSignature, Detail: "messageDigest does not match the TSTInfo", Got: hex.EncodeToString(md), Want: hex.EncodeToString(sum)}
	}
	alg, ok := signatureAlgorithm(si.SignatureAlgorithm.Algorithm, h)
	if !ok {
		return &VerifyError{Check: CheckHashAlgorithm, Detail: "signature algorithm", Got: si.SignatureAlgorithm.Algorithm.String(), Want: "ECDSA, RSA PKCS#1 v1.5 or Ed25519 with SHA-2"}
	}
	if err := signer.CheckSignature(alg, env.signedAttrs, si.Signature); err != nil {
		return fail(CheckSignature, fmt.Sprintf("by %q", signer.Subject.CommonName), err)
	}
	return nil
}

// signatureAlgorithm maps a SignerInfo signatureAlgorithm, with its digest,
// to crypto/x509's names. SHA-1 and MD5 combinations are absent on purpose.
func signatureAlgorithm(oid asn1.ObjectIdentifier, h crypto.Hash) (x509.SignatureAlgorithm, bool) {
	byHash := func(a256, a384, a512 x509.SignatureAlgorithm) (x509.SignatureAlgorithm, bool) {
		switch h {
		case crypto.SHA256:
			return a256, true
		case crypto.SHA384:
			return a384, true
		case crypto.SHA512:
			return a512, true
		}
		return x509.UnknownSignatureAlgorithm, false
	}
	switch {
	case oid.Equal(oidECDSAWithSHA256):
		return x509.ECDSAWithSHA256, true
	case oid.Equal(oidECDSAWithSHA384):
		return x509.ECDSAWithSHA384, true
	case oid.Equal(oidECDSAWithSHA512):
		return x509.ECDSAWithSHA512, true
	case oid.Equal(oidECPublicKey):
		return byHash(x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512)
	case oid.Equal(oidRSAEncryption):
		return byHash(x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA)
	case oid.Equal(oidSHA256WithRSA):
		return x509.SHA256WithRSA, true
	case oid.Equal(oidSHA384WithRSA):
		return x509.SHA384WithRSA, true
	case oid.Equal(oidSHA512WithRSA):
		return x509.SHA512WithRSA, true
	case oid.Equal(oidEd25519):
		return x509.PureEd25519, true
	}
	return x509.UnknownSignatureAlgorithm, false
}

// signedAttr parses the single value of the attribute oid into out. An
// attribute that appears twice, or holds more than one value, is an error.
func signedAttr(attrs []attribute, oid asn1.ObjectIdentifier, out any) error {
	found := -1
	for i, a := range attrs {
		if a.Type.Equal(oid) {
			if found >= 0 {
				return fmt.Errorf("attribute %s appears twice", oid)
			}
			found = i
		}
	}
	if found < 0 {
		return errAttrAbsent
	}
	return UnmarshalDER(attrs[found].Values.Bytes, out)
}

var errAttrAbsent = errors.New("attribute absent")

// checkSigningCertAttr requires the ESS signing-certificate attribute (v2
// per RFC 5816, or v1 with SHA-1 as FreeTSA still sends) and that its first
// ESSCertID hashes to the signer certificate.
func checkSigningCertAttr(attrs []attribute, signer *x509.Certificate) error {
	var v2 signingCertificateV2
	err := signedAttr(attrs, oidSigningCertificateV2, &v2)
	switch {
	case err == nil:
		if len(v2.Certs) == 0 {
			return fail(CheckSigningCert, "signingCertificateV2 lists no certificate", nil)
		}
		id := v2.Certs[0]
		h := crypto.SHA256
		if len(id.HashAlgorithm.Algorithm) > 0 {
			var ok bool
			if h, ok = HashFromOID(id.HashAlgorithm.Algorithm); !ok {
				return &VerifyError{Check: CheckHashAlgorithm, Detail: "ESSCertIDv2", Got: id.HashAlgorithm.Algorithm.String(), Want: "sha256, sha384 or sha512"}
			}
		}
		hh := h.New()
		hh.Write(signer.Raw)
		if sum := hh.Sum(nil); !bytes.Equal(sum, id.CertHash) {
			return &VerifyError{Check: CheckSigningCert, Detail: "ESSCertIDv2 hash does not name the signer certificate", Got: hex.EncodeToString(id.CertHash), Want: hex.EncodeToString(sum)}
		}
		return nil
	case !errors.Is(err, errAttrAbsent):
		return fail(CheckSigningCert, "signingCertificateV2", err)
	}
	var v1 signingCertificate
	if err := signedAttr(attrs, oidSigningCertificate, &v1); err != nil {
		if errors.Is(err, errAttrAbsent) {
			return fail(CheckSigningCert, "neither signingCertificateV2 nor signingCertificate is a signed attribute", nil)
		}
		return fail(CheckSigningCert, "signingCertificate", err)
	}
	if len(v1.Certs) == 0 {
		return fail(CheckSigningCert, "signingCertificate lists no certificate", nil)
	}
	hh := crypto.SHA1.New()
	hh.Write(signer.Raw)
	if sum := hh.Sum(nil); !bytes.Equal(sum, v1.Certs[0].CertHash) {
		return &VerifyError{Check: CheckSigningCert, Detail: "ESSCertID hash does not name the signer certificate", Got: hex.EncodeToString(v1.Certs[0].CertHash), Want: hex.EncodeToString(sum)}
	}
	return nil
}

// VerifyChain builds the signer's chain to roots through candidates,
// valid at at and allowing timeStamping, naming the failed check
// (chain, validity or eku).
func VerifyChain(signer *x509.Certificate, candidates []*x509.Certificate, roots *x509.CertPool, at time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range candidates {
		inter.AddCert(c)
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	})
	if err == nil {
		return chains[0], nil
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			return nil, &VerifyError{Check: CheckValidity, Detail: fmt.Sprintf("%q valid %s to %s",
				inv.Cert.Subject.CommonName, inv.Cert.NotBefore.UTC().Format(time.RFC3339), inv.Cert.NotAfter.UTC().Format(time.RFC3339)),
				Got: at.UTC().Format(time.RFC3339), Want: "a time within the validity period", Err: err}
		case x509.IncompatibleUsage:
			return nil, fail(CheckEKU, "chain does not allow timeStamping", err)
		}
	}
	return nil, fail(CheckChain, fmt.Sprintf("signer %q (issuer %q)", signer.Subject.CommonName, signer.Issuer.CommonName), err)
}

// CheckTSACertificate applies RFC 3161 §2.3 to the signer: the extended key usage
// extension is present, critical, and names timeStamping only; the
// certificate is not a CA; a keyUsage, if present, allows signing.
func CheckTSACertificate(c *x509.Certificate) error {
	var eku *struct{ critical bool }
	for _, ext := range c.Extensions {
		if ext.Id.Equal(OIDExtKeyUsage) {
			eku = &struct{ critical bool }{ext.Critical}
		}
	}
	if eku == nil {
		return fail(CheckEKU, "signer has no extended key usage extension", nil)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) != 0 {
		return &VerifyError{Check: CheckEKU, Detail: "signer must have timeStamping as its only extended key usage",
			Got: fmt.Sprint(c.ExtKeyUsage, c.UnknownExtKeyUsage), Want: OIDTimeStamping.String()}
	}
	if !eku.critical {
		return fail(CheckEKUCritical, fmt.Sprintf("extended key usage of %q is not critical", c.Subject.CommonName), nil)
	}
	if c.IsCA {
		return fail(CheckNotCA, fmt.Sprintf("signer %q is a CA (basicConstraints CA:TRUE)", c.Subject.CommonName), nil)
	}
	if c.KeyUsage != 0 && c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return &VerifyError{Check: CheckKeyUsage, Detail: "keyUsage forbids signing", Got: fmt.Sprintf("%#x", c.KeyUsage), Want: "digitalSignature or nonRepudiation"}
	}
	return nil
}

func checkTST(tst *tstInfo, digest [32]byte, opts VerifyOptions) error {
	alg := tst.MessageImprint.HashAlgorithm
	if !alg.Algorithm.Equal(oidSHA256) || !HashParamsOK(alg) {
		return &VerifyError{Check: CheckHashAlgorithm, Detail: "message imprint", Got: alg.Algorithm.String(), Want: oidSHA256.String() + " (sha256)"}
	}
	if !bytes.Equal(tst.MessageImprint.HashedMessage, digest[:]) {
		return &VerifyError{Check: CheckImprint, Detail: "token covers a different digest",
			Got: hex.EncodeToString(tst.MessageImprint.HashedMessage), Want: hex.EncodeToString(digest[:])}
	}
	for _, ext := range tst.Extensions {
		if ext.Critical {
			return &VerifyError{Check: CheckTSTExtensions, Detail: "unknown critical TSTInfo extension", Got: ext.Id.String()}
		}
	}
	if opts.Nonce != nil && (tst.Nonce == nil || tst.Nonce.Cmp(opts.Nonce) != 0) {
		got := "none"
		if tst.Nonce != nil {
			got = tst.Nonce.String()
		}
		return &VerifyError{Check: CheckNonce, Detail: "token does not echo the request nonce", Got: got, Want: opts.Nonce.String()}
	}
	if len(opts.Policy) > 0 && !tst.Policy.Equal(opts.Policy) {
		return &VerifyError{Check: CheckPolicy, Got: tst.Policy.String(), Want: opts.Policy.String()}
	}
	return nil
}

// Verifier verifies tokens against fixed options. Its VerifyToken method
// has the shape of provenance.TokenVerifier; give it the roots of both
// configured TSAs and each token chains to its own. It is safe for
// concurrent use if Opts is not modified.
type Verifier struct {
	Opts VerifyOptions
}

// VerifyToken verifies token over digest and returns its genTime.
func (v Verifier) VerifyToken(token []byte, digest [32]byte) (time.Time, error) {
	info, err := Verify(token, digest, v.Opts)
	if err != nil {
		return time.Time{}, err
	}
	return info.GenTime, nil
}

// VerifyTokenSigner is VerifyToken that also identifies the TSA: signerID
// is the SHA-256 of the signer certificate's SubjectPublicKeyInfo and
// signer its subject (provenance.SignerVerifier), so that a verifier counts
// tokens from distinct TSAs only.
func (v Verifier) VerifyTokenSigner(token []byte, digest [32]byte) (time.Time, [32]byte, string, error) {
	info, err := Verify(token, digest, v.Opts)
	if err != nil {
		return time.Time{}, [32]byte{}, "", err
	}
	return info.GenTime, SignerID(info.Signer), info.Signer.Subject.String(), nil
}

// SignerID identifies a TSA by its signing key: the SHA-256 of the
// certificate's SubjectPublicKeyInfo.
func SignerID(c *x509.Certificate) [32]byte { return sha256.Sum256(c.RawSubjectPublicKeyInfo) }
