package trust

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

func key(t testing.TB, label byte) *treaty.PrivateKey {
	t.Helper()
	k, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{label}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const origin = "aurora/testfed/12D3KooWTestNodeA"

func logKey(t testing.TB, label byte) string {
	t.Helper()
	s, err := provenance.LogVerifierKey(origin, key(t, label).DID())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func witnessKey(t testing.TB, label byte) string {
	t.Helper()
	v, err := provenance.WitnessVerifier(fmt.Sprintf("aurora-witness/w%d", label), key(t, label).DID())
	if err != nil {
		t.Fatal(err)
	}
	return v.VerifierKey()
}

func goodPolicy(t testing.TB) string {
	return fmt.Sprintf(`# a comment
log %s https://a.example/tlog

witness X1 %s
witness X2 %s
	witness Y1 %s https://y.example/witness
group X 2 X1 X2
group XY all X Y1
quorum XY
tsa-roots roots.pem
tsa-min 2
`, logKey(t, 1), witnessKey(t, 11), witnessKey(t, 12), witnessKey(t, 13))
}

func TestParse(t *testing.T) {
	p, err := Parse([]byte(goodPolicy(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Logs) != 1 || p.Logs[0].Origin != origin || p.Logs[0].URL != "https://a.example/tlog" {
		t.Fatalf("logs %+v", p.Logs)
	}
	if len(p.Witnesses) != 3 || p.Witnesses[2].URL != "https://y.example/witness" || p.QuorumName != "XY" {
		t.Fatalf("witnesses %+v quorum %q", p.Witnesses, p.QuorumName)
	}
	if p.TSA.MinTokens != 2 || len(p.TSA.RootFiles) != 1 {
		t.Fatalf("tsa %+v", p.TSA)
	}
	again, err := Parse(p.Marshal())
	if err != nil {
		t.Fatalf("Parse(Marshal): %v\n%s", err, p.Marshal())
	}
	if !bytes.Equal(again.Marshal(), p.Marshal()) {
		t.Fatalf("Marshal not stable:\n%s\n%s", p.Marshal(), again.Marshal())
	}
}

func TestParseErrors(t *testing.T) {
	lk, w1, w2 := logKey(t, 1), witnessKey(t, 11), witnessKey(t, 12)
	tests := []struct {
		name, policy string
		line         int
		rule         string
	}{
		{"no quorum", "log " + lk + "\n", 0, "no quorum"},
		{"unknown keyword", "quorum none\nlogs " + lk + "\n", 2, "unknown keyword"},
		{"bad log key", "log nope\nquorum none\n", 1, "log key"},
		{"witness key as log", "log " + w1 + "\nquorum none\n", 1, "log key"},
		{"duplicate log key", "log " + lk + "\nlog " + lk + "\nquorum none\n", 2, "already listed"},
		{"log url", "log " + lk + " ftp://x/\nquorum none\n", 1, "URL"},
		{"log too many fields", "log " + lk + " https://a/ b\nquorum none\n", 1, "want: log"},
		{"bad witness key", "witness a b+c\nquorum none\n", 1, "witness key"},
		{"witness did key", "witness a aurora-witness/w+" + string(key(t, 11).DID()) + "\nquorum none\n", 1, "C2SP verifier key"},
		{"duplicate witness key", "witness a " + w1 + "\nwitness b " + w1 + "\nquorum none\n", 2, "already listed"},
		{"duplicate name", "witness a " + w1 + "\nwitness a " + w2 + "\nquorum none\n", 2, "already defined"},
		{"name none", "witness none " + w1 + "\nquorum none\n", 1, "predefined"},
		{"group undefined member", "witness a " + w1 + "\ngroup g any a b\nquorum g\n", 2, "not defined"},
		{"group forward reference", "group g any a\nwitness a " + w1 + "\nquorum g\n", 1, "not defined"},
		{"group member twice", "witness a " + w1 + "\ngroup g any a a\nquorum g\n", 2, "twice"},
		{"group k too large", "witness a " + w1 + "\ngroup g 2 a\nquorum g\n", 2, "threshold"},
		{"group k zero", "witness a " + w1 + "\ngroup g 0 a\nquorum g\n", 2, "threshold"},
		{"group none member", "witness a " + w1 + "\ngroup g any none\nquorum g\n", 2, "cannot be a group member"},
		{"group no members", "group g any\nquorum none\n", 1, "want: group"},
		{"quorum undefined", "quorum x\n", 1, "not defined"},
		{"two quorums", "quorum none\nquorum none\n", 2, "second quorum"},
		{"control char", "quorum none\r\n", 1, "control character"},
		{"tsa-root not base64", "quorum none\ntsa-root !!\n", 2, "base64"},
		{"tsa-root not a cert", "quorum none\ntsa-root AAAA\n", 2, "tsa-root"},
		{"tsa-min", "quorum none\ntsa-min 9\n", 2, "tsa-min"},
		{"tsa-min twice", "quorum none\ntsa-min 1\ntsa-min 2\n", 3, "second tsa-min"},
		{"too large", strings.Repeat("#", MaxPolicySize+1), 0, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.policy))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			if pe.Line != tt.line || !strings.Contains(pe.Rule, tt.rule) {
				t.Fatalf("Parse = %v, want line %d and %q", err, tt.line, tt.rule)
			}
		})
	}
}

func TestQuorum(t *testing.T) {
	p, err := Parse([]byte(goodPolicy(t)))
	if err != nil {
		t.Fatal(err)
	}
	q := p.Quorum()
	cos := func(labels ...byte) []provenance.Cosignature {
		var out []provenance.Cosignature
		for _, l := range labels {
			v, _ := provenance.WitnessVerifier(fmt.Sprintf("aurora-witness/w%d", l), key(t, l).DID())
			out = append(out, provenance.Cosignature{Witness: v.Name(), KeyHash: v.KeyHash(), Time: time.Unix(1, 0)})
		}
		return out
	}
	for _, tc := range []struct {
		labels []byte
		want   bool
	}{
		{nil, false}, {[]byte{11, 12}, false}, {[]byte{11, 13}, false}, {[]byte{11, 12, 13}, true}, {[]byte{14, 11, 12, 13}, true},
	} {
		if got := q.Met(cos(tc.labels...)); got != tc.want {
			t.Errorf("Met(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
	none, _ := Parse([]byte("quorum none\n"))
	if none.Quorum() != nil {
		t.Error("quorum none has a quorum")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodPolicy(f)))
	f.Add([]byte("quorum none\n"))
	f.Add([]byte("witness a b\ngroup g any a\nquorum g\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			return
		}
		again, err := Parse(p.Marshal())
		if err != nil {
			t.Fatalf("Parse(Marshal()) = %v\n%s", err, p.Marshal())
		}
		if !bytes.Equal(again.Marshal(), p.Marshal()) {
			t.Fatal("Marshal is not a fixed point")
		}
	})
}

// TestKeysWithPlus: base64 holds "+": the key is what follows the second
// "+" (a key whose base64 has a "+" once parsed as something else).
func TestKeysWithPlus(t *testing.T) {
	for label := byte(1); label < 60; label++ {
		lk := logKey(t, label)
		if _, err := Parse([]byte("log " + lk + "\nquorum none\n")); err != nil {
			t.Fatalf("log key %s: %v", lk, err)
		}
	}
}

// TestLogAndWitnessShareKey: an Aurora node's one key signs its log and its
// cosignatures; C2SP forbids duplicates among logs and among witnesses only.
func TestLogAndWitnessShareKey(t *testing.T) {
	k := key(t, 1)
	lk, _ := provenance.LogVerifierKey(origin, k.DID())
	wv, _ := provenance.WitnessVerifier("aurora-witness/x", k.DID())
	if _, err := Parse([]byte("log " + lk + "\nwitness w " + wv.VerifierKey() + "\nquorum w\n")); err != nil {
		t.Fatal(err)
	}
}
