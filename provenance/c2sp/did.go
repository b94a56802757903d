package c2sp

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// ErrBadDID reports a string that is not an Ed25519 did:key.
var ErrBadDID = errors.New("treaty: not an Ed25519 did:key")

// maxDIDLen bounds a DID's text form; an Ed25519 did:key is 56 bytes.
const maxDIDLen = 64

// DIDPublicKey returns the Ed25519 key of a did:key ("did:key:z6Mk…": the
// base58btc of the multicodec 0xed01 and the 32-byte key), the form
// treaty.DID.PublicKey reads; a verifier takes operators' and witnesses'
// keys in it.
func DIDPublicKey(did string) (ed25519.PublicKey, error) {
	if len(did) > maxDIDLen {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadDID, len(did), maxDIDLen)
	}
	rest, ok := strings.CutPrefix(did, "did:key:z")
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrBadDID, "did:key:z")
	}
	raw, err := base58.Decode(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base58btc", ErrBadDID)
	}
	if len(raw) != 2+ed25519.PublicKeySize || raw[0] != 0xed || raw[1] != 0x01 {
		return nil, fmt.Errorf("%w: want multicodec 0xed01 and a 32-byte key", ErrBadDID)
	}
	return ed25519.PublicKey(raw[2:]), nil
}

// shortDID abbreviates a DID for reports, like treaty.DID.Short.
func shortDID(d string) string {
	if len(d) <= len("did:key:z")+10 {
		return d
	}
	return "did:key:…" + d[len(d)-8:]
}
