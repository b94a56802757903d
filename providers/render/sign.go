package render

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Request signing, as the Render Compute ("Dispersed") API documents it
// (service-consumers-authenticate-requests): four headers
//
//	X-API-Key   the public key, pk_...
//	X-Time      Unix milliseconds (the server allows ±5 min)
//	X-Nonce     16 random bytes, 32 lowercase hex characters, never reused
//	X-Signature lowercase hex HMAC-SHA256(secret key, canonical string)
//
// over the canonical string
//
//	publicKey|timestamp|nonce|METHOD|pathname|canonicalQuery|sha256hex(canonicalBody)
//
// canonicalQuery sorts keys, then duplicate values, URL-encodes both and
// joins with "&" (no "?"); canonicalBody re-serializes JSON with recursively
// sorted keys, compact and ASCII-safe; an empty body hashes as sha256("").
const (
	HeaderKey       = "X-API-Key"
	HeaderTime      = "X-Time"
	HeaderNonce     = "X-Nonce"
	HeaderSignature = "X-Signature"
)

// EmptyBodySHA256 is sha256("") in hex, the body hash of a request without one.
const EmptyBodySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// maxCanonicalDepth bounds JSON nesting while canonicalizing.
const maxCanonicalDepth = 64

// SigningInput is everything a signature covers.
type SigningInput struct {
	PublicKey string
	TimeMS    int64
	Nonce     string
	Method    string
	Path      string // URL path without query, e.g. /v1/jobs
	RawQuery  string // as sent (any order); canonicalized by CanonicalString
	Body      []byte // as sent; canonicalized by CanonicalString
}

// CanonicalString returns the pipe-joined string that is signed. It fails
// only on a malformed query or a body that is not JSON.
func CanonicalString(in SigningInput) (string, error) {
	q, err := CanonicalQuery(in.RawQuery)
	if err != nil {
		return "", err
	}
	bodyHash := EmptyBodySHA256
	if len(bytes.TrimSpace(in.Body)) > 0 {
		cb, err := CanonicalJSON(in.Body)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(cb)
		bodyHash = hex.EncodeToString(sum[:])
	}
	return strings.Join([]string{
		in.PublicKey,
		strconv.FormatInt(in.TimeMS, 10),
		in.Nonce,
		strings.ToUpper(in.Method),
		in.Path,
		q,
		bodyHash,
	}, "|"), nil
}

// Sign returns the lowercase hex HMAC-SHA256 of the canonical string of in
// under secret.
func Sign(secret string, in SigningInput) (string, error) {
	s, err := CanonicalString(in)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, []byte(secret))
	io.WriteString(m, s)
	return hex.EncodeToString(m.Sum(nil)), nil
}

// CanonicalQuery sorts a raw query string by key, then value, and re-encodes
// it with RFC 3986 percent-encoding (space as %20, unreserved characters
// A-Z a-z 0-9 - _ . ~ left as they are). The documentation says only
// "URL-encode keys and values"; %20 rather than "+" is our reading, and the
// client sends the query in exactly this form so that what is signed is what
// travels.
func CanonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return "", fmt.Errorf("render: canonical query: %w", err)
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := slices.Clone(vals[k])
		slices.Sort(vs)
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(escapeRFC3986(k))
			b.WriteByte('=')
			b.WriteString(escapeRFC3986(v))
		}
	}
	return b.String(), nil
}

func escapeRFC3986(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// CanonicalJSON re-serializes a JSON document with object keys sorted
// recursively (by UTF-16 code units, as JavaScript sorts), no white space, and
// every non-ASCII character escaped as \uXXXX (surrogate pairs above the BMP),
// as Python's json.dumps(sort_keys=True, separators=(",", ":"),
// ensure_ascii=True) does. Numbers keep their literal text: the adapter
// sends integers only, so no float formatting question arises.
func CanonicalJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("render: canonical body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("render: canonical body: trailing data after JSON value")
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeCanonical(b *bytes.Buffer, v any, depth int) error {
	if depth > maxCanonicalDepth {
		return fmt.Errorf("render: canonical body: nested deeper than %d", maxCanonicalDepth)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		b.WriteString(x.String())
	case string:
		writeASCIIString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeASCIIString(b, k)
			b.WriteByte(':')
			if err := writeCanonical(b, x[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("render: canonical body: unexpected %T", v)
	}
	return nil
}

// compareUTF16 orders strings by UTF-16 code units (JavaScript's default sort).
func compareUTF16(a, b string) int {
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	return slices.Compare(ua, ub)
}

func writeASCIIString(b *bytes.Buffer, s string) {
	const hexd = "0123456789abcdef"
	u4 := func(r uint16) {
		b.WriteString(`\u`)
		b.WriteByte(hexd[r>>12&15])
		b.WriteByte(hexd[r>>8&15])
		b.WriteByte(hexd[r>>4&15])
		b.WriteByte(hexd[r&15])
	}
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r == 0x7f:
			u4(uint16(r))
		case r < 0x80:
			b.WriteByte(byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			u4(uint16(r1))
			u4(uint16(r2))
		default:
			u4(uint16(r))
		}
	}
	b.WriteByte('"')
}
