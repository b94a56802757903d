package release

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Limits of the OpenPGP files Verify and the commands read.
const (
	MaxKeySize       = 64 << 10
	MaxSignatureSize = 16 << 10
)

// keyConfig is the RFC 4880 profile the release key and its signatures
// use: a v4 EdDSA key on Ed25519 (the legacy EdDSA algorithm 22, which
// gpg 2.2 verifies; not the RFC 9580 Ed25519 algorithm 27 or v6 keys, which
// it does not), SHA-256 signatures, no AEAD preferences.
func keyConfig(now time.Time) *packet.Config {
	return &packet.Config{
		Algorithm:   packet.PubKeyAlgoEdDSA,
		Curve:       packet.Curve25519,
		DefaultHash: crypto.SHA256,
		V6Keys:      false,
		Time:        func() time.Time { return now },
	}
}

// SigningKey is an operator's release signing key. It is not comparable
// and redacts itself when printed.
type SigningKey struct {
	e *openpgp.Entity
}

// String names the key by fingerprint, never its secret.
func (k *SigningKey) String() string { return "SigningKey(REDACTED " + k.Fingerprint() + ")" }

// Fingerprint is the key's v4 fingerprint, 40 lowercase hex digits.
func (k *SigningKey) Fingerprint() string { return Fingerprint(k.e) }

// Fingerprint is an entity's primary key fingerprint in lowercase hex.
func Fingerprint(e *openpgp.Entity) string { return hex.EncodeToString(e.PrimaryKey.Fingerprint) }

// GenerateKey creates a release signing key for the user ID
// "name <email>" at time now (its creation time).
func GenerateKey(name, email string, now time.Time) (*SigningKey, error) {
	e, err := openpgp.NewEntity(name, "Aurora release signing", email, keyConfig(now))
	if err != nil {
		return nil, fmt.Errorf("release: keygen: %w", err)
	}
	return &SigningKey{e: e}, nil
}

// MarshalPrivate returns the key's ASCII-armored transferable secret key
// (unencrypted: keep the file mode 0600, on the build host only).
func (k *SigningKey) MarshalPrivate() ([]byte, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := k.e.SerializePrivate(w, keyConfig(k.e.PrimaryKey.CreationTime)); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MarshalPublic returns the key's ASCII-armored transferable public key,
// what verifiers import (gpg --import, aurora release verify --key).
func (k *SigningKey) MarshalPublic() ([]byte, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := k.e.Serialize(w); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ParseSigningKey reads an armored secret key: exactly one key, v4, with
// its unencrypted private part.
func ParseSigningKey(data []byte) (*SigningKey, error) {
	if len(data) > MaxKeySize {
		return nil, fmt.Errorf("release: signing key: %d bytes, limit %d", len(data), MaxKeySize)
	}
	if err := oneArmorBlock(data); err != nil {
		return nil, fmt.Errorf("release: signing key: %w", err)
	}
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("release: signing key: %w", err)
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("release: signing key: %d keys, want exactly one", len(list))
	}
	e := list[0]
	switch {
	case e.PrivateKey == nil:
		return nil, errors.New("release: signing key: the file holds a public key only")
	case e.PrivateKey.Encrypted:
		return nil, errors.New("release: signing key: the key is passphrase-protected, which aurora release does not support")
	case e.PrimaryKey.Version != 4:
		return nil, fmt.Errorf("release: signing key: a v%d key, want v4", e.PrimaryKey.Version)
	}
	return &SigningKey{e: e}, nil
}

// ParsePublicKeys reads armored public (or secret: only their public part
// is used) keys a signature may be from.
func ParsePublicKeys(data []byte) (openpgp.EntityList, error) {
	if len(data) > MaxKeySize {
		return nil, fmt.Errorf("release: public key: %d bytes, limit %d", len(data), MaxKeySize)
	}
	if err := oneArmorBlock(data); err != nil {
		return nil, fmt.Errorf("release: public key: %w", err)
	}
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("release: public key: %w", err)
	}
	return list, nil
}

// Sign returns an ASCII-armored detached v4 binary signature over message,
// made at now.
func (k *SigningKey) Sign(message io.Reader, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, k.e, message, keyConfig(now)); err != nil {
		return nil, fmt.Errorf("release: sign: %w", err)
	}
	return b.Bytes(), nil
}

// SignatureInfo is what CheckSignature found.
type SignatureInfo struct {
	Fingerprint string // the signing key's (primary) fingerprint
	UserID      string
	Created     time.Time
	Algorithm   string
}

// CheckSignature verifies an armored detached signature over message by
// one of keys at time now: a v4 signature of a binary document, SHA-256 or
// stronger.
func CheckSignature(keys openpgp.EntityList, message io.Reader, armored []byte, now time.Time) (*SignatureInfo, error) {
	if len(armored) > MaxSignatureSize {
		return nil, fmt.Errorf("%d bytes, limit %d", len(armored), MaxSignatureSize)
	}
	if err := oneArmorBlock(armored); err != nil {
		return nil, err
	}
	blk, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("not ASCII-armored: %w", err)
	}
	if blk.Type != openpgp.SignatureType {
		return nil, fmt.Errorf("armor block is %q, want %q", blk.Type, openpgp.SignatureType)
	}
	body, err := io.ReadAll(io.LimitReader(blk.Body, MaxSignatureSize))
	if err != nil {
		return nil, fmt.Errorf("armor: %w", err)
	}
	sig, signer, err := openpgp.VerifyDetachedSignatureAndHash(keys, message, bytes.NewReader(body),
		[]crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}, &packet.Config{Time: func() time.Time { return now }})
	if err != nil {
		return nil, err
	}
	if sig.Version != 4 {
		return nil, fmt.Errorf("a v%d signature, want v4", sig.Version)
	}
	if sig.SigType != packet.SigTypeBinary {
		return nil, fmt.Errorf("signature type 0x%02x, want 0x00 (binary document)", uint8(sig.SigType))
	}
	info := &SignatureInfo{Fingerprint: Fingerprint(signer), Created: sig.CreationTime, Algorithm: algName(sig.PubKeyAlgo)}
	if _, id := signer.PrimarySelfSignature(); id != nil {
		info.UserID = id.Name
	}
	return info, nil
}

func algName(a packet.PublicKeyAlgorithm) string {
	switch a {
	case packet.PubKeyAlgoEdDSA:
		return "EdDSA"
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		return "RSA"
	case packet.PubKeyAlgoECDSA:
		return "ECDSA"
	}
	return fmt.Sprintf("algorithm %d", a)
}

// oneArmorBlock requires exactly one ASCII-armor block: the armor reader
// would silently ignore a second one (a second key or signature).
func oneArmorBlock(data []byte) error {
	if n := bytes.Count(data, []byte("-----BEGIN PGP ")); n != 1 {
		return fmt.Errorf("%d ASCII-armor blocks, want exactly one", n)
	}
	return nil
}
