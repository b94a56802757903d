package ipfs

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/treaty"
)

// TestTreeRoundTrip builds records trees with a small fan-out (so that
// heights above 1 occur) and walks them back: records come back in order,
// every list respects the fan-out, and record i sits at the path of i's
// base-F digits, as docs/PROVENANCE.md says.
func TestTreeRoundTrip(t *testing.T) {
	const fanout = 3
	for _, n := range []uint64{0, 1, 2, 3, 4, 8, 9, 10, 26, 27, 28, 81, 82, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			blocks := map[cid.Cid][]byte{}
			put := func(b []byte) (cid.Cid, error) {
				c := treaty.CIDOf(b)
				blocks[c] = append([]byte(nil), b...)
				return c, nil
			}
			records := make([]cid.Cid, n)
			tb := newTreeBuilder(fanout, n, put)
			for i := range n {
				records[i] = treaty.CIDOf(binary.BigEndian.AppendUint64([]byte{0x1b}, i)) // CBOR uint64
				if err := tb.add(records[i]); err != nil {
					t.Fatal(err)
				}
			}
			top, h, err := tb.finish()
			if err != nil {
				t.Fatal(err)
			}
			if h != treeHeight(fanout, n) || len(top) > fanout || uint64(len(top)) != ceilDiv(n, span(fanout, h)) {
				t.Fatalf("height %d, %d top links", h, len(top))
			}
			var got []cid.Cid
			w := &treeWalker{fanout: fanout, group: 2,
				get: func(_ context.Context, cs []cid.Cid) (map[cid.Cid][]byte, error) {
					out := map[cid.Cid][]byte{}
					for _, c := range cs {
						b, ok := blocks[c]
						if !ok {
							return nil, fmt.Errorf("block %s missing", c)
						}
						out[c] = b
					}
					return out, nil
				},
				records: func(_ context.Context, cs []cid.Cid) error {
					if len(cs) > 2*fanout {
						return fmt.Errorf("batch of %d records", len(cs))
					}
					got = append(got, cs...)
					return nil
				}}
			if err := w.walk(t.Context(), top, h, n); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(records) {
				t.Fatalf("walked %d records, want %d", len(got), n)
			}
			for i := range got {
				if got[i] != records[i] {
					t.Fatalf("record %d out of order", i)
				}
			}
			// Path resolution: digits of i in base F, most significant first.
			for i := range n {
				list := top
				for k := h; k >= 0; k-- {
					d := (i / span(fanout, k)) % fanout
					if k == h {
						d = i / span(fanout, k)
					}
					c := list[d]
					if k == 0 {
						if c != records[i] {
							t.Fatalf("path of record %d leads elsewhere", i)
						}
						break
					}
					if list, err = decodeChunk(c, blocks[c], fanout); err != nil {
						t.Fatal(err)
					}
				}
			}
			// A walk expecting one more record fails on the shape.
			w.records = func(context.Context, []cid.Cid) error { return nil }
			if err := w.walk(t.Context(), top, h, n+1); err == nil {
				t.Fatal("walk with a wrong count succeeded")
			}
		})
	}
}

func TestDecodeChunkRejects(t *testing.T) {
	good, err := encodeChunk([]cid.Cid{treaty.CIDOf([]byte{0xa0})})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"empty list", []byte{0x80}},
		{"map", []byte{0xa0}},
		{"not a link", []byte{0x81, 0x01}},
		{"too many", func() []byte {
			cs := make([]cid.Cid, 4)
			for i := range cs {
				cs[i] = treaty.CIDOf([]byte{0xa0})
			}
			b, _ := encodeChunk(cs)
			return b
		}()},
		{"trailing", append(append([]byte(nil), good...), 0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeChunk(treaty.CIDOf(tt.data), tt.data, 3); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if cs, err := decodeChunk(treaty.CIDOf(good), good, 3); err != nil || len(cs) != 1 {
		t.Fatalf("good chunk: %v %v", cs, err)
	}
}

// FuzzScanCanonical: whatever the fast scan accepts, go-ipld-prime accepts
// as canonical dag-cbor with the same links.
func FuzzScanCanonical(f *testing.F) {
	for _, b := range [][]byte{
		{0xa0}, {0x80}, {0xf6}, {0x18, 0x18}, {0x61, 'a'},
		{0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x02},
		{0xa2, 0x61, 'b', 0x01, 0x61, 'a', 0x02}, // unsorted
		{0xa2, 0x61, 'a', 0x01, 0x62, 'a', 'a', 0xf5},
		{0xfb, 0, 0, 0, 0, 0, 0, 0, 0},
		{0x19, 0x00, 0x01}, // not shortest
	} {
		f.Add(b)
	}
	chunk, _ := encodeChunk([]cid.Cid{treaty.CIDOf([]byte{0xa0}), treaty.CIDOf([]byte{0x80})})
	f.Add(chunk)
	rec, _ := treaty.Encode(&treaty.LogEntry{Anchor: &treaty.Anchor{V: 1, Origin: "o", Checkpoint: "c"}})
	f.Add(rec)
	f.Fuzz(func(t *testing.T, data []byte) {
		links, ok := scanCanonical(data, nil)
		if !ok {
			return
		}
		want, err := blockLinks(treaty.CIDOf(data), data, true)
		if err != nil {
			t.Fatalf("scan accepted %x, go-ipld-prime: %v", data, err)
		}
		if len(want) != len(links) {
			t.Fatalf("links %v, go-ipld-prime %v", links, want)
		}
		for i := range want {
			if want[i] != links[i] {
				t.Fatalf("link %d: %s, go-ipld-prime %s", i, links[i], want[i])
			}
		}
	})
}
