package release_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/release"
)

// FuzzParseSums: never panics; what it accepts formats back to the same
// lines (sorted) and is within the limits.
func FuzzParseSums(f *testing.F) {
	f.Add([]byte(fmt.Sprintf("%x  aurora-20261207.tar.gz\n", sha256.Sum256(nil))))
	f.Add([]byte(fmt.Sprintf("%x *a\n%x  b\n", sha256.Sum256(nil), sha256.Sum256([]byte{1}))))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sums, err := release.ParseSums(data)
		if err != nil {
			return
		}
		if len(sums) > release.MaxSumsLines || len(data) > release.MaxSumsSize {
			t.Fatalf("accepted %d lines, %d bytes", len(sums), len(data))
		}
		again, err := release.ParseSums(release.FormatSums(sums))
		if err != nil || len(again) != len(sums) {
			t.Fatalf("formatted sums do not parse back: %v", err)
		}
	})
}

// FuzzCheckSignature: a signature file of any bytes never panics and never
// verifies unless it is the real signature (a mutation of it fails).
func FuzzCheckSignature(f *testing.F) {
	key, err := release.GenerateKey("Fuzz", "f@example.org", time.Now().Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	pub, _ := key.MarshalPublic()
	keys, err := release.ParsePublicKeys(pub)
	if err != nil {
		f.Fatal(err)
	}
	msg := []byte("release")
	sig, err := key.Sign(bytes.NewReader(msg), time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig)
	f.Add([]byte("-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := release.CheckSignature(keys, bytes.NewReader(msg), data, time.Now())
		if err == nil && !bytes.Equal(bytes.TrimSpace(data), bytes.TrimSpace(sig)) {
			// Armor tolerates header and whitespace variants; the packet
			// must still be the real signature, so other messages fail.
			if _, err := release.CheckSignature(keys, bytes.NewReader([]byte("other")), data, time.Now()); err == nil {
				t.Fatalf("a signature verifies over two messages: %q", data)
			}
		}
	})
}
