package treaty

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

// TestDIDKeyVectors checks seed → key → did:key against the W3C CCG
// did-method-key Ed25519 test vectors (test-vectors/ed25519-x25519.json).
func TestDIDKeyVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/didkey-ed25519.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Seed, DID, PublicKeyBase58 string
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vectors {
		t.Run(v.DID, func(t *testing.T) {
			seed, err := hex.DecodeString(v.Seed)
			if err != nil {
				t.Fatal(err)
			}
			k, err := NewKeyFromSeed(seed)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(k.DID()); got != v.DID {
				t.Errorf("DID = %s, want %s", got, v.DID)
			}
			pub, err := DID(v.DID).PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			if got := base58.Encode(pub); got != v.PublicKeyBase58 {
				t.Errorf("public key = %s, want %s", got, v.PublicKeyBase58)
			}
		})
	}
}

func TestParseDIDRejects(t *testing.T) {
	good := string(testKey(t, 1).DID())
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"wrong method", strings.Replace(good, "did:key:", "did:web:", 1)},
		{"not base58btc multibase", strings.Replace(good, "did:key:z", "did:key:f", 1)},
		{"bad base58 char", good[:20] + "0" + good[21:]},
		{"truncated", good[:len(good)-3]},
		{"secp256k1 multicodec", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"},
		{"too long", good + strings.Repeat("1", 40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseDID(tt.in); !errors.Is(err, ErrBadDID) {
				t.Fatalf("ParseDID(%q) = %v, want ErrBadDID", tt.in, err)
			}
		})
	}
	if _, err := ParseDID(good); err != nil {
		t.Fatalf("ParseDID(good) = %v", err)
	}
}

func FuzzParseDID(f *testing.F) {
	f.Add(string(testKey(f, 1).DID()))
	f.Add("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
	f.Add("did:key:z")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDID(s)
		if err != nil {
			return
		}
		pub, err := d.PublicKey()
		if err != nil {
			t.Fatalf("parsed DID has no key: %v", err)
		}
		if DIDFromPublicKey(pub) != d {
			t.Fatalf("DID %q does not round-trip", s)
		}
	})
}

func TestPrivateKeyRedacts(t *testing.T) {
	k := testKey(t, 9)
	seedHex := hex.EncodeToString(k.Seed())
	for _, s := range []string{k.String(), k.GoString(), k.LogValue().String()} {
		if strings.Contains(s, seedHex) || strings.Contains(s, base58.Encode(k.Seed())) {
			t.Fatalf("key text %q leaks the seed", s)
		}
		if !strings.Contains(s, "REDACTED") {
			t.Fatalf("key text %q does not say REDACTED", s)
		}
	}
	pemBytes, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if back.DID() != k.DID() {
		t.Fatal("PEM round trip changed the key")
	}
	if _, err := ParsePEM([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); !errors.Is(err, ErrBadKey) {
		t.Fatalf("ParsePEM(garbage) = %v, want ErrBadKey", err)
	}
}
