package ipfs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/aurora-federation/aurora/provenance/ipfs"
)

const recordsPerEpoch = 20

// chain writes and pins epochs 1..k (each with recordsPerEpoch records) and
// returns the head.
func chain(tb testing.TB, n *ipfs.Node, k int) cid.Cid {
	tb.Helper()
	var prev cid.Cid
	for e := 1; e <= k; e++ {
		root, _ := writeEpoch(tb, n, "aurora/bench/A", e, recordsPerEpoch, prev)
		if err := n.PinEpoch(context.Background(), root, prev); err != nil {
			tb.Fatal(err)
		}
		prev = root
	}
	return prev
}

// TestPinEpochWorkIsConstant is the regression test for PinEpoch's cost:
// the blocks it reads must not grow with the history (notes §4.4: pinning
// the head, or pinner.Update, re-walks every earlier epoch).
func TestPinEpochWorkIsConstant(t *testing.T) {
	cds := &countingDatastore{Batching: dssync.MutexWrap(datastore.NewMapDatastore())}
	n := newNodeOn(t, newHost(t), cds, nil)
	ctx := t.Context()
	readsAt := map[int]int64{}
	var prev cid.Cid
	for e := 1; e <= 120; e++ {
		root, _ := writeEpoch(t, n, "o", e, recordsPerEpoch, prev)
		before := cds.blockReads.Load()
		if err := n.PinEpoch(ctx, root, prev); err != nil {
			t.Fatal(err)
		}
		readsAt[e] = cds.blockReads.Load() - before
		prev = root
	}
	if readsAt[10] != readsAt[120] || readsAt[120] > 3*(recordsPerEpoch+1) {
		t.Fatalf("block reads per PinEpoch: %d at epoch 10, %d at epoch 120; want equal and O(records per epoch)", readsAt[10], readsAt[120])
	}
	// The full walk, by contrast, reads the whole chain.
	before := cds.blockReads.Load()
	if err := n.PinRecursive(ctx, prev); err != nil {
		t.Fatal(err)
	}
	if full := cds.blockReads.Load() - before; full < 120*(recordsPerEpoch+1) {
		t.Fatalf("full walk read %d blocks, want at least %d", full, 120*(recordsPerEpoch+1))
	}
}

// BenchmarkPinEpoch measures PinEpoch of the epoch after a history of 10 and
// of 1000 epochs (20 records each). Every iteration pins the same next
// epoch over the same history; the previous pin state is restored outside
// the timer. ds=sorted is an in-memory store with prefix iteration like
// badger; ds=map is go-datastore's MapDatastore, whose prefix queries (used
// by the pin index) scan every key, so its figures also grow with the
// number of stored blocks.
func BenchmarkPinEpoch(b *testing.B) {
	for _, store := range []string{"sorted", "map"} {
		for _, history := range []int{10, 1000} {
			b.Run(fmt.Sprintf("ds=%s/epoch=%d", store, history), func(b *testing.B) {
				var ds datastore.Batching = newSortedDatastore()
				if store == "map" {
					ds = dssync.MutexWrap(datastore.NewMapDatastore())
				}
				n := newNodeOn(b, newHost(b), ds, nil)
				ctx := context.Background()
				prev := chain(b, n, history)
				root, _ := writeEpoch(b, n, "aurora/bench/A", history+1, recordsPerEpoch, prev)
				b.ReportAllocs()
				for b.Loop() {
					if err := n.PinEpoch(ctx, root, prev); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := ipfs.PinWithoutWalk(ctx, n, prev); err != nil {
						b.Fatal(err)
					}
					if err := n.Unpin(ctx, root); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/epoch")
			})
		}
	}
}

// BenchmarkPinHeadFullWalk is the alternative PinEpoch avoids: pinning the
// head with a walk of the whole chain (what a fresh recursive pin does).
func BenchmarkPinHeadFullWalk(b *testing.B) {
	for _, history := range []int{10, 1000} {
		b.Run(fmt.Sprintf("ds=sorted/epoch=%d", history), func(b *testing.B) {
			n := newNodeOn(b, newHost(b), newSortedDatastore(), nil)
			ctx := context.Background()
			head := chain(b, n, history)
			b.ReportAllocs()
			for b.Loop() {
				if err := n.PinRecursive(ctx, head); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/epoch")
		})
	}
}
