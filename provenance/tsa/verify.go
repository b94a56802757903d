package tsa

import (
	"crypto/x509"

	"github.com/aurora-federation/aurora/provenance/rfc3161"
)

// Token verification lives in provenance/rfc3161, which offline verifiers
// link without this package's HTTP client and dev TSA; this file re-exports
// it unchanged. rfc3161 documents each.

// Limits, as in rfc3161.
const (
	MaxTokenSize = rfc3161.MaxTokenSize
	MaxPEMSize   = rfc3161.MaxPEMSize
	MaxPEMCerts  = rfc3161.MaxPEMCerts
)

// Types of package rfc3161.
type (
	Check         = rfc3161.Check
	VerifyError   = rfc3161.VerifyError
	VerifyOptions = rfc3161.VerifyOptions
	Info          = rfc3161.Info
	StatusError   = rfc3161.StatusError
	Verifier      = rfc3161.Verifier
	PEMError      = rfc3161.PEMError
)

// The checks Verify performs, in order, as in rfc3161.
const (
	CheckRoots          = rfc3161.CheckRoots
	CheckSize           = rfc3161.CheckSize
	CheckEncoding       = rfc3161.CheckEncoding
	CheckStatus         = rfc3161.CheckStatus
	CheckContentType    = rfc3161.CheckContentType
	CheckSigner         = rfc3161.CheckSigner
	CheckHashAlgorithm  = rfc3161.CheckHashAlgorithm
	CheckSignature      = rfc3161.CheckSignature
	CheckSigningCert    = rfc3161.CheckSigningCert
	CheckChain          = rfc3161.CheckChain
	CheckValidity       = rfc3161.CheckValidity
	CheckEKU            = rfc3161.CheckEKU
	CheckEKUCritical    = rfc3161.CheckEKUCritical
	CheckNotCA          = rfc3161.CheckNotCA
	CheckKeyUsage       = rfc3161.CheckKeyUsage
	CheckImprint        = rfc3161.CheckImprint
	CheckNonce          = rfc3161.CheckNonce
	CheckPolicy         = rfc3161.CheckPolicy
	CheckTSTExtensions  = rfc3161.CheckTSTExtensions
	CheckTSTInfoVersion = rfc3161.CheckTSTInfoVersion
)

// ErrRefused is rfc3161.ErrRefused: it matches a *StatusError.
var ErrRefused = rfc3161.ErrRefused

// Verify is rfc3161.Verify.
func Verify(token []byte, digest [32]byte, opts VerifyOptions) (*Info, error) {
	return rfc3161.Verify(token, digest, opts)
}

// FailedCheck is rfc3161.FailedCheck.
func FailedCheck(err error) Check { return rfc3161.FailedCheck(err) }

// SignerID is rfc3161.SignerID.
func SignerID(c *x509.Certificate) [32]byte { return rfc3161.SignerID(c) }

// ParseCertificatesPEM is rfc3161.ParseCertificatesPEM.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	return rfc3161.ParseCertificatesPEM(data)
}

// CertPoolFromPEM is rfc3161.CertPoolFromPEM.
func CertPoolFromPEM(data []byte) (*x509.CertPool, error) { return rfc3161.CertPoolFromPEM(data) }

// LoadCertificates is rfc3161.LoadCertificates.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	return rfc3161.LoadCertificates(path)
}
