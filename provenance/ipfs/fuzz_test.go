package ipfs_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/treaty"
)

func goldenRoot(f *testing.F) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "epochroot.hex"))
	if err != nil {
		f.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		f.Fatal(err)
	}
	return raw
}

// FuzzDecodeEpochRoot: roots come from peers. Whatever decodes must be
// valid, canonical and re-encode to the same bytes and CID.
func FuzzDecodeEpochRoot(f *testing.F) {
	f.Add(goldenRoot(f))
	first := sampleRoot()
	first.Prev = nil
	_, b, err := ipfs.EncodeEpochRoot(first)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ipfs.DecodeEpochRoot(data)
		if err != nil {
			var re *ipfs.EpochRootError
			if !errors.As(err, &re) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		c, again, err := ipfs.EncodeEpochRoot(r)
		if err != nil || !bytes.Equal(again, data) || c != treaty.CIDOf(data) {
			t.Fatalf("decoded root does not re-encode to its input: %v", err)
		}
	})
}

// FuzzPut: blocks offered for storage are checked (strict, canonical
// dag-cbor; acceptable links) before they are stored; whatever is stored
// reads back unchanged.
func FuzzPut(f *testing.F) {
	f.Add(goldenRoot(f))
	f.Add([]byte{0xa1, 0x61, 'a', 0x01})
	f.Add([]byte{0xa2, 0x61, 'b', 0x01, 0x61, 'a', 0x02})
	f.Add([]byte{0xd8, 0x2a, 0x41, 0x00})
	n := newNode(f, newHost(f), nil)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := n.Put(ctx, data, cid.DagCBOR)
		if err != nil {
			var be *ipfs.BlockError
			if !errors.As(err, &be) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		got, err := n.Get(ctx, c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("stored block reads back %x, %v", got, err)
		}
	})
}
