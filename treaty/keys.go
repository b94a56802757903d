package treaty

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// PrivateKey is an Ed25519 signing key. It redacts itself in logs and
// formatted output, and it is not comparable (compare DIDs instead).
// A PrivateKey is safe for concurrent use.
type PrivateKey struct {
	_ [0]func() // not comparable
	k ed25519.PrivateKey
}

// GenerateKey returns a new key drawn from rand (crypto/rand.Reader when nil).
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("treaty: generate key: %w", err)
	}
	return &PrivateKey{k: k}, nil
}

// NewKeyFromSeed derives a key from a 32-byte seed (deterministic tests,
// libp2p identity conversion).
func NewKeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("treaty: key seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &PrivateKey{k: ed25519.NewKeyFromSeed(seed)}, nil
}

// Public returns the public half.
func (k *PrivateKey) Public() ed25519.PublicKey { return k.k.Public().(ed25519.PublicKey) }

// DID returns the did:key of the public half.
func (k *PrivateKey) DID() DID { return DIDFromPublicKey(k.Public()) }

// Seed returns the 32-byte seed. Handle with care: it is the secret.
func (k *PrivateKey) Seed() []byte { return k.k.Seed() }

// Ed25519 returns the standard library form of the key, for libraries
// (libp2p, signed notes) that take one.
func (k *PrivateKey) Ed25519() ed25519.PrivateKey { return k.k }

func (k *PrivateKey) sign(msg []byte) []byte { return ed25519.Sign(k.k, msg) }

// String redacts the key.
func (k *PrivateKey) String() string { return "PrivateKey(REDACTED " + string(k.DID()) + ")" }

// GoString redacts the key in %#v.
func (k *PrivateKey) GoString() string { return k.String() }

// LogValue redacts the key in slog output.
func (k *PrivateKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

const pemTypePrivateKey = "PRIVATE KEY"

// MarshalPEM encodes the key as PKCS #8 PEM (the form openssl reads).
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.k)
	if err != nil {
		return nil, fmt.Errorf("treaty: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePrivateKey, Bytes: der}), nil
}

// ErrBadKey reports a key file that is not a PKCS #8 Ed25519 PEM key.
var ErrBadKey = errors.New("treaty: not a PKCS #8 Ed25519 PEM private key")

// ParsePEM decodes a key written by MarshalPEM.
func ParsePEM(data []byte) (*PrivateKey, error) {
	if len(data) > 4096 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadKey, len(data))
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != pemTypePrivateKey {
		return nil, fmt.Errorf("%w: no %q block", ErrBadKey, pemTypePrivateKey)
	}
	raw, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	k, ok := raw.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: key type %T", ErrBadKey, raw)
	}
	return &PrivateKey{k: k}, nil
}
