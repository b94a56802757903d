package treaty

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

func TestCancelValidate(t *testing.T) {
	base := func(t *testing.T) *Cancel { return sampleRecords(t)["cancel"].(*Cancel) }
	tests := []struct {
		name      string
		edit      func(c *Cancel)
		wantField string
	}{
		{name: "sample", edit: func(*Cancel) {}},
		{name: "version", edit: func(c *Cancel) { c.V = 2 }, wantField: "v"},
		{name: "no order", edit: func(c *Cancel) { c.Order = Link{} }, wantField: "order"},
		{name: "bad client", edit: func(c *Cancel) { c.Client = "did:web:example.com" }, wantField: "client"},
		{name: "at zero", edit: func(c *Cancel) { c.At = 0 }, wantField: "at"},
		{name: "reason at limit", edit: func(c *Cancel) { c.Reason = strings.Repeat("r", MaxDetailLen) }},
		{name: "reason beyond limit", edit: func(c *Cancel) { c.Reason = strings.Repeat("r", MaxDetailLen+1) }, wantField: "reason"},
		{name: "reason control char", edit: func(c *Cancel) { c.Reason = "a\nb" }, wantField: "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base(t)
			tt.edit(c)
			err := c.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField || ve.Kind != "cancel" {
				t.Fatalf("Validate = %v, want a cancel.%s error", err, tt.wantField)
			}
		})
	}
}

func TestCancelTime(t *testing.T) {
	c := sampleRecords(t)["cancel"].(*Cancel)
	at := time.Unix(c.At, 0)
	if err := c.CheckCancelTime(at.Add(-MaxClockSkew)); err != nil {
		t.Errorf("at exactly the skew ahead: %v", err)
	}
	var ve *ValidationError
	if err := c.CheckCancelTime(at.Add(-MaxClockSkew - time.Second)); !errors.As(err, &ve) || ve.Field != "at" {
		t.Errorf("beyond the skew: %v, want a cancel.at error", err)
	}
	if err := c.CheckCancelTime(at.Add(30 * 24 * time.Hour)); err != nil {
		t.Errorf("an old cancel: %v", err)
	}
}

// TestCancelSignature: the domain is aurora/v1/cancel, the signer is the
// client, and a cancel signed by anyone else does not verify.
func TestCancelSignature(t *testing.T) {
	c := sampleRecords(t)["cancel"].(*Cancel)
	if err := Verify(c); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	msg, err := SigningBytes(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), "aurora/v1/cancel\n") {
		t.Errorf("signing bytes start %q, want the aurora/v1/cancel domain", msg[:20])
	}
	stranger := testKey(t, 9)
	if err := Sign(c, stranger); err == nil {
		t.Error("a stranger's key signs a cancel naming another client")
	}
	forged := *c
	forged.Sig = stranger.sign(msg)
	var se *SignatureError
	if err := Verify(&forged); !errors.As(err, &se) || se.Signer != c.Client {
		t.Errorf("Verify(stranger's signature) = %v, want a SignatureError naming the client", err)
	}
}

// TestCancelDecodeStrict: unknown fields are refused by name, sizes are
// bounded.
func TestCancelDecodeStrict(t *testing.T) {
	c := sampleRecords(t)["cancel"].(*Cancel)
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := decMode.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["lease"] = "C.1"
	extra, err := encMode.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got Cancel
	var ve *ValidationError
	if err := Decode(extra, &got); !errors.As(err, &ve) || ve.Field != "lease" {
		t.Errorf("Decode(unknown field) = %v, want a ValidationError naming lease", err)
	}
	huge, err := cbor.Marshal(map[string]any{"reason": strings.Repeat("x", MaxRecordSize)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Decode(huge, &got); !errors.As(err, &ve) || !strings.Contains(ve.Rule, "limit") {
		t.Errorf("Decode(oversized) = %v, want the size limit", err)
	}
	e := &LogEntry{Cancel: c, TSA: &TSAEntry{}}
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Errorf("entry with two members: %v", err)
	}
}
