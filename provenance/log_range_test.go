package provenance

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/node/store"
	"github.com/ipfs/go-datastore"
)

// TestReadLeavesRange: ReadLeaves returns the same leaves in the same order
// whether the datastore reads key ranges (badger through node/store) or
// only single keys, on both its paths (one batch, and read-ahead batches),
// and a leaf missing below the log's size is an error naming it either way.
func TestReadLeavesRange(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(store.Config{Dir: t.TempDir(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name string
		ds   datastore.Batching
	}{{"badger", db.Namespace("provenance")}, {"map", memStore()}} {
		t.Run(tc.name, func(t *testing.T) {
			_, isRange := tc.ds.(RangeReader)
			if isRange != (tc.name == "badger") {
				t.Fatalf("RangeReader: %v", isRange)
			}
			l := openTestLog(t, tc.ds, testKey(t, 1), testOrigin)
			const size = 1000
			leaves := make([][]byte, size)
			for i := range leaves {
				leaves[i] = bytes.Repeat([]byte{byte(i)}, 1+i%37)
			}
			if _, err := l.Append(ctx, leaves...); err != nil {
				t.Fatal(err)
			}
			for _, r := range [][2]uint64{{0, size}, {3, 700}, {10, 266}, {999, 1000}, {5, 5}} {
				next := r[0]
				err := l.ReadLeaves(ctx, r[0], r[1], func(i uint64, lf []byte) error {
					if i != next || !bytes.Equal(lf, leaves[i]) {
						return fmt.Errorf("leaf %d (want %d): %x", i, next, lf)
					}
					next++
					return nil
				})
				if err != nil || next != r[1] {
					t.Fatalf("ReadLeaves(%d, %d): %v, stopped at %d", r[0], r[1], err, next)
				}
			}
			if err := tc.ds.Delete(ctx, leafKey(500)); err != nil {
				t.Fatal(err)
			}
			for _, r := range [][2]uint64{{0, size}, {450, 600}} {
				err := l.ReadLeaves(ctx, r[0], r[1], func(uint64, []byte) error { return nil })
				if err == nil || !strings.Contains(err.Error(), "leaf 500 missing") {
					t.Fatalf("ReadLeaves(%d, %d) over a missing leaf: %v", r[0], r[1], err)
				}
			}
			if err := tc.ds.Delete(ctx, leafKey(size-1)); err != nil {
				t.Fatal(err)
			}
			if err := l.ReadLeaves(ctx, 990, size, func(uint64, []byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "leaf 999 missing") {
				t.Fatalf("the last leaf missing: %v", err)
			}
		})
	}
}
