package treaty

import (
	"bytes"
	"errors"
	"testing"
)

func TestVerifyFailsOnEveryFlippedBit(t *testing.T) {
	o := testOrder(t, testKey(t, 1))
	if err := Verify(o); err != nil {
		t.Fatalf("valid order: %v", err)
	}
	for i := range len(o.Sig) * 8 {
		c := *o
		c.Sig = bytes.Clone(o.Sig)
		c.Sig[i/8] ^= 1 << (i % 8)
		if Verify(&c) == nil {
			t.Fatalf("signature with bit %d flipped verifies", i)
		}
	}
	// Every bit of the signed body matters too.
	body, err := Encode(withoutSig(o))
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(body) * 8 {
		flipped := bytes.Clone(body)
		flipped[i/8] ^= 1 << (i % 8)
		var c Order
		if Decode(flipped, &c) != nil {
			continue // no longer a record at all
		}
		c.Sig = o.Sig
		if Verify(&c) == nil {
			t.Fatalf("order with body bit %d flipped verifies", i)
		}
	}
}

func TestVerifyWrongDomainAndKey(t *testing.T) {
	client := testKey(t, 1)
	o := testOrder(t, client)
	// A signature made for another kind over the same body must not verify.
	body, err := Encode(withoutSig(o))
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte(DomainPrefix+"ack\n"), body...)
	c := *o
	c.Sig = client.sign(msg)
	var se *SignatureError
	if err := Verify(&c); !errors.As(err, &se) {
		t.Fatalf("cross-domain signature: err = %v, want SignatureError", err)
	}
	// Signed by someone else's key.
	c = *o
	other := testKey(t, 2)
	msg, _ = SigningBytes(o)
	c.Sig = other.sign(msg)
	if Verify(&c) == nil {
		t.Fatal("signature by a different key verifies")
	}
	// Sign refuses a key that is not the signer's.
	if err := Sign(&c, other); !errors.As(err, &se) {
		t.Fatalf("Sign with wrong key: err = %v", err)
	}
	// Signer with a malformed DID.
	c = *o
	c.Client = "did:key:zNope"
	if Verify(&c) == nil {
		t.Fatal("order with a bad client DID verifies")
	}
}

func TestTreatySignatures(t *testing.T) {
	a, b, mallory := testKey(t, 2), testKey(t, 3), testKey(t, 4)
	tr, err := FromTemplate(Proposal{Template: TemplateBilateral, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if err := SignTreaty(tr, mallory); err == nil {
		t.Fatal("a non-party signed the treaty")
	}
	if err := SignTreaty(tr, b); err != nil {
		t.Fatal(err)
	}
	if err := SignTreaty(tr, a); err != nil {
		t.Fatal(err)
	}
	signed, err := VerifyTreaty(tr)
	if err != nil || len(signed) != 2 {
		t.Fatalf("VerifyTreaty = %v, %v; want both parties", signed, err)
	}
	if tr.Sigs[0].DID >= tr.Sigs[1].DID {
		t.Fatal("sigs not sorted by DID")
	}
	// Forged: a party's signature over different content.
	forged := *tr
	forged.Sigs = append([]PartySig(nil), tr.Sigs...)
	forged.Seq = 2
	if _, err := VerifyTreaty(&forged); err == nil {
		t.Fatal("signatures over seq 1 verify for seq 2")
	}
	// A non-party's signature is rejected whole.
	msg, _ := SigningBytes(tr)
	intruded := *tr
	intruded.Sigs = append(append([]PartySig(nil), tr.Sigs...), PartySig{DID: mallory.DID(), Sig: mallory.sign(msg)})
	var se *SignatureError
	if _, err := VerifyTreaty(&intruded); !errors.As(err, &se) || se.Signer != mallory.DID() {
		t.Fatalf("non-party signature: err = %v, want SignatureError naming mallory", err)
	}
}

func FuzzVerify(f *testing.F) {
	o := testOrder(f, testKey(f, 1))
	b, err := Encode(o)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, o.Sig)
	want, err := SigningBytes(o)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data, sig []byte) {
		var o2 Order
		if Decode(data, &o2) != nil {
			return
		}
		o2.Sig = sig
		if Verify(&o2) != nil {
			return
		}
		// Only the seed's own message and signature can verify: anything
		// else would be a forgery.
		got, err := SigningBytes(&o2)
		if err != nil || !bytes.Equal(got, want) || !bytes.Equal(sig, o.Sig) {
			t.Fatalf("a different (order, signature) pair verified")
		}
	})
}
