package rendertest

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
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// This file is the fake's own implementation of the documented request
// signature, written independently of package render's signer (different
// code paths: encoding/json re-marshalling plus an ASCII pass, sort.Strings
// on decoded pairs), so that the adapter's tests cross-check two readings of
// the documentation rather than one piece of code against itself.

// Skew is the clock difference the fake tolerates (documented: ±5 min).
const Skew = 5 * time.Minute

// SignatureError says why a request's signature was refused.
type SignatureError struct{ Reason string }

func (e *SignatureError) Error() string { return "rendertest: signature refused: " + e.Reason }

// Verifier checks signed requests for one key pair and remembers nonces.
// Safe for concurrent use.
type Verifier struct {
	PublicKey, SecretKey string
	Now                  func() time.Time

	mu     sync.Mutex // protects nonces
	nonces map[string]time.Time
}

// Verify checks the four headers of a request with the given method, path,
// raw query and body bytes.
func (v *Verifier) Verify(method, path, rawQuery string, header map[string][]string, body []byte) error {
	get := func(k string) string {
		if vs := header[k]; len(vs) == 1 {
			return vs[0]
		}
		return ""
	}
	key, ts, nonce, sig := get("X-Api-Key"), get("X-Time"), get("X-Nonce"), get("X-Signature")
	switch {
	case key == "" || ts == "" || nonce == "" || sig == "":
		return &SignatureError{"missing X-API-Key, X-Time, X-Nonce or X-Signature"}
	case key != v.PublicKey:
		return &SignatureError{"unknown API key"}
	case !isHex(nonce, 32):
		return &SignatureError{"X-Nonce must be 32 lowercase hex characters"}
	case !isHex(sig, 64):
		return &SignatureError{"X-Signature must be 64 lowercase hex characters"}
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms <= 0 {
		return &SignatureError{"X-Time is not Unix milliseconds"}
	}
	now := v.Now()
	if d := now.Sub(time.UnixMilli(ms)); d > Skew || d < -Skew {
		return &SignatureError{fmt.Sprintf("X-Time is %v away from server time", d.Round(time.Second))}
	}
	canon, err := FakeCanonicalString(key, ts, nonce, method, path, rawQuery, body)
	if err != nil {
		return &SignatureError{err.Error()}
	}
	m := hmac.New(sha256.New, []byte(v.SecretKey))
	io.WriteString(m, canon)
	want := m.Sum(nil)
	got, _ := hex.DecodeString(sig)
	if !hmac.Equal(want, got) {
		return &SignatureError{"signature does not match"}
	}
	// Only a verified request consumes its nonce.
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.nonces == nil {
		v.nonces = map[string]time.Time{}
	}
	for n, exp := range v.nonces {
		if now.After(exp) {
			delete(v.nonces, n)
		}
	}
	if _, seen := v.nonces[nonce]; seen {
		return &SignatureError{"nonce already used"}
	}
	v.nonces[nonce] = time.UnixMilli(ms).Add(2 * Skew)
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// FakeCanonicalString builds the documented canonical string from a request
// as received.
func FakeCanonicalString(key, ts, nonce, method, path, rawQuery string, body []byte) (string, error) {
	q, err := fakeQuery(rawQuery)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if len(bytes.TrimSpace(body)) > 0 {
		cb, err := FakeCanonicalJSON(body)
		if err != nil {
			return "", err
		}
		h.Write(cb)
	}
	return key + "|" + ts + "|" + nonce + "|" + strings.ToUpper(method) + "|" + path + "|" + q + "|" + hex.EncodeToString(h.Sum(nil)), nil
}

func fakeQuery(raw string) (string, error) {
	type pair struct{ k, v string }
	var pairs []pair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		uk, err1 := url.QueryUnescape(k)
		uv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return "", errors.New("malformed query")
		}
		pairs = append(pairs, pair{uk, uv})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = pct(p.k) + "=" + pct(p.v)
	}
	return strings.Join(parts, "&"), nil
}

// pct percent-encodes everything except RFC 3986 unreserved characters.
func pct(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// FakeCanonicalJSON sorts keys (by code point, as Go's encoding/json and
// Python do), compacts, and escapes every non-ASCII character and DEL as
// \uXXXX. For keys mixing characters above U+FFFF with U+E000–U+FFFF it can
// order differently from a UTF-16 sort; Aurora's bodies have ASCII keys.
func FakeCanonicalJSON(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("body is not JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after JSON body")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	var b bytes.Buffer
	for len(out) > 0 {
		r, n := utf8.DecodeRune(out)
		out = out[n:]
		switch {
		case r == 0x7f:
			b.WriteString(`\u007f`)
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.Bytes(), nil
}
