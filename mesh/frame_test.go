package mesh

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aurora-federation/aurora/treaty"
)

func testLink(s string) treaty.Link { return treaty.LinkTo(treaty.CIDOf([]byte(s))) }

// cmpLinks compares Links by CID.
var cmpLinks = cmp.Comparer(func(a, b treaty.Link) bool { return a.Equals(b.Cid) })

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v      any
		decode func([]byte) (any, error)
	}{
		{"order request", &orderRequest{V: 1, Order: []byte("order"), Treaty: testLink("t"), Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			func(b []byte) (any, error) { return decodeOrderRequest(b) }},
		{"order response ack", &orderResponse{V: 1, Reply: []byte("ack")}, func(b []byte) (any, error) { return decodeOrderResponse(b) }},
		{"order response error", &orderResponse{V: 1, Reply: []byte{}, Code: "replay", Message: "nonce used"}, func(b []byte) (any, error) { return decodeOrderResponse(b) }},
		{"witness request", &witnessRequest{V: 1, Body: []byte("old 0\n\nnote")}, func(b []byte) (any, error) { return decodeWitnessRequest(b) }},
		{"witness response", &witnessResponse{V: 1, Status: 409, Body: []byte("12\n"), Message: "conflict"}, func(b []byte) (any, error) { return decodeWitnessResponse(b) }},
		{"sync list", &syncRequest{V: 1, Op: "list", Collection: "treaty", IDs: []treaty.Link{}}, func(b []byte) (any, error) { return decodeSyncRequest(b) }},
		{"sync fetch", &syncRequest{V: 1, Op: "fetch", Collection: "anchor", IDs: []treaty.Link{testLink("a"), testLink("b")}}, func(b []byte) (any, error) { return decodeSyncRequest(b) }},
		{"sync ids", &syncResponse{V: 1, IDs: []treaty.Link{testLink("a")}, Records: [][]byte{}}, func(b []byte) (any, error) { return decodeSyncResponse(b, "list") }},
		{"sync records", &syncResponse{V: 1, IDs: []treaty.Link{}, Records: [][]byte{[]byte("r")}}, func(b []byte) (any, error) { return decodeSyncResponse(b, "fetch") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeFrame(&buf, tc.v); err != nil {
				t.Fatal(err)
			}
			payload, err := readFrame(&buf, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.decode(payload)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.v, got, cmpLinks); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
			if _, err := readFrame(&buf, 1<<20); !errors.Is(err, io.EOF) {
				t.Fatalf("after the frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		max     int
		want    string
		wantErr func(error) bool
	}{
		{name: "one byte", in: []byte{1, 'x'}, max: 8, want: "x"},
		{name: "two-byte length", in: append([]byte{0x80, 0x01}, bytes.Repeat([]byte{'y'}, 128)...), max: 128, want: strings.Repeat("y", 128)},
		{name: "clean end", in: nil, max: 8, wantErr: func(err error) bool { return errors.Is(err, io.EOF) }},
		{name: "non-minimal length", in: []byte{0x81, 0x00, 'x'}, max: 8, wantErr: func(err error) bool { return errors.Is(err, errVarint) }},
		{name: "ten-byte length", in: bytes.Repeat([]byte{0xff}, 10), max: 8, wantErr: func(err error) bool { return errors.Is(err, errVarint) }},
		{name: "over the limit", in: []byte{9, 'x'}, max: 8, wantErr: func(err error) bool {
			var e *FrameTooLargeError
			return errors.As(err, &e) && e.Size == 9 && e.Max == 8
		}},
		{name: "empty frame", in: []byte{0}, max: 8, wantErr: func(err error) bool { var e *FrameError; return errors.As(err, &e) }},
		{name: "truncated payload", in: []byte{5, 'a'}, max: 8, wantErr: func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{name: "truncated length", in: []byte{0x80}, max: 8, wantErr: func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readFrame(bytes.NewReader(tc.in), tc.max)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("readFrame = %q, %v; not the expected error", got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("readFrame = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// cborMap builds a definite-length CBOR map of text keys to raw values.
func cborMap(kv ...any) []byte {
	var b bytes.Buffer
	b.WriteByte(0xa0 | byte(len(kv)/2))
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		b.WriteByte(0x60 | byte(len(k)))
		b.WriteString(k)
		b.Write(kv[i+1].([]byte))
	}
	return b.Bytes()
}

func TestDecodeStrict(t *testing.T) {
	good, err := encodeFrame(&orderRequest{V: 1, Order: []byte("o"), Treaty: testLink("t")})
	if err != nil {
		t.Fatal(err)
	}
	link, err := testLink("t").MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		in    []byte
		field string
		rule  string
	}{
		{"unknown field", cborMap("v", []byte{1}, "order", []byte{0x41, 'o'}, "treaty", link, "traceparent", []byte{0x60}, "x", []byte{1}), "", "unknown field"},
		{"duplicate key", cborMap("v", []byte{1}, "v", []byte{1}), "", "duplicate"},
		{"trailing bytes", append(bytes.Clone(good), 0), "", "extraneous"},
		{"wrong version", cborMap("v", []byte{2}, "order", []byte{0x41, 'o'}, "treaty", link, "traceparent", []byte{0x60}), "v", "unsupported version"},
		{"missing treaty", cborMap("v", []byte{1}, "order", []byte{0x41, 'o'}, "traceparent", []byte{0x60}), "treaty", "missing"},
		{"empty order", cborMap("v", []byte{1}, "order", []byte{0x40}, "treaty", link, "traceparent", []byte{0x60}), "order", "want 1 to"},
		{"wrong type", cborMap("v", []byte{1}, "order", []byte{0x61, 'o'}, "treaty", link, "traceparent", []byte{0x60}), "order", "cannot decode"},
		{"control character", cborMap("v", []byte{1}, "order", []byte{0x41, 'o'}, "treaty", link, "traceparent", []byte{0x61, '\n'}), "traceparent", "control"},
		{"not a map", []byte{0x01}, "", "cannot decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeOrderRequest(tc.in)
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("decodeOrderRequest = %v; want a FrameError on field %q containing %q", err, tc.field, tc.rule)
			}
		})
	}
}

func TestDecodeEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		allowed []string
		kind    string
		wantErr bool
	}{
		{"treaty", cborMap("treaty", []byte{0x41, 1}), []string{"treaty", "revocation"}, "treaty", false},
		{"revocation", cborMap("revocation", []byte{0x41, 1}), []string{"treaty", "revocation"}, "revocation", false},
		{"anchor not allowed", cborMap("anchor", []byte{0x41, 1}), []string{"treaty", "revocation"}, "", true},
		{"two members", cborMap("anchor", []byte{0x41, 1}, "treaty", []byte{0x41, 1}), []string{"treaty", "anchor"}, "", true},
		{"none", cborMap(), []string{"treaty"}, "", true},
		// The fuzz finding (testdata/fuzz/FuzzEnvelope/empty-member): an
		// empty member would vanish on re-encoding.
		{"empty member", cborMap("treaty", []byte{0x40}), []string{"treaty"}, "", true},
		{"empty member beside another", cborMap("anchor", []byte{0x41, 1}, "treaty", []byte{0x40}), []string{"treaty", "anchor"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, kind, err := decodeEnvelope(tc.in, tc.allowed...)
			if (err != nil) != tc.wantErr || kind != tc.kind {
				t.Fatalf("decodeEnvelope = %q, %v; want %q, error %v", kind, err, tc.kind, tc.wantErr)
			}
		})
	}
}

func TestCheckpointSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"o\n12\nroot\n", 12, true},
		{"o\n0\nroot\n", 0, true},
		{"o\n012\nroot\n", 0, false},
		{"o\n-1\nroot\n", 0, false},
		{"o\n12", 0, false},
		{"o\n\nroot\n", 0, false},
		{"o\n99999999999999999999999\nr\n", 0, false},
	} {
		got, err := checkpointSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("checkpointSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestErrorCode(t *testing.T) {
	coded := &LaneError{From: "did:key:zX", Reason: "no lane\nsecret"}
	if code, msg := errorCode(coded); code != CodeNoLane || strings.ContainsRune(msg, '\n') {
		t.Fatalf("errorCode(LaneError) = %q, %q", code, msg)
	}
	if code, msg := errorCode(errors.New("db path /var/lib/x")); code != CodeInternal || msg != "internal error" {
		t.Fatalf("errorCode(plain) = %q, %q: uncoded errors must not leak", code, msg)
	}
}

func TestProbeReply(t *testing.T) {
	k := testKey(t, 0)
	order := testLink("order")
	ack := &treaty.Ack{V: 1, Order: order, Job: "j", Operator: k.DID(), Via: []treaty.Hop{}, Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"}, Price: 1234, At: 1}
	den := &treaty.Denial{V: 1, Order: order, Operator: k.DID(), Reasons: []string{"no"}, At: 1}
	for _, r := range []treaty.Signed{ack, den} {
		if err := treaty.Sign(r, k); err != nil {
			t.Fatal(err)
		}
	}
	if ok, price := probeReply(mustEncode(t, ack)); !ok || price != 1234 {
		t.Fatalf("probeReply(Ack) = %v, %d", ok, price)
	}
	if ok, _ := probeReply(mustEncode(t, den)); ok {
		t.Fatal("probeReply(Denial) says Ack")
	}
	if ok, _ := probeReply([]byte("junk")); ok {
		t.Fatal("probeReply(junk) says Ack")
	}
}
