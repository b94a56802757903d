package ipfs_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/treaty"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// The provenance loop takes PinEpochInfo as its Pin hook.
var _ = provenance.EpochsConfig{Pin: (*ipfs.Node)(nil).PinEpochInfo}

func sampleRoot() *ipfs.EpochRoot {
	rec := treaty.LinkTo(treaty.CIDOf([]byte{0xa1, 0x61, 'a', 0x01}))
	prev := treaty.LinkTo(treaty.CIDOf([]byte{0xa0}))
	return &ipfs.EpochRoot{
		V:            ipfs.EpochRootVersion,
		Origin:       "aurora/golden/12D3KooWGolden",
		Epoch:        7,
		Checkpoint:   "aurora/golden/12D3KooWGolden\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— aurora/golden/12D3KooWGolden c2lnbmF0dXJl\n",
		Cosignatures: []string{"— witness-b Y29zaWduYXR1cmU="},
		TSA:          [][]byte{{0x30, 0x03, 0x02, 0x01, 0x00}},
		Count:        1,
		Records:      []treaty.Link{rec},
		Prev:         &prev,
	}
}

// TestEpochRootGolden pins the encoding: testdata/epochroot.hex is the
// canonical dag-cbor of sampleRoot, reviewed as a diff when it changes
// (-update).
func TestEpochRootGolden(t *testing.T) {
	c, b, err := ipfs.EncodeEpochRoot(sampleRoot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "epochroot.hex")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"+c.String()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), hex.EncodeToString(b)+"\n"+c.String()+"\n"); diff != "" {
		t.Fatalf("encoding changed (-want +got):\n%s", diff)
	}
	got, err := ipfs.DecodeEpochRoot(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleRoot(), got, cmp.Comparer(func(a, b cid.Cid) bool { return a.Equals(b) })); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// Length-first key order, as dag-cbor requires.
	keys := []string{"v", "tsa", "prev", "count", "epoch", "height", "origin", "records", "checkpoint", "cosignatures"}
	last := -1
	for _, k := range keys {
		i := bytes.Index(b, append([]byte{0x60 + byte(len(k))}, k...))
		if i <= last {
			t.Fatalf("key %q at %d, not after the previous key at %d", k, i, last)
		}
		last = i
	}
	// The first epoch has no prev key at all.
	first := sampleRoot()
	first.Prev = nil
	_, fb, err := ipfs.EncodeEpochRoot(first)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(fb, []byte("prev")) {
		t.Fatal("first epoch encodes a prev key")
	}
}

func TestDecodeEpochRootRejects(t *testing.T) {
	_, good, err := ipfs.EncodeEpochRoot(sampleRoot())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		data      []byte
		wantField string
	}{
		{"trailing byte", append(bytes.Clone(good), 0x00), ""},
		{"truncated", good[:len(good)-1], ""},
		{"empty", nil, ""},
		{"not a map", []byte{0x80}, ""},
		{"unknown field", replaceKey(good, "epoch", "eqoch"), ""},
		{"missing field (renamed)", replaceKey(good, "cosignatures", "cosignaturex"), ""},
		{"version 1", bytes.Replace(good, []byte{0x61, 'v', 0x02}, []byte{0x61, 'v', 0x01}, 1), "v"},
		{"count off", bytes.Replace(good, []byte("count\x01"), []byte("count\x02"), 1), "records"},
		{"height off", bytes.Replace(good, []byte("height\x00"), []byte("height\x01"), 1), "height"},
		{"negative epoch", bytes.Replace(good, []byte("epoch\x07"), []byte("epoch\x26"), 1), "epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ipfs.DecodeEpochRoot(tt.data)
			var re *ipfs.EpochRootError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *EpochRootError", err)
			}
			if tt.wantField != "" && re.Field != tt.wantField {
				t.Fatalf("field %q (%v), want %q", re.Field, err, tt.wantField)
			}
		})
	}
}

// replaceKey renames a map key of the same length in an encoded block.
func replaceKey(b []byte, from, to string) []byte {
	return bytes.Replace(b, append([]byte{0x60 + byte(len(from))}, from...), append([]byte{0x60 + byte(len(to))}, to...), 1)
}

func TestEpochRootValidate(t *testing.T) {
	dagpb := treaty.LinkTo(cid.NewCidV1(cid.DagProtobuf, treaty.CIDOf([]byte{0xa0}).Hash()))
	raw := treaty.LinkTo(cid.NewCidV1(cid.Raw, treaty.CIDOf([]byte{0xa0}).Hash()))
	tests := []struct {
		name      string
		edit      func(*ipfs.EpochRoot)
		wantField string
	}{
		{"ok", func(*ipfs.EpochRoot) {}, ""},
		{"raw record", func(r *ipfs.EpochRoot) { r.Records = append(r.Records, raw); r.Count++ }, ""},
		{"count without records", func(r *ipfs.EpochRoot) { r.Count = 2 }, "records"},
		{"empty epoch", func(r *ipfs.EpochRoot) { r.Count, r.Records = 0, nil }, ""},
		{"height too low", func(r *ipfs.EpochRoot) { r.Count = ipfs.Fanout + 1 }, "height"},
		{"height too high", func(r *ipfs.EpochRoot) { r.Height = 1 }, "height"},
		{"too many links", func(r *ipfs.EpochRoot) {
			r.Count = ipfs.Fanout + 1
			r.Height = 1
			r.Records = make([]treaty.Link, ipfs.Fanout+1)
			for i := range r.Records {
				r.Records[i] = r.Records[0]
			}
		}, "records"},
		{"raw chunk", func(r *ipfs.EpochRoot) { r.Count, r.Height, r.Records = ipfs.Fanout+1, 1, []treaty.Link{raw, raw} }, "records[0]"},
		{"count over the limit", func(r *ipfs.EpochRoot) { r.Count = ipfs.MaxEpochRecords + 1 }, "count"},
		{"version", func(r *ipfs.EpochRoot) { r.V = 0 }, "v"},
		{"no origin", func(r *ipfs.EpochRoot) { r.Origin = "" }, "origin"},
		{"multi-line origin", func(r *ipfs.EpochRoot) { r.Origin = "a\nb" }, "origin"},
		{"no checkpoint", func(r *ipfs.EpochRoot) { r.Checkpoint = "" }, "checkpoint"},
		{"empty token", func(r *ipfs.EpochRoot) { r.TSA = [][]byte{{}} }, "tsa[0]"},
		{"too many tokens", func(r *ipfs.EpochRoot) { r.TSA = make([][]byte, ipfs.MaxEpochTokens+1) }, "tsa"},
		{"cosignature with newline", func(r *ipfs.EpochRoot) { r.Cosignatures = []string{"— a b\n— c d"} }, "cosignatures[0]"},
		{"dag-pb record", func(r *ipfs.EpochRoot) { r.Records = append(r.Records, dagpb); r.Count++ }, "records[1]"},
		{"raw prev", func(r *ipfs.EpochRoot) { r.Prev = &raw }, "prev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleRoot()
			tt.edit(r)
			err := r.Validate()
			var re *ipfs.EpochRootError
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &re) || re.Field != tt.wantField {
				t.Fatalf("err = %v, want field %q", err, tt.wantField)
			}
		})
	}
}

func TestSplitNote(t *testing.T) {
	origin := "aurora/fed/12D3KooWA"
	note := origin + "\n5\nroot=\n\n— " + origin + " bG9n\n— witness-b Yg==\n— witness-c Yw==\n"
	cp, cos := ipfs.SplitNote(note, origin)
	if want := origin + "\n5\nroot=\n\n— " + origin + " bG9n\n"; cp != want {
		t.Fatalf("checkpoint %q, want %q", cp, want)
	}
	if diff := cmp.Diff([]string{"— witness-b Yg==", "— witness-c Yw=="}, cos); diff != "" {
		t.Fatalf("cosignatures (-want +got):\n%s", diff)
	}
	r := &ipfs.EpochRoot{Checkpoint: cp, Cosignatures: cos}
	if r.Note() != note {
		t.Fatalf("Note() = %q, want the original", r.Note())
	}
	if cp, cos := ipfs.SplitNote("no signatures", origin); cp != "no signatures" || cos != nil {
		t.Fatalf("unsigned text split into %q %q", cp, cos)
	}
}

func TestPinEpochInfo(t *testing.T) {
	n := newNode(t, newHost(t), nil)
	ctx := t.Context()
	origin := "aurora/fed/12D3KooWA"
	info := provenance.EpochInfo{
		Epoch:      1,
		Origin:     origin,
		Start:      0,
		End:        2,
		Checkpoint: []byte(origin + "\n2\nroot=\n\n— " + origin + " bG9n\n— witness-b Yg==\n"),
		Leaves:     sliceLeaves(0, [][]byte{record(t, origin, 1, 0), record(t, origin, 1, 1)}),
	}
	c1, err := n.PinEpochInfo(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	again, err := n.PinEpochInfo(ctx, info)
	if err != nil || again != c1 {
		t.Fatalf("repeat: %s, %v; want %s", again, err, c1)
	}
	info2 := info
	info2.Epoch, info2.Start, info2.End, info2.Prev = 2, 2, 3, c1
	info2.Leaves = sliceLeaves(2, [][]byte{record(t, origin, 2, 0)})
	info2.PrevTokens = [][]byte{[]byte("tok-a"), []byte("tok-b")}
	c2, err := n.PinEpochInfo(ctx, info2)
	if err != nil {
		t.Fatal(err)
	}
	root2, err := cid.Decode(c2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := n.GetEpochRoot(ctx, root2)
	if err != nil {
		t.Fatal(err)
	}
	if r.PrevCID().String() != c1 || len(r.Records) != 1 || len(r.TSA) != 2 || len(r.Cosignatures) != 1 ||
		r.Note() != string(info2.Checkpoint) || r.Records[0].Cid != treaty.CIDOf(record(t, origin, 2, 0)) || r.Count != 1 || r.Height != 0 {
		t.Fatalf("root %+v", r)
	}
	root1, _ := cid.Decode(c1)
	mustPinned(t, n, root1, root2, treaty.CIDOf(record(t, origin, 1, 0)))
	if err := n.Unpin(ctx, root1); !errors.Is(err, ipfs.ErrNotPinned) {
		t.Fatalf("epoch 1 root still pinned recursively: %v", err)
	}
	if strings.Contains(r.Checkpoint, "witness-b") {
		t.Fatal("cosignature left in the checkpoint")
	}
}
