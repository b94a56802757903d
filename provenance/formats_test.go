package provenance

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/aurora-federation/aurora/provenance/c2sp"
	"github.com/aurora-federation/aurora/treaty"
)

// Helpers of c2sp that the tests of this package use under their old
// names.
func rootsFromConsistency(m, n uint64, p [][]byte) ([32]byte, [32]byte, error) {
	return c2sp.RootsFromConsistency(m, n, p)
}

func fullConsistencyProof(m uint64, hashes [][]byte, root1 [32]byte) [][]byte {
	return c2sp.SeededConsistencyProof(m, hashes, root1)
}

func isPow2(n uint64) bool { return n != 0 && n&(n-1) == 0 }

// TestLimitsMatchTreaty: the limits c2sp names without importing treaty are
// treaty's.
func TestLimitsMatchTreaty(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int64
	}{
		{"MaxNoteSize", c2sp.MaxNoteSize, treaty.MaxCheckpointLen},
		{"MaxLeafSize", c2sp.MaxLeafSize, treaty.MaxRecordSize},
		{"MaxTSATokens", c2sp.MaxTSATokens, treaty.MaxTSATokens},
		{"MaxTSATokenSize", c2sp.MaxTSATokenSize, treaty.MaxTSATokenLen},
		{"MaxClockSkew", int64(c2sp.MaxClockSkew), int64(treaty.MaxClockSkew)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, treaty's is %d", tc.name, tc.got, tc.want)
		}
	}
}

// TestDIDPublicKeyMatchesTreaty: c2sp reads did:key like treaty, accepting
// and refusing the same strings.
func TestDIDPublicKeyMatchesTreaty(t *testing.T) {
	good := testKey(t, 3).DID()
	for _, s := range []string{string(good), string(good) + "x", string(good)[:len(good)-1], "did:key:z", "did:key:", "did:web:example.org",
		"did:key:z" + strings.Repeat("1", 60), "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme" /* secp256k1 */} {
		pub, err := c2sp.DIDPublicKey(s)
		want, werr := treaty.DID(s).PublicKey()
		if (err == nil) != (werr == nil) || !bytes.Equal(pub, want) {
			t.Errorf("%q: c2sp %x %v, treaty %x %v", s, pub, err, want, werr)
		}
	}
}

// TestDecodeJobLeafMatchesTreaty cross-checks c2sp's record check (no
// treaty) with treaty's decoder and field rules, CheckJobLeaf: on real job
// records both accept and report the same job; on records treaty refuses
// for their shape (an unknown or missing field, a non-canonical encoding,
// another entry kind, a bad DID or status) both refuse.
func TestDecodeJobLeafMatchesTreaty(t *testing.T) {
	valid := func(edit func(*treaty.JobRecord)) []byte {
		rec := &treaty.JobRecord{V: treaty.Version, Job: "job-1", Order: testCID("o"), Ack: testCID("a"),
			Operator: testKey(t, 1).DID(), Client: testKey(t, 2).DID(), Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"},
			Price: 1_200_000, Lease: "lease-1", Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: fixedNow.Unix()}}}
		if edit != nil {
			edit(rec)
		}
		b, err := treaty.Encode(&treaty.LogEntry{Job: rec})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// raw re-encodes a leaf generically after edit, so that it can carry
	// what treaty's types cannot (unknown fields, missing ones).
	raw := func(edit func(job map[any]any)) []byte {
		var v map[any]any
		if err := cbor.Unmarshal(valid(nil), &v); err != nil {
			t.Fatal(err)
		}
		edit(v["job"].(map[any]any))
		b, err := treaty.DagCBOREncMode().Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	anchorLeaf, err := AnchorLeaf(Checkpoint{Origin: testOrigin, Size: 1, Note: []byte(testOrigin + "\n1\n" + strings.Repeat("A", 43) + "=\n\n— " + testOrigin + " AAAAAAAA\n")}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		leaf []byte
		ok   bool
	}{
		{"job record", valid(nil), true},
		{"peer route", valid(func(r *treaty.JobRecord) {
			tl := testCID("t")
			r.Route = treaty.Route{Kind: treaty.RoutePeer, Name: string(testKey(t, 4).DID()), Treaty: &tl}
		}), true},
		{"with result", valid(func(r *treaty.JobRecord) { r.Result = []byte("ok") }), true},
		{"every status", valid(func(r *treaty.JobRecord) {
			r.Transitions = nil
			for i, s := range []string{treaty.StatusAccepted, treaty.StatusForwarded, treaty.StatusLaunching, treaty.StatusRunning, treaty.StatusSucceeded, treaty.StatusFailed, treaty.StatusTerminated} {
				r.Transitions = append(r.Transitions, treaty.Transition{Status: s, At: fixedNow.Unix() + int64(i), Detail: "d"})
			}
		}), true},
		{"unknown field", raw(func(j map[any]any) { j["extra"] = "x" }), false},
		{"missing field", raw(func(j map[any]any) { delete(j, "lease") }), false},
		{"unknown route field", raw(func(j map[any]any) { j["route"].(map[any]any)["via"] = "x" }), false},
		{"unknown transition field", raw(func(j map[any]any) { j["transitions"].([]any)[0].(map[any]any)["why"] = "x" }), false},
		{"link not a tag", raw(func(j map[any]any) { j["order"] = []byte("not a link") }), false},
		{"version 2", valid(func(r *treaty.JobRecord) { r.V = 2 }), false},
		{"bad client DID", valid(func(r *treaty.JobRecord) { r.Client = "did:key:zNotAKey" }), false},
		{"unknown status", valid(func(r *treaty.JobRecord) { r.Transitions[0].Status = "paused" }), false},
		{"no transitions", valid(func(r *treaty.JobRecord) { r.Transitions = nil }), false},
		{"back in time", valid(func(r *treaty.JobRecord) {
			r.Transitions = append(r.Transitions, treaty.Transition{Status: treaty.StatusRunning, At: fixedNow.Unix() - 1})
		}), false},
		{"empty job ID", valid(func(r *treaty.JobRecord) { r.Job = "" }), false},
		{"anchor entry", anchorLeaf, false},
		{"not canonical", append([]byte{0xb9, 0x00, 0x01}, valid(nil)[1:]...), false},
		{"trailing bytes", append(valid(nil), 0), false},
		{"not cbor", []byte("job"), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			light, lerr := c2sp.DecodeJobLeaf(tc.leaf)
			full, ferr := CheckJobLeaf(tc.leaf)
			if (lerr == nil) != tc.ok || (ferr == nil) != tc.ok {
				t.Fatalf("c2sp: %v; treaty: %v; want ok = %v", lerr, ferr, tc.ok)
			}
			if tc.ok && !reflect.DeepEqual(light, full) {
				t.Fatalf("c2sp read %+v, treaty %+v", light, full)
			}
		})
	}
}

// TestDecodeJobLeafAcceptsTreatyRecords: every leaf treaty accepts in the
// fuzz corpus of job records, c2sp accepts with the same summary.
func TestDecodeJobLeafAcceptsTreatyRecords(t *testing.T) {
	for i := range 200 {
		leaf := jobLeaf(t, i)
		light, err := c2sp.DecodeJobLeaf(leaf)
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		full, err := CheckJobLeaf(leaf)
		if err != nil || !reflect.DeepEqual(light, full) {
			t.Fatalf("leaf %d: c2sp %+v, treaty %+v %v", i, light, full, err)
		}
	}
}

// FuzzDecodeJobLeaf: c2sp's record check never accepts less than treaty's:
// whatever treaty decodes and validates as a job entry, c2sp accepts with
// the same summary; and it never panics on anything.
func FuzzDecodeJobLeaf(f *testing.F) {
	f.Add(jobLeaf(f, 1))
	f.Add([]byte{0xa1, 0x63, 'j', 'o', 'b', 0xa0})
	f.Fuzz(func(t *testing.T, leaf []byte) {
		light, lerr := c2sp.DecodeJobLeaf(leaf)
		full, ferr := CheckJobLeaf(leaf)
		if ferr == nil && (lerr != nil || !reflect.DeepEqual(light, full)) {
			t.Fatalf("treaty accepts %x, c2sp: %+v %v", leaf, light, lerr)
		}
	})
}

// TestCheckLeafRelease: CheckLeaf reports a release leaf's fields and still
// reads job leaves; the light verifier (c2sp.DecodeJobLeaf) and
// CheckJobLeaf refuse a release leaf, naming its kind; a release entry that
// breaks treaty's rules is refused.
func TestCheckLeafRelease(t *testing.T) {
	rel := &treaty.ReleaseEntry{V: treaty.ReleaseVersion, Name: "aurora-20261207.tar.gz", SHA256: bytes.Repeat([]byte{7}, 32),
		Signer: strings.Repeat("ab", 20), TokensSHA256: [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}, At: 1780000000}
	leaf, err := treaty.Encode(&treaty.LogEntry{Release: rel})
	if err != nil {
		t.Fatal(err)
	}
	s, err := CheckLeaf(leaf)
	if err != nil || s.Release == nil {
		t.Fatalf("CheckLeaf: %+v, %v", s, err)
	}
	want := c2sp.ReleaseSummary{Name: rel.Name, SHA256: [32]byte(rel.SHA256), Signer: rel.Signer, TokensSHA256: [][32]byte{[32]byte(rel.TokensSHA256[0]), [32]byte(rel.TokensSHA256[1])}, At: rel.At}
	if !reflect.DeepEqual(*s.Release, want) {
		t.Fatalf("CheckLeaf = %+v, want %+v", *s.Release, want)
	}
	if _, err := c2sp.DecodeJobLeaf(leaf); err == nil || !strings.Contains(err.Error(), "release entry, not a job record entry") {
		t.Fatalf("DecodeJobLeaf of a release leaf: %v", err)
	}
	if _, err := CheckJobLeaf(leaf); err == nil {
		t.Fatal("CheckJobLeaf accepted a release leaf")
	}
	rel.Signer = "ABC"
	bad, err := treaty.Encode(&treaty.LogEntry{Release: rel})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckLeaf(bad); err == nil || !strings.Contains(err.Error(), "release.signer") {
		t.Fatalf("CheckLeaf of a bad signer: %v", err)
	}
	if s, err := CheckLeaf(jobLeaf(t, 3)); err != nil || s.Release != nil || s.Job == "" {
		t.Fatalf("CheckLeaf of a job leaf: %+v, %v", s, err)
	}
}
