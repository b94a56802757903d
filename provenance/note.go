package provenance

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/treaty"
)

// ed25519Signer signs notes with a plain Ed25519 key (type 0x01).
type ed25519Signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s *ed25519Signer) Name() string                    { return s.name }
func (s *ed25519Signer) KeyHash() uint32                 { return s.hash }
func (s *ed25519Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

var _ note.Signer = (*ed25519Signer)(nil)

// NewLogSigner returns the signed-note signer of a log: key name = origin,
// type 0x01 (Ed25519), the key being the node's key. The result is safe for
// concurrent use.
func NewLogSigner(origin string, k *treaty.PrivateKey) (note.Signer, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	if k == nil {
		return nil, errors.New("provenance: log signer: nil key")
	}
	pub := k.Public()
	return &ed25519Signer{name: origin, hash: keyHash(origin, algEd25519, pub), key: k.Ed25519()}, nil
}

// cosigner produces timestamped cosignature/v1 signatures (type 0x04).
type cosigner struct {
	name  string
	hash  uint32
	key   ed25519.PrivateKey
	clock Clock
}

func (s *cosigner) Name() string    { return s.name }
func (s *cosigner) KeyHash() uint32 { return s.hash }

// Sign signs "cosignature/v1\ntime <t>\n" || msg and returns t || signature.
func (s *cosigner) Sign(msg []byte) ([]byte, error) {
	t := s.clock.Now().Unix()
	if t < 0 {
		return nil, errors.New("provenance: cosign: clock before 1970")
	}
	out := binary.BigEndian.AppendUint64(make([]byte, 0, cosignatureSize), uint64(t))
	return append(out, ed25519.Sign(s.key, cosignedMessage(uint64(t), msg))...), nil
}

var _ note.Signer = (*cosigner)(nil)

// NewCosigner returns a cosignature/v1 signer named name with key k; the
// signature's timestamp comes from clock (nil: the system clock).
func NewCosigner(name string, k *treaty.PrivateKey, clock Clock) (note.Signer, error) {
	if !validKeyName(name) {
		return nil, fmt.Errorf("provenance: cosigner: invalid key name %q", truncate(name))
	}
	if k == nil {
		return nil, errors.New("provenance: cosigner: nil key")
	}
	if clock == nil {
		clock = systemClock{}
	}
	return &cosigner{name: name, hash: keyHash(name, algCosignature, k.Public()), key: k.Ed25519(), clock: clock}, nil
}
