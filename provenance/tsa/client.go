package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net/http"
	"time"

	"github.com/digitorus/timestamp"
)

// Media types of RFC 3161 §3.4.
const (
	QueryMediaType = "application/timestamp-query"
	ReplyMediaType = "application/timestamp-reply"
)

// DefaultHTTPTimeout bounds one request of a Client whose HTTPClient is nil.
const DefaultHTTPTimeout = 30 * time.Second

// Timestamper obtains an RFC 3161 token over a SHA-256 digest. *Client and
// *DevTSA implement it; Dual consumes two.
type Timestamper interface {
	Timestamp(ctx context.Context, digest [32]byte) (token []byte, err error)
}

// TimestamperFunc adapts a function to Timestamper.
type TimestamperFunc func(ctx context.Context, digest [32]byte) ([]byte, error)

// Timestamp calls f.
func (f TimestamperFunc) Timestamp(ctx context.Context, digest [32]byte) ([]byte, error) {
	return f(ctx, digest)
}

var (
	_ Timestamper = (*Client)(nil)
	_ Timestamper = (*DevTSA)(nil)
	_ Timestamper = TimestamperFunc(nil)
)

// Client asks one RFC 3161 TSA over HTTP for tokens and verifies each token
// before returning it. Set the fields before first use and do not change them
// afterwards; a Client is then safe for concurrent use.
type Client struct {
	// URL is the TSA endpoint, e.g. "https://freetsa.org/tsr". Required.
	URL string
	// HTTPClient sends the request. Nil means a client with
	// DefaultHTTPTimeout. TSAs are usually plain HTTP: integrity comes from
	// the token's signature and the configured Roots, not from transport.
	HTTPClient *http.Client
	// Roots are the trust anchors for this TSA. Required: Timestamp fails
	// closed without them.
	Roots *x509.CertPool
	// Intermediates are extra untrusted certificates for chain building
	// (some TSAs omit intermediates from tokens). Default none.
	Intermediates []*x509.Certificate
	// Policy, when set, is requested and then required in the token.
	Policy asn1.ObjectIdentifier
	// Logger receives one debug line per token. Nil discards.
	Logger *slog.Logger
}

// ResponseError is an HTTP exchange with a TSA that did not yield a token to
// verify: the evidence is the URL, status, media type and a body prefix.
type ResponseError struct {
	URL         string
	StatusCode  int
	ContentType string
	Detail      string
	BodyPrefix  []byte // at most 256 bytes of the body
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("tsa: %s: HTTP %d (%s): %s", e.URL, e.StatusCode, e.ContentType, e.Detail)
}

// Timestamp requests a token over digest: SHA-256 imprint, a random 64-bit
// nonce, certReq set so the TSA embeds its certificate. It returns the DER
// TimeStampResp only after Verify accepted it with the request's nonce and
// digest and the Client's roots and policy.
func (c *Client) Timestamp(ctx context.Context, digest [32]byte) ([]byte, error) {
	if c.URL == "" {
		return nil, errors.New("tsa: client has no URL")
	}
	if c.Roots == nil {
		return nil, fmt.Errorf("tsa: client for %s has no trusted roots", c.URL)
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, err
	}
	req := timestamp.Request{
		HashAlgorithm: crypto.SHA256,
		HashedMessage: digest[:],
		Certificates:  true,
		Nonce:         nonce,
		TSAPolicyOID:  c.Policy,
	}
	body, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("tsa: encode request: %w", err)
	}
	resp, err := c.post(ctx, body)
	if err != nil {
		return nil, err
	}
	info, err := Verify(resp, digest, VerifyOptions{
		Roots:         c.Roots,
		Intermediates: c.Intermediates,
		Nonce:         nonce,
		Policy:        c.Policy,
	})
	if err != nil {
		return nil, fmt.Errorf("tsa: %s: %w", c.URL, err)
	}
	if c.Logger != nil {
		c.Logger.LogAttrs(ctx, slog.LevelDebug, "tsa token",
			slog.String("url", c.URL),
			slog.Time("gen_time", info.GenTime),
			slog.String("signer", info.Signer.Subject.CommonName),
			slog.Int("bytes", len(resp)))
	}
	return resp, nil
}

func (c *Client) post(ctx context.Context, body []byte) ([]byte, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("tsa: %w", err)
	}
	hreq.Header.Set("Content-Type", QueryMediaType)
	hreq.Header.Set("Accept", ReplyMediaType)
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	hresp, err := hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("tsa: %w", err)
	}
	defer hresp.Body.Close()
	// One byte over the limit tells "too large" from "exactly the limit".
	data, err := io.ReadAll(io.LimitReader(hresp.Body, MaxTokenSize+1))
	ct := hresp.Header.Get("Content-Type")
	rerr := func(detail string) error {
		return &ResponseError{URL: c.URL, StatusCode: hresp.StatusCode, ContentType: ct, Detail: detail, BodyPrefix: data[:min(len(data), 256)]}
	}
	if err != nil {
		return nil, rerr("read body: " + err.Error())
	}
	if hresp.StatusCode != http.StatusOK {
		return nil, rerr("status is not 200")
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != ReplyMediaType && mt != "application/timestamp-response") {
		return nil, rerr("media type is not " + ReplyMediaType)
	}
	if len(data) > MaxTokenSize {
		return nil, rerr(fmt.Sprintf("body exceeds %d bytes", MaxTokenSize))
	}
	return data, nil
}

// newNonce returns a random positive 64-bit nonce, the size openssl uses.
func newNonce() (*big.Int, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("tsa: nonce: %w", err)
	}
	b[0] &= 0x7f // so the DER INTEGER needs no sign byte and stays within 8 bytes
	n := new(big.Int).SetBytes(b[:])
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n, nil
}
