// Package btcmsg implements the Bitcoin signed-message scheme that FluxOS
// uses for zelidauth sessions and app messages: the "\x18Bitcoin Signed
// Message:\n" envelope, double SHA-256, 65-byte compact recoverable secp256k1
// signatures in base64, legacy P2PKH ("1...") addresses and WIF private keys.
//
// Only what Flux needs is here: P2PKH addresses (Flux IDs are always "1..."),
// no segwit headers (BIP-137 31+), no testnet.
package btcmsg

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/mr-tron/base58"
	//lint:ignore SA1019 Bitcoin addresses are defined with RIPEMD-160; there is no replacement.
	"golang.org/x/crypto/ripemd160"
)

const (
	magic          = "\x18Bitcoin Signed Message:\n"
	versionP2PKH   = 0x00
	versionWIF     = 0x80
	compactSigSize = 65
	// MaxMessage bounds what Verify hashes; FluxOS login phrases are ≤70
	// bytes and app messages a few KiB.
	MaxMessage = 1 << 20
)

// Errors callers can test for.
var (
	ErrBadSignature = errors.New("btcmsg: signature does not match")
	ErrBadAddress   = errors.New("btcmsg: malformed address")
	ErrBadKey       = errors.New("btcmsg: malformed WIF private key")
)

// MagicHash is the digest a Bitcoin message signature covers:
// sha256(sha256(varint(len(magic)) || magic-text || varint(len(msg)) || msg)).
func MagicHash(msg []byte) [32]byte {
	var b bytes.Buffer
	b.Grow(len(magic) + 9 + len(msg))
	b.WriteString(magic)
	var n [binary.MaxVarintLen64]byte
	b.Write(n[:putCompactSize(n[:], uint64(len(msg)))])
	b.Write(msg)
	first := sha256.Sum256(b.Bytes())
	return sha256.Sum256(first[:])
}

// putCompactSize writes Bitcoin's CompactSize encoding (not Go's uvarint).
func putCompactSize(b []byte, n uint64) int {
	switch {
	case n < 0xfd:
		b[0] = byte(n)
		return 1
	case n <= 0xffff:
		b[0] = 0xfd
		binary.LittleEndian.PutUint16(b[1:], uint16(n))
		return 3
	case n <= 0xffffffff:
		b[0] = 0xfe
		binary.LittleEndian.PutUint32(b[1:], uint32(n))
		return 5
	default:
		b[0] = 0xff
		binary.LittleEndian.PutUint64(b[1:], n)
		return 9
	}
}

// Key is a secp256k1 private key with the compression flag its WIF carried,
// which decides the address and the signature header. It is not comparable
// and redacts itself in logs and fmt output.
type Key struct {
	_          [0]func() // not comparable
	priv       *secp256k1.PrivateKey
	compressed bool
}

// ParseWIF decodes a mainnet WIF private key ("5...", "K...", "L...").
func ParseWIF(wif string) (*Key, error) {
	raw, err := base58Check(wif)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if len(raw) == 0 || raw[0] != versionWIF {
		return nil, fmt.Errorf("%w: version byte is not 0x80", ErrBadKey)
	}
	body := raw[1:]
	compressed := false
	switch {
	case len(body) == 33 && body[32] == 0x01:
		compressed, body = true, body[:32]
	case len(body) == 32:
	default:
		return nil, fmt.Errorf("%w: %d-byte payload", ErrBadKey, len(body))
	}
	return newKey(body, compressed)
}

// NewKey builds a key from 32 raw bytes (for tests and key generation).
func NewKey(b []byte, compressed bool) (*Key, error) { return newKey(b, compressed) }

func newKey(b []byte, compressed bool) (*Key, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("%w: key must be 32 bytes", ErrBadKey)
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, fmt.Errorf("%w: scalar out of range", ErrBadKey)
	}
	return &Key{priv: secp256k1.NewPrivateKey(&s), compressed: compressed}, nil
}

// WIF encodes k back to its wallet import format. It is secret material.
func (k *Key) WIF() string {
	b := append([]byte{versionWIF}, k.priv.Serialize()...)
	if k.compressed {
		b = append(b, 0x01)
	}
	return encodeCheck(b)
}

// Address is the P2PKH ("1...") address of k: the Flux ID (zelid).
func (k *Key) Address() string {
	pub := k.priv.PubKey()
	if k.compressed {
		return addressOf(pub.SerializeCompressed())
	}
	return addressOf(pub.SerializeUncompressed())
}

// Sign returns the base64 compact signature of msg (RFC 6979 nonces, so the
// output is deterministic and matches bitcoinjs-message byte for byte).
func (k *Key) Sign(msg []byte) string {
	h := MagicHash(msg)
	return base64.StdEncoding.EncodeToString(ecdsa.SignCompact(k.priv, h[:], k.compressed))
}

// String redacts the key.
func (k *Key) String() string { return "btcmsg.Key(" + k.Address() + ", redacted)" }

// GoString redacts the key for %#v.
func (k *Key) GoString() string { return k.String() }

// LogValue redacts the key in slog output.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Verify checks that sig (base64, 65 bytes) is address's signature of msg.
// It returns nil or an error wrapping ErrBadSignature / ErrBadAddress.
func Verify(address string, msg []byte, sig string) error {
	if len(msg) > MaxMessage {
		return fmt.Errorf("%w: message longer than %d bytes", ErrBadSignature, MaxMessage)
	}
	if len(sig) > 2*compactSigSize { // base64 of 65 bytes is 88 chars
		return fmt.Errorf("%w: signature too long", ErrBadSignature)
	}
	want, err := decodeAddress(address)
	if err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: not base64: %v", ErrBadSignature, err)
	}
	if len(raw) != compactSigSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(raw), compactSigSize)
	}
	h := MagicHash(msg)
	pub, compressed, err := ecdsa.RecoverCompact(raw, h[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	ser := pub.SerializeUncompressed()
	if compressed {
		ser = pub.SerializeCompressed()
	}
	if got := hash160(ser); !bytes.Equal(got, want) {
		return fmt.Errorf("%w: signer is %s, not %s", ErrBadSignature, addressOf(ser), address)
	}
	return nil
}

// ValidAddress reports whether s is a well-formed mainnet P2PKH address.
func ValidAddress(s string) bool {
	_, err := decodeAddress(s)
	return err == nil
}

func decodeAddress(s string) ([]byte, error) {
	if len(s) < 26 || len(s) > 35 {
		return nil, fmt.Errorf("%w: length %d", ErrBadAddress, len(s))
	}
	raw, err := base58Check(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	if len(raw) != 21 || raw[0] != versionP2PKH {
		return nil, fmt.Errorf("%w: not a P2PKH address", ErrBadAddress)
	}
	return raw[1:], nil
}

func addressOf(pub []byte) string {
	return encodeCheck(append([]byte{versionP2PKH}, hash160(pub)...))
}

func hash160(b []byte) []byte {
	s := sha256.Sum256(b)
	r := ripemd160.New()
	r.Write(s[:])
	return r.Sum(nil)
}

func encodeCheck(payload []byte) string {
	sum := doubleSHA(payload)
	return base58.Encode(append(payload, sum[:4]...))
}

func base58Check(s string) ([]byte, error) {
	if len(s) > 128 {
		return nil, errors.New("too long")
	}
	raw, err := base58.Decode(s)
	if err != nil {
		return nil, errors.New("not base58")
	}
	if len(raw) < 5 {
		return nil, errors.New("too short")
	}
	payload, check := raw[:len(raw)-4], raw[len(raw)-4:]
	sum := doubleSHA(payload)
	if !bytes.Equal(sum[:4], check) {
		return nil, errors.New("bad checksum")
	}
	return payload, nil
}

func doubleSHA(b []byte) [32]byte {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}
