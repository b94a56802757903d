package mesh

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"

	"github.com/aurora-federation/aurora/treaty"
)

var update = flag.Bool("update", false, "rewrite the seed corpora under testdata/fuzz")

// seeds are valid and edge-case frames of every parser; they are the
// checked-in corpora (go test -run TestFuzzCorpus -update rewrites them).
func seeds(t testing.TB) map[string][][]byte {
	t.Helper()
	enc := func(v any) []byte { return mustEncode(t, v) }
	link := testLink("treaty")
	return map[string][][]byte{
		"FuzzOrderRequest": {
			enc(&orderRequest{V: 1, Order: []byte("order"), Treaty: link, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}),
			enc(&orderRequest{V: 2, Order: []byte{}, Treaty: link}),
			{0xa0}, {0xbf, 0xff}, {},
		},
		"FuzzOrderResponse": {
			enc(&orderResponse{V: 1, Reply: []byte("ack")}),
			enc(&orderResponse{V: 1, Reply: []byte{}, Code: "replay", Message: "used"}),
			enc(&orderResponse{V: 1, Reply: []byte("x"), Code: "both"}),
		},
		"FuzzCancelRequest": {
			enc(&cancelRequest{V: 1, Cancel: []byte("cancel"), Treaty: link}),
			enc(&cancelRequest{V: 1, Cancel: []byte{}, Treaty: link}),
			enc(&cancelRequest{V: 1, Cancel: make([]byte, MaxCancelBytes+1), Treaty: link}),
		},
		"FuzzWitnessRequest":  {enc(&witnessRequest{V: 1, Body: []byte("old 0\n\nnote")}), {0xa1, 0x61, 'v', 0x01}},
		"FuzzWitnessResponse": {enc(&witnessResponse{V: 1, Status: 200, Body: []byte("— w sig\n")}), enc(&witnessResponse{V: 1, Status: 99})},
		"FuzzSyncRequest": {
			enc(&syncRequest{V: 1, Op: "list", Collection: "treaty", IDs: []treaty.Link{}}),
			enc(&syncRequest{V: 1, Op: "fetch", Collection: "anchor", IDs: []treaty.Link{link}}),
			enc(&syncRequest{V: 1, Op: "drop", Collection: "treaty", IDs: []treaty.Link{}}),
			enc(&syncRequest{V: 1, Op: "list", Collection: "evidence", IDs: []treaty.Link{}}),
		},
		"FuzzSyncResponse": {
			enc(&syncResponse{V: 1, IDs: []treaty.Link{link}, Records: [][]byte{}}),
			enc(&syncResponse{V: 1, IDs: []treaty.Link{}, Records: [][]byte{[]byte("r")}}),
			enc(&syncResponse{V: 1, IDs: []treaty.Link{}, Records: [][]byte{}, Code: "bad_frame", Message: "m"}),
		},
		"FuzzEnvelope": {enc(&envelope{Treaty: []byte{1}}), enc(&envelope{Revocation: []byte{1}, Anchor: []byte{2}}), {0xa0}, enc(&envelope{Evidence: []byte{3}})},
		"FuzzReadFrame": {
			{1, 'x'}, {0x80, 0x01}, {0x81, 0x00, 'x'}, bytes.Repeat([]byte{0xff}, 10), {0}, {5, 'a'},
		},
		"FuzzCheckpointSize": {[]byte("o\n12\nroot\n"), []byte("o\n012\n"), []byte("\n\n")},
		"FuzzJudge": {
			append([]byte{0}, enc(&envelope{Treaty: []byte{0xa0}})...),
			append([]byte{1}, 0xa0),
			append([]byte{2}, mustEncode(t, &treaty.Anchor{V: 1, Origin: "o", Checkpoint: "o\n1\nAAAA\n", TSA: [][]byte{}})...),
			append([]byte{3}, marshalEvidence(t, sameSize(t, testKey(t, 2), "fed", 7, "honest", "forged"))...),
		},
	}
}

// TestFuzzCorpus checks that the checked-in corpora hold the seeds.
func TestFuzzCorpus(t *testing.T) {
	for name, list := range seeds(t) {
		dir := filepath.Join("testdata", "fuzz", name)
		for i, s := range list {
			path := filepath.Join(dir, fmt.Sprintf("seed-%d", i))
			want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s is stale or missing (run go test -run TestFuzzCorpus -update): %v", path, err)
			}
		}
	}
}

func fuzzDecoder[T any](f *testing.F, decode func([]byte) (*T, error)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decode(data)
		if err != nil {
			return
		}
		again, err := decode(mustEncode(t, v))
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if diff := cmp.Diff(v, again, cmpLinks); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzOrderRequest(f *testing.F)    { fuzzDecoder(f, decodeOrderRequest) }
func FuzzOrderResponse(f *testing.F)   { fuzzDecoder(f, decodeOrderResponse) }
func FuzzWitnessRequest(f *testing.F)  { fuzzDecoder(f, decodeWitnessRequest) }
func FuzzWitnessResponse(f *testing.F) { fuzzDecoder(f, decodeWitnessResponse) }
func FuzzSyncRequest(f *testing.F)     { fuzzDecoder(f, decodeSyncRequest) }
func FuzzCancelRequest(f *testing.F)   { fuzzDecoder(f, decodeCancelRequest) }

func FuzzSyncResponse(f *testing.F) {
	fuzzDecoder(f, func(b []byte) (*syncResponse, error) {
		r, err := decodeSyncResponse(b, syncOpList)
		if err != nil {
			return decodeSyncResponse(b, syncOpFetch)
		}
		return r, nil
	})
}

func FuzzEnvelope(f *testing.F) {
	fuzzDecoder(f, func(b []byte) (*envelope, error) {
		e, _, err := decodeEnvelope(b, collTreaty, "revocation", collAnchor, collEvidence)
		return e, err
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 64
		r := bytes.NewReader(data)
		for {
			payload, err := readFrame(r, max)
			if err != nil {
				return
			}
			if len(payload) == 0 || len(payload) > max {
				t.Fatalf("frame of %d bytes, limit %d", len(payload), max)
			}
			// A frame read back is what appendFrame writes.
			again, err := readFrame(bytes.NewReader(appendFrame(nil, payload)), max)
			if err != nil || !bytes.Equal(again, payload) {
				t.Fatalf("appendFrame/readFrame round trip: %q, %v", again, err)
			}
		}
	})
}

func FuzzCheckpointSize(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := checkpointSize(string(data))
		if err == nil && fmt.Sprintf("o\n%d\n", n) != "o\n"+string(bytes.SplitN(data, []byte("\n"), 3)[1])+"\n" {
			t.Fatalf("size %d does not print as its line in %q", n, data)
		}
	})
}

// FuzzJudge feeds arbitrary messages to the topics' validators (the first
// byte picks the topic): they must not panic, and only accept what carries
// validator data.
func FuzzJudge(f *testing.F) {
	me := testKey(f, 0)
	from := pid(f, testKey(f, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		m := offlineMesh(t, me, func(c *Config) { c.Clock = func() time.Time { return time.Unix(1_800_000_000, 0) } })
		specs := m.topicSpecs()
		msg := &pubsub.Message{Message: &pb.Message{Data: data[1:]}}
		res := specs[int(data[0])%len(specs)].validate(context.Background(), from, msg)
		if (res == pubsub.ValidationAccept) != (msg.ValidatorData != nil) {
			t.Fatalf("result %v with validator data %v", res, msg.ValidatorData)
		}
	})
}
