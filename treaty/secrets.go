package treaty

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"filippo.io/edwards25519"
)

// Sealed secrets: environment values a tenant does not want in clear
// anywhere but in the running container. The tenant seals them to the
// operator it submits to; the order carries only the box (Order.Secrets),
// so the order's block, the epoch DAG that links it, the log leaves (which
// link the order by CID) and the API's views hold ciphertext at most. The
// operator opens the box when it launches the job and hands the values to
// the provider adapter, nowhere else.
//
// The box is HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256 and ChaCha20-Poly1305, from crypto/hpke. The recipient key is
// the X25519 form of the operator's Ed25519 DID key (the birational map of
// RFC 7748 §4.1 for the public key, the SHA-512 of the seed, clamped, for the
// private one, as libsodium's crypto_sign_ed25519_*_to_curve25519 do), so a
// tenant who knows an operator's DID can seal to it with nothing else. The
// info string binds the box to the recipient, the client and the order's
// nonce: a box copied into another order, by another client or to another
// operator, does not open.

// SecretsInfoPrefix starts the HPKE info of every sealed-secrets box.
const SecretsInfoPrefix = "aurora/v1/order-secrets\n"

// MaxSealedEnvVars bounds the variables in one box.
const MaxSealedEnvVars = 32

// minSealedLen is the encapsulated key and the AEAD tag of an empty box.
const minSealedLen = 32 + 16

func secretsSuite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.DHKEM(ecdh.X25519()), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
}

func secretsInfo(to, client DID, nonce []byte) []byte {
	return []byte(SecretsInfoPrefix + string(to) + "\n" + string(client) + "\n" + hex.EncodeToString(nonce))
}

// X25519 returns the X25519 public key of d's Ed25519 key: the Montgomery
// u-coordinate of the Edwards point (RFC 7748 §4.1).
func (d DID) X25519() (*ecdh.PublicKey, error) {
	pub, err := d.PublicKey()
	if err != nil {
		return nil, err
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("treaty: %s: not an Ed25519 point: %w", d.Short(), err)
	}
	return ecdh.X25519().NewPublicKey(p.BytesMontgomery())
}

// X25519 returns k's X25519 private key: the first half of SHA-512(seed),
// the scalar Ed25519 signs with (X25519 clamps it). Its public key is
// k.DID().X25519().
func (k *PrivateKey) X25519() (*ecdh.PrivateKey, error) {
	h := sha512.Sum512(k.Seed())
	defer clear(h[:])
	return ecdh.X25519().NewPrivateKey(h[:32])
}

// SealSecrets seals env to the operator to and sets o.Secrets. o.Client and
// o.Nonce must be final (they are bound into the box), and o is signed
// afterwards. env must hold valid, distinct names whose values pass the
// Workload.Env rules, none of them also in o.Workload.Env. crypto/hpke draws
// the ephemeral key from crypto/rand.
func SealSecrets(to DID, o *Order, env []EnvVar) error {
	if len(o.Nonce) == 0 || o.Client == "" {
		return errors.New("treaty: seal secrets: the order needs its client and nonce first")
	}
	sorted := slices.Clone(env)
	slices.SortFunc(sorted, func(a, b EnvVar) int { return strings.Compare(a.Name, b.Name) })
	if err := checkSecretEnv(sorted, o.Workload.Env); err != nil {
		return err
	}
	pt, err := Encode(&secretList{Env: sorted})
	if err != nil {
		return err
	}
	defer clear(pt)
	pub, err := to.X25519()
	if err != nil {
		return err
	}
	kem, kdf, aead := secretsSuite()
	pk, err := kem.NewPublicKey(pub.Bytes())
	if err != nil {
		return err
	}
	box, err := hpke.Seal(pk, kdf, aead, secretsInfo(to, o.Client, o.Nonce), pt)
	if err != nil {
		return fmt.Errorf("treaty: seal secrets: %w", err)
	}
	if len(box) > MaxSealedLen {
		return fmt.Errorf("treaty: seal secrets: box of %d bytes exceeds %d", len(box), MaxSealedLen)
	}
	o.Secrets = &SealedEnv{To: to, Box: box}
	return nil
}

// ErrNotSealedToMe is OpenSecrets' error for a box sealed to another
// operator.
var ErrNotSealedToMe = errors.New("treaty: secrets are sealed to another operator")

// SecretsError says why a sealed box cannot be used. It never holds a
// secret value.
type SecretsError struct {
	Field, Rule string
}

func (e *SecretsError) Error() string { return "treaty: order." + e.Field + ": " + e.Rule }

// OpenSecrets opens o.Secrets with k and returns the variables, sorted by
// name; nil when the order has none. A box sealed to another operator gives
// an error wrapping ErrNotSealedToMe; a box that does not open, or holds
// invalid variables, a *SecretsError. The caller owns the values: keep them
// in memory only, and out of logs.
func (k *PrivateKey) OpenSecrets(o *Order) ([]EnvVar, error) {
	se := o.Secrets
	if se == nil {
		return nil, nil
	}
	if se.To != k.DID() {
		return nil, fmt.Errorf("%w: order.secrets.to is %s, this operator is %s", ErrNotSealedToMe, se.To.Short(), k.DID().Short())
	}
	priv, err := k.X25519()
	if err != nil {
		return nil, err
	}
	kem, kdf, aead := secretsSuite()
	sk, err := kem.NewPrivateKey(priv.Bytes())
	if err != nil {
		return nil, err
	}
	pt, err := hpke.Open(sk, kdf, aead, secretsInfo(se.To, o.Client, o.Nonce), se.Box)
	if err != nil {
		return nil, &SecretsError{Field: "secrets.box", Rule: "does not open with this operator's key for this client and nonce"}
	}
	defer clear(pt)
	var l secretList
	if err := Decode(pt, &l); err != nil {
		return nil, &SecretsError{Field: "secrets.box", Rule: "opens, but is not a dag-cbor list of env variables"}
	}
	if err := checkSecretEnv(l.Env, o.Workload.Env); err != nil {
		return nil, err
	}
	return l.Env, nil
}

// secretList is a box's plaintext.
type secretList struct {
	Env []EnvVar `cbor:"env"`
}

func (*secretList) Kind() string { return "secrets" }

// checkSecretEnv applies the workload env rules to sorted secret
// variables, and refuses a name the clear env also has (which value would
// win would be the network's choice). Messages name variables by index
// only.
func checkSecretEnv(env, clearEnv []EnvVar) error {
	if len(env) == 0 || len(env) > MaxSealedEnvVars {
		return &SecretsError{Field: "secrets", Rule: fmt.Sprintf("%d variables, want 1 to %d", len(env), MaxSealedEnvVars)}
	}
	for i, e := range env {
		f := fmt.Sprintf("secrets[%d]", i)
		switch {
		case !envName(e.Name):
			return &SecretsError{Field: f + ".name", Rule: "not an environment variable name"}
		case len(e.Value) > MaxEnvValueLen:
			return &SecretsError{Field: f + ".value", Rule: fmt.Sprintf("longer than %d bytes", MaxEnvValueLen)}
		case strings.ContainsFunc(e.Value, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return &SecretsError{Field: f + ".value", Rule: "contains a control character"}
		case i > 0 && env[i-1].Name >= e.Name:
			return &SecretsError{Field: "secrets", Rule: "names must be distinct"}
		case slices.ContainsFunc(clearEnv, func(c EnvVar) bool { return c.Name == e.Name }):
			return &SecretsError{Field: f + ".name", Rule: "also in workload.env"}
		}
	}
	return nil
}
