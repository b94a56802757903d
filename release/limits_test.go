package release_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/aurora-federation/aurora/release"
)

// TestSumsLimits parses a SHA256SUMS of exactly MaxSumsSize bytes and
// MaxSumsLines lines, and refuses one byte or one line more.
func TestSumsLimits(t *testing.T) {
	lineLen := release.MaxSumsSize / release.MaxSumsLines // 256 bytes with the newline
	var b strings.Builder
	for i := range release.MaxSumsLines {
		name := fmt.Sprintf("%0*d", lineLen-64-2-1, i)
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256([]byte(name)), name)
	}
	at := []byte(b.String())
	if len(at) != release.MaxSumsSize {
		t.Fatalf("fixture is %d bytes", len(at))
	}
	if sums, err := release.ParseSums(at); err != nil || len(sums) != release.MaxSumsLines {
		t.Fatalf("at the limits: %d sums, %v", len(sums), err)
	}
	if _, err := release.ParseSums(append(at, '\n')); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("one byte beyond: %v", err)
	}
	short := strings.Repeat(fmt.Sprintf("%x  a\n", sha256.Sum256(nil)), release.MaxSumsLines+1)
	if _, err := release.ParseSums([]byte(short)); err == nil || !strings.Contains(err.Error(), "lines, limit") {
		t.Fatalf("one line beyond: %v", err)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"upper-case", strings.ToUpper(fmt.Sprintf("%x", sha256.Sum256(nil))) + "  a\n", "lowercase"},
		{"path", fmt.Sprintf("%x  dist/a\n", sha256.Sum256(nil)), "has a path"},
		{"one space", fmt.Sprintf("%x a\n", sha256.Sum256(nil)), "two spaces"},
		{"no newline", fmt.Sprintf("%x  a", sha256.Sum256(nil)), "newline"},
		{"twice", strings.Repeat(fmt.Sprintf("%x  a\n", sha256.Sum256(nil)), 2), "listed twice"},
	} {
		if _, err := release.ParseSums([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func padTo(b []byte, n int) []byte {
	return append(bytes.Clone(b), bytes.Repeat([]byte("\n"), n-len(b))...)
}

// TestKeyAndSignatureLimits: a key file and a signature padded to exactly
// their limits still work; one byte more is refused for its size.
func TestKeyAndSignatureLimits(t *testing.T) {
	key, err := release.GenerateKey("Limits", "l@example.org", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := key.MarshalPrivate()
	pub, _ := key.MarshalPublic()
	if _, err := release.ParseSigningKey(padTo(priv, release.MaxKeySize)); err != nil {
		t.Fatalf("secret key at the limit: %v", err)
	}
	if _, err := release.ParseSigningKey(padTo(priv, release.MaxKeySize+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("secret key beyond the limit: %v", err)
	}
	keys, err := release.ParsePublicKeys(padTo(pub, release.MaxKeySize))
	if err != nil {
		t.Fatalf("public key at the limit: %v", err)
	}
	if _, err := release.ParsePublicKeys(padTo(pub, release.MaxKeySize+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("public key beyond the limit: %v", err)
	}
	msg := []byte("a release")
	sig, err := key.Sign(bytes.NewReader(msg), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := release.CheckSignature(keys, bytes.NewReader(msg), padTo(sig, release.MaxSignatureSize), time.Now()); err != nil {
		t.Fatalf("signature at the limit: %v", err)
	}
	if _, err := release.CheckSignature(keys, bytes.NewReader(msg), padTo(sig, release.MaxSignatureSize+1), time.Now()); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("signature beyond the limit: %v", err)
	}
}

// TestSigningKeyRejects: a public key, two keys, and a passphrase-protected
// key are not signing keys; the key redacts itself when printed.
func TestSigningKeyRejects(t *testing.T) {
	a, _ := release.GenerateKey("A", "a@example.org", time.Now())
	b, _ := release.GenerateKey("B", "b@example.org", time.Now())
	pa, _ := a.MarshalPublic()
	sa, _ := a.MarshalPrivate()
	sb, _ := b.MarshalPrivate()
	if _, err := release.ParseSigningKey(pa); err == nil || !strings.Contains(err.Error(), "public key only") {
		t.Errorf("public key: %v", err)
	}
	if _, err := release.ParseSigningKey(append(bytes.Clone(sa), sb...)); err == nil || !strings.Contains(err.Error(), "2 ASCII-armor blocks") {
		t.Errorf("two keys: %v", err)
	}
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(sa))
	if err != nil {
		t.Fatal(err)
	}
	e := list[0]
	if err := e.EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	w, _ := armor.Encode(&enc, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := release.ParseSigningKey(enc.Bytes()); err == nil || !strings.Contains(err.Error(), "passphrase-protected") {
		t.Errorf("encrypted key: %v", err)
	}
	if s := fmt.Sprint(a); !strings.Contains(s, "REDACTED") || strings.Contains(s, string(sa[40:60])) {
		t.Errorf("a key prints as %q", s)
	}
}
