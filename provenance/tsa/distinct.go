package tsa

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// SameTSAError refuses a configuration whose two TSAs are one: dual
// timestamping needs two independent authorities. Reason says how they
// coincide (the same URL, or tokens signed by the same key).
type SameTSAError struct {
	A, B   string
	Reason string
}

func (e *SameTSAError) Error() string {
	return fmt.Sprintf("tsa: %s and %s are the same TSA: %s", e.A, e.B, e.Reason)
}

// CheckDistinctURLs is the node's config-time check that its two TSA URLs
// name different services: it compares them case-insensitively in scheme
// and host, without default ports, a trailing slash or a fragment. It
// returns a *SameTSAError when they coincide, or an error for a URL that is
// not absolute http(s).
func CheckDistinctURLs(a, b string) error {
	na, err := normalizeURL(a)
	if err != nil {
		return err
	}
	nb, err := normalizeURL(b)
	if err != nil {
		return err
	}
	if na == nb {
		return &SameTSAError{A: a, B: b, Reason: "the same URL"}
	}
	return nil
}

func normalizeURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("tsa: URL %q: %w", s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tsa: URL %q is not an absolute http(s) URL", s)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	q := ""
	if u.RawQuery != "" {
		q = "?" + u.RawQuery
	}
	return scheme + "://" + host + path + q, nil
}

// CheckDistinctSigners asks each TSA for a token over a probe digest,
// verifies both against opts and refuses (*SameTSAError) two TSAs whose
// tokens are signed by the same key: two URLs in front of one signer are
// one TSA. The node can run it at startup; it makes one request per TSA.
// names label the TSAs in errors.
func CheckDistinctSigners(ctx context.Context, names [2]string, ts [2]Timestamper, opts VerifyOptions) error {
	digest := sha256.Sum256([]byte("aurora/tsa-distinct-probe/v1"))
	var ids [2][32]byte
	var subjects [2]string
	for i, t := range ts {
		if t == nil {
			return fmt.Errorf("tsa: %s: no timestamper", names[i])
		}
		tok, err := t.Timestamp(ctx, digest)
		if err != nil {
			return fmt.Errorf("tsa: probe %s: %w", names[i], err)
		}
		o := opts
		o.Nonce = nil
		info, err := Verify(tok, digest, o)
		if err != nil {
			return fmt.Errorf("tsa: probe %s: %w", names[i], err)
		}
		ids[i], subjects[i] = SignerID(info.Signer), info.Signer.Subject.String()
	}
	if ids[0] == ids[1] {
		return &SameTSAError{A: names[0], B: names[1], Reason: fmt.Sprintf("both tokens are signed by the key of %q", subjects[0])}
	}
	return nil
}

// ErrSameTSA matches a *SameTSAError with errors.Is.
var ErrSameTSA = errors.New("tsa: same TSA")

// Is lets errors.Is(err, ErrSameTSA) match.
func (e *SameTSAError) Is(target error) bool { return target == ErrSameTSA }
