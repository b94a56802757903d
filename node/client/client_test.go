package client

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/treaty"
)

// vkey writes a C2SP verifier key the way a note verifier names one.
func vkey(name string, pub []byte) string {
	raw := append([]byte{0x01}, pub...)
	sum := sha256.Sum256(append([]byte(name+"\n"), raw...))
	return name + "+" + hex.EncodeToString(sum[:4]) + "+" + base64.StdEncoding.EncodeToString(raw)
}

func TestDIDFromVerifierKey(t *testing.T) {
	// Keys whose base64 holds "+" are the case a naive split gets wrong;
	// try seeds until several have one.
	plus := 0
	for i := byte(1); i < 64; i++ {
		k, err := treaty.NewKeyFromSeed([]byte(strings.Repeat(string(rune('A'+i%26)), 31) + string(rune(i))))
		if err != nil {
			t.Fatal(err)
		}
		v := vkey("aurora/testnet/node", k.Public())
		if strings.Count(v, "+") > 2 {
			plus++
		}
		did, err := DIDFromVerifierKey(v)
		if err != nil || did != k.DID() {
			t.Fatalf("DIDFromVerifierKey(%s) = %s, %v; want %s", v, did, err, k.DID())
		}
	}
	if plus == 0 {
		t.Fatal("no key had a + in its base64: the test proves nothing")
	}
	k, _ := treaty.NewKeyFromSeed(make([]byte, 32))
	good := vkey("n", k.Public())
	for _, bad := range []string{"", "n+1234+", strings.Replace(good, "n+", "m+", 1), good[:len(good)-4] + "AAAA"} {
		if _, err := DIDFromVerifierKey(bad); err == nil {
			t.Errorf("DIDFromVerifierKey(%q) accepted", bad)
		}
	}
}

func TestBuildOrderSealsSecrets(t *testing.T) {
	tenant, _ := treaty.GenerateKey(nil)
	op, _ := treaty.GenerateKey(nil)
	s := OrderSpec{Image: "img:1", MaxPrice: "1/h", Env: map[string]string{"MODE": "x"}, Secrets: map[string]string{"TOKEN": "t0k3n-secret"}}
	if _, err := BuildOrder(tenant, s, time.Now()); err == nil {
		t.Fatal("secrets without SealTo were accepted")
	}
	s.SealTo = op.DID()
	o, err := BuildOrder(tenant, s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := treaty.Verify(o); err != nil {
		t.Fatal(err)
	}
	b, _ := treaty.Encode(o)
	if strings.Contains(string(b), "t0k3n-secret") {
		t.Fatal("the encoded order holds the secret")
	}
	env, err := op.OpenSecrets(o)
	if err != nil || len(env) != 1 || env[0].Value != "t0k3n-secret" {
		t.Fatalf("OpenSecrets = %v, %v", env, err)
	}
}
