package treaty

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// DID is an Ed25519 did:key identifier ("did:key:z6Mk…"). Operators and
// clients are both named by DIDs; an operator's DID and libp2p peer ID come
// from the same key.
type DID string

const (
	didKeyPrefix = "did:key:z" // "z" is the multibase prefix of base58btc
	// MaxDIDLen bounds a DID's text form; an Ed25519 did:key is 56 bytes.
	MaxDIDLen = 64
)

// ed25519Multicodec is the varint of multicodec 0xed (ed25519-pub).
var ed25519Multicodec = [2]byte{0xed, 0x01}

// ErrBadDID reports a string that is not an Ed25519 did:key.
var ErrBadDID = errors.New("treaty: not an Ed25519 did:key")

// DIDFromPublicKey returns the did:key of an Ed25519 public key.
func DIDFromPublicKey(pub ed25519.PublicKey) DID {
	buf := make([]byte, 0, 2+ed25519.PublicKeySize)
	buf = append(buf, ed25519Multicodec[:]...)
	buf = append(buf, pub...)
	return DID(didKeyPrefix + base58.Encode(buf))
}

// ParseDID checks that s is an Ed25519 did:key and returns it as a DID.
func ParseDID(s string) (DID, error) {
	if _, err := DID(s).PublicKey(); err != nil {
		return "", err
	}
	return DID(s), nil
}

// PublicKey extracts the Ed25519 public key of d.
func (d DID) PublicKey() (ed25519.PublicKey, error) {
	s := string(d)
	if len(s) > MaxDIDLen {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadDID, len(s), MaxDIDLen)
	}
	rest, ok := strings.CutPrefix(s, didKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrBadDID, didKeyPrefix)
	}
	raw, err := base58.Decode(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base58btc", ErrBadDID)
	}
	if len(raw) != 2+ed25519.PublicKeySize || raw[0] != ed25519Multicodec[0] || raw[1] != ed25519Multicodec[1] {
		return nil, fmt.Errorf("%w: want multicodec 0xed01 and a 32-byte key", ErrBadDID)
	}
	return ed25519.PublicKey(raw[2:]), nil
}

// String returns the DID text.
func (d DID) String() string { return string(d) }

// Short returns an abbreviation of d for logs and tables.
func (d DID) Short() string {
	s := string(d)
	if len(s) <= len(didKeyPrefix)+10 {
		return s
	}
	return "did:key:…" + s[len(s)-8:]
}
