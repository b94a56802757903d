package treaty

import (
	"bytes"
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/ipld/go-ipld-prime"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/bindnode"
)

const testSecret = "s3cr3t-db-password-9f2c"

func sealedOrder(t *testing.T, client, operator *PrivateKey) *Order {
	t.Helper()
	o := testOrder(t, client)
	if err := SealSecrets(operator.DID(), o, []EnvVar{{Name: "DB_PASSWORD", Value: testSecret}, {Name: "API_TOKEN", Value: "tok-1"}}); err != nil {
		t.Fatal(err)
	}
	if err := Sign(o, client); err != nil {
		t.Fatal(err)
	}
	return o
}

// The X25519 key derived from the Ed25519 private key matches the one
// derived from the DID alone: a tenant seals with the DID, the operator
// opens with its key.
func TestX25519FromEd25519(t *testing.T) {
	for label := byte(1); label < 20; label++ {
		k := testKey(t, label)
		priv, err := k.X25519()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := k.DID().X25519()
		if err != nil {
			t.Fatal(err)
		}
		if !priv.PublicKey().Equal(pub) {
			t.Fatalf("key %d: X25519(private) %x != X25519(DID) %x", label, priv.PublicKey().Bytes(), pub.Bytes())
		}
	}
	// RFC 8032 test 1's public key maps to the u-coordinate libsodium's
	// crypto_sign_ed25519_pk_to_curve25519 gives, computed as
	// u = (1+y)/(1-y) mod p independently in math/big (see below).
	k := testKey(t, 3)
	pub, _ := k.DID().X25519()
	if want := montgomeryU(t, k.Public()); !bytes.Equal(pub.Bytes(), want) {
		t.Fatalf("X25519(DID) = %x, want %x", pub.Bytes(), want)
	}
}

func TestSealOpenSecrets(t *testing.T) {
	client, op, other := testKey(t, 1), testKey(t, 2), testKey(t, 4)
	o := sealedOrder(t, client, op)
	if err := o.Validate(fixedNow); err != nil {
		t.Fatal(err)
	}
	if err := Verify(o); err != nil {
		t.Fatal(err)
	}
	b, err := Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(testSecret)) {
		t.Fatal("the order's encoding holds the secret in clear")
	}
	// The round trip through the wire keeps it openable.
	var back Order
	if err := Decode(b, &back); err != nil {
		t.Fatal(err)
	}
	env, err := op.OpenSecrets(&back)
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != 2 || env[0].Name != "API_TOKEN" || env[1].Value != testSecret {
		t.Fatalf("opened %d variables, want API_TOKEN and DB_PASSWORD sorted", len(env))
	}

	if _, err := other.OpenSecrets(&back); !errors.Is(err, ErrNotSealedToMe) {
		t.Fatalf("another operator's open = %v, want ErrNotSealedToMe", err)
	}
	// Sealed to op, but claiming to be for other: the info binds the
	// recipient, so it does not open for other either.
	moved := back
	moved.Secrets = &SealedEnv{To: other.DID(), Box: back.Secrets.Box}
	var se *SecretsError
	if _, err := other.OpenSecrets(&moved); !errors.As(err, &se) {
		t.Fatalf("relabelled box = %v, want a SecretsError", err)
	}
	// The same box in another client's order, or another nonce, does not open.
	stolen := *testOrder(t, other)
	stolen.Secrets = back.Secrets
	if _, err := op.OpenSecrets(&stolen); !errors.As(err, &se) {
		t.Fatalf("box in another client's order = %v, want a SecretsError", err)
	}
	renonced := back
	renonced.Nonce = bytes.Repeat([]byte{8}, 16)
	if _, err := op.OpenSecrets(&renonced); !errors.As(err, &se) {
		t.Fatalf("box under another nonce = %v, want a SecretsError", err)
	}
	tampered := back
	box := bytes.Clone(back.Secrets.Box)
	box[len(box)-1] ^= 1
	tampered.Secrets = &SealedEnv{To: op.DID(), Box: box}
	if _, err := op.OpenSecrets(&tampered); !errors.As(err, &se) || bytes.Contains([]byte(err.Error()), []byte(testSecret)) {
		t.Fatalf("tampered box = %v, want a SecretsError without the secret", err)
	}
}

func TestSealSecretsRefuses(t *testing.T) {
	op := testKey(t, 2)
	tests := []struct {
		name string
		env  []EnvVar
	}{
		{"none", nil},
		{"bad name", []EnvVar{{Name: "1X", Value: "v"}}},
		{"duplicate", []EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}}},
		{"also clear", []EnvVar{{Name: "MODEL", Value: "x"}}},
		{"newline", []EnvVar{{Name: "A", Value: "a\nb"}}},
		{"too long", []EnvVar{{Name: "A", Value: string(bytes.Repeat([]byte{'x'}, MaxEnvValueLen+1))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOrder(t, testKey(t, 1))
			var se *SecretsError
			if err := SealSecrets(op.DID(), o, tt.env); !errors.As(err, &se) || o.Secrets != nil {
				t.Fatalf("SealSecrets = %v, want a SecretsError and no box", err)
			}
		})
	}
}

func TestOrderSecretsValidate(t *testing.T) {
	o := sealedOrder(t, testKey(t, 1), testKey(t, 2))
	o.Secrets.Box = o.Secrets.Box[:10]
	var ve *ValidationError
	if err := o.Validate(fixedNow); !errors.As(err, &ve) || ve.Field != "secrets.box" {
		t.Fatalf("short box: Validate = %v, want secrets.box", err)
	}
	o = sealedOrder(t, testKey(t, 1), testKey(t, 2))
	o.Secrets.To = "did:key:nope"
	if err := o.Validate(fixedNow); !errors.As(err, &ve) || ve.Field != "secrets.to" {
		t.Fatalf("bad recipient: Validate = %v, want secrets.to", err)
	}
}

// An order with secrets still decodes against the IPLD schema.
func TestSealedOrderMatchesSchema(t *testing.T) {
	ts, err := ipld.LoadSchemaBytes([]byte(SchemaText()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(sealedOrder(t, testKey(t, 1), testKey(t, 2)))
	if err != nil {
		t.Fatal(err)
	}
	nb := bindnode.Prototype(nil, ts.TypeByName("Order")).Representation().NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(b)); err != nil {
		t.Fatalf("schema rejects a sealed order: %v", err)
	}
}

// montgomeryU computes u = (1+y)/(1-y) mod 2^255-19 of an Ed25519 public
// key with math/big: an independent check of the conversion.
func montgomeryU(t *testing.T, pub []byte) []byte {
	t.Helper()
	le := bytes.Clone(pub)
	le[31] &= 0x7f
	slices.Reverse(le)
	y := new(big.Int).SetBytes(le)
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	num := new(big.Int).Add(big.NewInt(1), y)
	den := new(big.Int).Sub(big.NewInt(1), y)
	den.Mod(den, p)
	u := new(big.Int).Mul(num, new(big.Int).ModInverse(den, p))
	u.Mod(u, p)
	out := u.FillBytes(make([]byte, 32))
	slices.Reverse(out)
	return out
}
