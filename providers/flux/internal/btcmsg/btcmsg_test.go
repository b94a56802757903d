package btcmsg

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// fixtures mirrors the parts of bitcoinjs-message's test/fixtures.json used here.
type fixtures struct {
	Valid struct {
		MagicHash []struct {
			Network, Message, MagicHash string
		} `json:"magicHash"`
		Sign []struct {
			Description, Message, Network, D, Signature string
			Compressed                                  struct{ Signature string }
		} `json:"sign"`
		Verify []struct {
			Message, Network, Address, Signature string
			Compressed                           struct{ Address, Signature string }
		} `json:"verify"`
	} `json:"valid"`
	Invalid struct {
		Signature []struct{ Exception, Hex string } `json:"signature"`
		Verify    []struct {
			Description, Message, Address, Signature string
		} `json:"verify"`
	} `json:"invalid"`
}

func loadFixtures(t *testing.T) fixtures {
	t.Helper()
	b, err := os.ReadFile("testdata/bitcoinjs-message-fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func keyD(t *testing.T, d string, compressed bool) *Key {
	t.Helper()
	if d != "1" {
		t.Fatalf("fixture d=%s not supported", d)
	}
	b := make([]byte, 32)
	b[31] = 1
	k, err := NewKey(b, compressed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestMagicHashPublishedVectors(t *testing.T) {
	f := loadFixtures(t)
	n := 0
	for _, v := range f.Valid.MagicHash {
		if v.Network != "bitcoin" {
			continue
		}
		n++
		got := MagicHash([]byte(v.Message))
		if hex.EncodeToString(got[:]) != v.MagicHash {
			t.Errorf("MagicHash(%q) = %x, want %s", v.Message, got, v.MagicHash)
		}
	}
	if n == 0 {
		t.Fatal("no bitcoin magicHash vectors")
	}
}

func TestSignPublishedVectors(t *testing.T) {
	f := loadFixtures(t)
	n := 0
	for _, v := range f.Valid.Sign {
		if v.Network != "bitcoin" {
			continue
		}
		n++
		for _, tc := range []struct {
			compressed bool
			want       string
		}{{false, v.Signature}, {true, v.Compressed.Signature}} {
			t.Run(fmt.Sprintf("compressed=%v", tc.compressed), func(t *testing.T) {
				k := keyD(t, v.D, tc.compressed)
				if got := k.Sign([]byte(v.Message)); got != tc.want {
					t.Errorf("Sign = %s, want %s", got, tc.want)
				}
				if err := Verify(k.Address(), []byte(v.Message), tc.want); err != nil {
					t.Errorf("Verify(published signature) = %v", err)
				}
			})
		}
	}
	if n == 0 {
		t.Fatal("no bitcoin sign vectors")
	}
}

func TestVerifyPublishedVectors(t *testing.T) {
	f := loadFixtures(t)
	type tc struct{ name, addr, msg, sig string }
	var valid, invalid []tc
	for _, v := range f.Valid.Verify {
		if v.Network != "bitcoin" {
			continue
		}
		valid = append(valid, tc{"uncompressed", v.Address, v.Message, v.Signature},
			tc{"compressed", v.Compressed.Address, v.Message, v.Compressed.Signature})
	}
	for _, v := range f.Invalid.Verify {
		invalid = append(invalid, tc{v.Description, v.Address, v.Message, v.Signature})
	}
	for _, c := range valid {
		t.Run("valid/"+c.name, func(t *testing.T) {
			if err := Verify(c.addr, []byte(c.msg), c.sig); err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
		})
	}
	for _, c := range invalid {
		t.Run("invalid/"+c.name, func(t *testing.T) {
			err := Verify(c.addr, []byte(c.msg), c.sig)
			if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrBadAddress) {
				t.Errorf("Verify = %v, want ErrBadSignature or ErrBadAddress", err)
			}
		})
	}
	for _, v := range f.Invalid.Signature {
		t.Run("invalid-signature/"+v.Exception, func(t *testing.T) {
			raw, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatal(err)
			}
			err = Verify(f.Valid.Verify[0].Address, []byte("vires is numeris"), base64.StdEncoding.EncodeToString(raw))
			if !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
	if len(valid) == 0 || len(invalid) == 0 {
		t.Fatal("fixtures missing")
	}
}

func TestWIFRoundTrip(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		k := keyD(t, "1", compressed)
		w := k.WIF()
		k2, err := ParseWIF(w)
		if err != nil {
			t.Fatalf("ParseWIF(%s): %v", w, err)
		}
		if k2.Address() != k.Address() || k2.compressed != compressed {
			t.Errorf("round trip changed key: %s vs %s", k2.Address(), k.Address())
		}
	}
	// Well-known addresses of the private key 1.
	if got := keyD(t, "1", true).Address(); got != "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH" {
		t.Errorf("compressed address = %s", got)
	}
	if got := keyD(t, "1", false).Address(); got != "1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm" {
		t.Errorf("uncompressed address = %s", got)
	}
}

func TestParseWIFRejects(t *testing.T) {
	good := keyD(t, "1", true).WIF()
	tests := []struct{ name, wif string }{
		{"empty", ""},
		{"not base58", "0OIl"},
		{"bad checksum", good[:len(good)-1] + flip(good[len(good)-1])},
		{"address not key", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"},
		{"zero key", encodeCheck(append([]byte{versionWIF}, make([]byte, 32)...))},
		{"short", encodeCheck([]byte{versionWIF, 1, 2, 3})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseWIF(tt.wif); !errors.Is(err, ErrBadKey) {
				t.Errorf("ParseWIF = %v, want ErrBadKey", err)
			}
		})
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestKeyRedacts(t *testing.T) {
	k := keyD(t, "1", true)
	w := k.WIF()
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("k", "key", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k), b.String()} {
		if strings.Contains(s, w) || strings.Contains(s, "0000000000000000000000000000000000000000000000000000000000000001") {
			t.Errorf("secret leaked: %s", s)
		}
	}
}

func TestSignVerifyTamper(t *testing.T) {
	k := keyD(t, "1", true)
	msg := []byte("1700000000000" + strings.Repeat("ab", 16))
	sig := k.Sign(msg)
	if err := Verify(k.Address(), msg, sig); err != nil {
		t.Fatal(err)
	}
	other := keyD(t, "1", false).Address()
	tests := []struct {
		name, addr, msg, sig string
	}{
		{"message", k.Address(), string(msg) + "x", sig},
		{"signer", other, string(msg), sig},
		{"signature byte", k.Address(), string(msg), tamper(sig)},
		{"truncated", k.Address(), string(msg), sig[:40]},
		{"garbage", k.Address(), string(msg), "!!!"},
		{"bad address", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMX", string(msg), sig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.addr, []byte(tt.msg), tt.sig); err == nil {
				t.Error("Verify accepted a tampered input")
			}
		})
	}
}

func tamper(sig string) string {
	raw, _ := base64.StdEncoding.DecodeString(sig)
	raw[40] ^= 1
	return base64.StdEncoding.EncodeToString(raw)
}

func FuzzVerify(f *testing.F) {
	k, _ := NewKey(append(make([]byte, 31), 1), true)
	f.Add(k.Address(), "vires is numeris", k.Sign([]byte("vires is numeris")))
	f.Add("16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM", "vires is numeris", "G8JawPtQOrybrSP1WHQnQPr67B9S3qrxBrl1mlzoTJOSHEpmnF7D3+t+LX0Xei9J20B5AIdPbeL3AaTBZ4N3bY0=")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, addr, msg, sig string) {
		if err := Verify(addr, []byte(msg), sig); err == nil && !ValidAddress(addr) {
			t.Fatalf("accepted a signature for malformed address %q", addr)
		}
	})
}

func FuzzParseWIF(f *testing.F) {
	k, _ := NewKey(append(make([]byte, 31), 1), true)
	f.Add(k.WIF())
	f.Add("5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseWIF(s)
		if err != nil {
			return
		}
		if k2, err := ParseWIF(k.WIF()); err != nil || k2.Address() != k.Address() {
			t.Fatalf("re-encode of accepted WIF failed: %v", err)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	k, _ := NewKey(append(make([]byte, 31), 1), true)
	msg := []byte("1764072000000" + strings.Repeat("ab", 16))
	for b.Loop() {
		k.Sign(msg)
	}
}

func BenchmarkVerify(b *testing.B) {
	k, _ := NewKey(append(make([]byte, 31), 1), true)
	msg := []byte("1764072000000" + strings.Repeat("ab", 16))
	sig, addr := k.Sign(msg), k.Address()
	for b.Loop() {
		if err := Verify(addr, msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}
