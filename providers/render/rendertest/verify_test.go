package rendertest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func sign(secret, canon string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(canon))
	return hex.EncodeToString(m.Sum(nil))
}

func TestVerifierPublishedCanonicalForm(t *testing.T) {
	// The documentation's example, with its 16-character nonce widened to the
	// required 32.
	nonce := "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
	canon, err := FakeCanonicalString("pk_abc123", "1706918400000", nonce, "GET", "/v1/jobs", "page=1&limit=10", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "pk_abc123|1706918400000|" + nonce + "|GET|/v1/jobs|limit=10&page=1|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if canon != want {
		t.Fatalf("canonical\n got %s\nwant %s", canon, want)
	}
	now := time.UnixMilli(1706918400000)
	v := &Verifier{PublicKey: "pk_abc123", SecretKey: "sk", Now: func() time.Time { return now }}
	h := http.Header{}
	h.Set("X-API-Key", "pk_abc123")
	h.Set("X-Time", "1706918400000")
	h.Set("X-Nonce", nonce)
	h.Set("X-Signature", sign("sk", want))
	if err := v.Verify("GET", "/v1/jobs", "limit=10&page=1", h, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := v.Verify("GET", "/v1/jobs", "limit=10&page=1", h, nil); err == nil {
		t.Fatal("replayed nonce accepted")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("pk", "1706918400000", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "00", "GET", "/v1/jobs", "a=1", []byte(nil))
	f.Add("pk", "-1", "zz", "", "POST", "/", "%zz", []byte("{"))
	now := time.UnixMilli(1706918400000)
	f.Fuzz(func(t *testing.T, key, ts, nonce, sig, method, path, query string, body []byte) {
		v := &Verifier{PublicKey: "pk", SecretKey: "sk", Now: func() time.Time { return now }}
		h := http.Header{}
		h.Set("X-API-Key", key)
		h.Set("X-Time", ts)
		h.Set("X-Nonce", nonce)
		h.Set("X-Signature", sig)
		if err := v.Verify(method, path, query, h, body); err != nil {
			return
		}
		canon, err := FakeCanonicalString(key, ts, nonce, method, path, query, body)
		if err != nil || sig != sign("sk", canon) {
			t.Fatalf("accepted a request whose signature does not match")
		}
		if ms, _ := strconv.ParseInt(ts, 10, 64); now.Sub(time.UnixMilli(ms)).Abs() > Skew {
			t.Fatalf("accepted X-Time %s", ts)
		}
	})
}
