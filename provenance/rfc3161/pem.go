package rfc3161

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/aurora-federation/aurora/internal/boundedio"
)

// Limits on PEM trust material, which comes from configuration files.
const (
	MaxPEMSize  = 1 << 20 // bytes in one PEM file
	MaxPEMCerts = 64      // certificates in one PEM file
)

// PEMError names the PEM block that failed and why.
type PEMError struct {
	Source string // file name, or "" for in-memory input
	Block  int    // 1-based index of the block, 0 for the file as a whole
	Type   string // the block's type, if known
	Reason string
	Err    error
}

func (e *PEMError) Error() string {
	msg := "tsa: pem"
	if e.Source != "" {
		msg += " " + e.Source
	}
	if e.Block > 0 {
		msg += fmt.Sprintf(" block %d", e.Block)
		if e.Type != "" {
			msg += fmt.Sprintf(" (%s)", e.Type)
		}
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *PEMError) Unwrap() error { return e.Err }

// ParseCertificatesPEM parses a sequence of PEM "CERTIFICATE" blocks
// strictly: at least one and at most MaxPEMCerts blocks, no headers, no other
// block types, nothing but whitespace between and around blocks, input no
// larger than MaxPEMSize. It returns the certificates in file order.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	return parseCertificatesPEM("", data)
}

func parseCertificatesPEM(source string, data []byte) ([]*x509.Certificate, error) {
	perr := func(block int, typ, reason string, err error) error {
		return &PEMError{Source: source, Block: block, Type: typ, Reason: reason, Err: err}
	}
	if len(data) > MaxPEMSize {
		return nil, perr(0, "", fmt.Sprintf("%d bytes, limit %d", len(data), MaxPEMSize), nil)
	}
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		trimmed := bytes.TrimLeft(rest, " \t\r\n")
		if len(trimmed) == 0 {
			break
		}
		if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
			return nil, perr(n, "", "text outside PEM blocks", nil)
		}
		b, after := pem.Decode(trimmed)
		// pem.Decode skips a malformed block to find a later one: require
		// that it decoded the block we are looking at.
		if b == nil || bytes.Count(trimmed[:len(trimmed)-len(after)], []byte("-----BEGIN")) != 1 {
			return nil, perr(n, "", "malformed PEM block", nil)
		}
		if b.Type != "CERTIFICATE" {
			return nil, perr(n, b.Type, "not a CERTIFICATE block", nil)
		}
		if len(b.Headers) != 0 {
			return nil, perr(n, b.Type, "PEM headers are not allowed", nil)
		}
		if len(certs) == MaxPEMCerts {
			return nil, perr(n, b.Type, fmt.Sprintf("more than %d certificates", MaxPEMCerts), nil)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, perr(n, b.Type, "not a DER certificate", err)
		}
		certs = append(certs, c)
		rest = after
	}
	if len(certs) == 0 {
		return nil, perr(0, "", "no CERTIFICATE block", nil)
	}
	return certs, nil
}

// CertPoolFromPEM returns a pool of the certificates ParseCertificatesPEM
// accepts in data: the form TSA roots take in configuration.
func CertPoolFromPEM(data []byte) (*x509.CertPool, error) {
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, err
	}
	return CertPool(certs...), nil
}

// LoadCertificates reads a PEM file of certificates, bounded and strict as
// ParseCertificatesPEM.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := boundedio.ReadFile(path, MaxPEMSize)
	if err != nil {
		return nil, &PEMError{Source: path, Reason: "read", Err: err}
	}
	return parseCertificatesPEM(path, data)
}

// CertPool returns a new pool holding certs.
func CertPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// readBounded reads at most limit bytes of a file, failing if it is larger.
