package provenance

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/failstore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/tlog"
)

// TestLogAgainstTestonly appends thousands of leaves in batches of random
// sizes and checks every root, and inclusion and consistency proofs at many
// sizes, against merkle's in-memory reference tree.
func TestLogAgainstTestonly(t *testing.T) {
	ctx := t.Context()
	n := 3000
	if testing.Short() {
		n = 600
	}
	l := openTestLog(t, memStore(), testKey(t, 1), testOrigin)
	ref := testonly.New(hasher)
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []uint64{}
	for int(l.Size()) < n {
		k := 1 + rng.IntN(40)
		batch := make([][]byte, k)
		for i := range batch {
			batch[i] = rawLeaf(int(l.Size()) + i)
		}
		first, err := l.Append(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		if first != ref.Size() {
			t.Fatalf("Append returned first %d, want %d", first, ref.Size())
		}
		ref.AppendData(batch...)
		root := l.Root()
		if !bytes.Equal(root[:], ref.Hash()) {
			t.Fatalf("root at size %d differs from testonly", l.Size())
		}
		sizes = append(sizes, l.Size())
	}
	for _, size := range sizes {
		for _, idx := range []uint64{0, size / 3, size / 2, size - 1} {
			got, err := l.InclusionProof(ctx, idx, size)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.InclusionProof(idx, size)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("inclusion proof (%d, %d) (-testonly +log):\n%s", idx, size, diff)
			}
			var root [32]byte
			copy(root[:], ref.HashAt(size))
			if err := VerifyInclusion(idx, size, LeafHash(rawLeaf(int(idx))), got, root); err != nil {
				t.Fatal(err)
			}
		}
		for _, from := range []uint64{1, size / 2, size - 1, size} {
			got, err := l.ConsistencyProof(ctx, from, size)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.ConsistencyProof(from, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				want = [][]byte{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("consistency proof (%d, %d) (-testonly +log):\n%s", from, size, diff)
			}
		}
		r, err := l.RootAt(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r[:], ref.HashAt(size)) {
			t.Fatalf("RootAt(%d) differs", size)
		}
	}
}

// TestLogAgainstSumdbTlog checks roots and proofs against the Go team's
// independent implementation in golang.org/x/mod/sumdb/tlog.
func TestLogAgainstSumdbTlog(t *testing.T) {
	ctx := t.Context()
	n := int64(2048 + 37)
	l := openTestLog(t, memStore(), testKey(t, 1), testOrigin)
	var stored []tlog.Hash // tlog's stored hashes, in tlog's own layout
	for i := int64(0); i < n; i++ {
		leaf := rawLeaf(int(i))
		if _, err := l.Append(ctx, leaf); err != nil {
			t.Fatal(err)
		}
		hs, err := tlog.StoredHashes(i, leaf, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				out[j] = stored[x]
			}
			return out, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		if tlog.RecordHash(leaf) != tlog.Hash(LeafHash(leaf)) {
			t.Fatal("leaf hash differs from tlog.RecordHash")
		}
	}
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			out[j] = stored[x]
		}
		return out, nil
	})
	for _, size := range []int64{1, 2, 3, 7, 8, 100, 1024, 1025, 2000, n} {
		th, err := tlog.TreeHash(size, hr)
		if err != nil {
			t.Fatal(err)
		}
		root, err := l.RootAt(ctx, uint64(size))
		if err != nil {
			t.Fatal(err)
		}
		if tlog.Hash(root) != th {
			t.Fatalf("root at %d differs from tlog.TreeHash", size)
		}
		for _, idx := range []int64{0, size / 2, size - 1} {
			want, err := tlog.ProveRecord(size, idx, hr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.InclusionProof(ctx, uint64(idx), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(hashesOf(want), got); diff != "" {
				t.Fatalf("inclusion (%d, %d) (-tlog +log):\n%s", idx, size, diff)
			}
		}
		for _, old := range []int64{1, size / 2, size - 1} {
			if old < 1 || old >= size {
				continue
			}
			want, err := tlog.ProveTree(size, old, hr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.ConsistencyProof(ctx, uint64(old), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(hashesOf(want), got); diff != "" {
				t.Fatalf("consistency (%d, %d) (-tlog +log):\n%s", old, size, diff)
			}
			oldHash, _ := tlog.TreeHash(old, hr)
			if err := tlog.CheckTree(toTlog(got), size, th, old, oldHash); err != nil {
				t.Fatalf("tlog.CheckTree rejects our proof (%d, %d): %v", old, size, err)
			}
		}
	}
}

func hashesOf[T ~[]tlog.Hash](p T) [][]byte {
	out := make([][]byte, len(p))
	for i, h := range p {
		out[i] = append([]byte(nil), h[:]...)
	}
	return out
}

func toTlog(p [][]byte) tlog.TreeProof {
	out := make(tlog.TreeProof, len(p))
	for i, h := range p {
		copy(out[i][:], h)
	}
	return out
}

func TestLogReopenAndLeafIndex(t *testing.T) {
	ctx := t.Context()
	ds := memStore()
	key := testKey(t, 1)
	open := func() *Log {
		l, err := OpenLog(ctx, ds, LogConfig{Origin: testOrigin, Key: key, IndexLeafHashes: true})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	if _, err := openTestLog(t, memStore(), key, testOrigin).IndexOf(ctx, [32]byte{}); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("IndexOf without the index: %v", err)
	}
	var leaves [][]byte
	for i := 0; i < 77; i++ {
		leaves = append(leaves, rawLeaf(i))
	}
	if _, err := l.Append(ctx, leaves[:50]...); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, leaves[50:]...); err != nil {
		t.Fatal(err)
	}
	root := l.Root()
	l2 := open()
	if l2.Size() != 77 || l2.Root() != root {
		t.Fatalf("reopened log: size %d root %x, want 77 %x", l2.Size(), l2.Root(), root)
	}
	for _, i := range []uint64{0, 49, 50, 76} {
		got, err := l2.Leaf(ctx, i)
		if err != nil || !bytes.Equal(got, leaves[i]) {
			t.Fatalf("Leaf(%d) = %q, %v", i, got, err)
		}
		idx, err := l2.IndexOf(ctx, LeafHash(leaves[i]))
		if err != nil || idx != i {
			t.Fatalf("IndexOf(leaf %d) = %d, %v", i, idx, err)
		}
	}
	if _, err := l2.IndexOf(ctx, LeafHash([]byte("absent"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("IndexOf(absent) error = %v, want ErrNotFound", err)
	}
	if _, err := l2.Leaf(ctx, 77); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Leaf(77) error = %v, want ErrNotFound", err)
	}
}

func TestLogAppendLimits(t *testing.T) {
	ctx := t.Context()
	l := openTestLog(t, memStore(), testKey(t, 1), testOrigin)
	tests := []struct {
		name   string
		leaves [][]byte
	}{
		{"empty leaf", [][]byte{{}}},
		{"leaf too large", [][]byte{make([]byte, MaxLeafSize+1)}},
		{"too many leaves", make([][]byte, MaxAppendLeaves+1)},
		{"too many bytes", func() [][]byte {
			var b [][]byte
			for i := 0; i < MaxAppendBytes/MaxLeafSize+1; i++ {
				b = append(b, make([]byte, MaxLeafSize))
			}
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Append(ctx, tt.leaves...); err == nil {
				t.Fatal("Append succeeded")
			}
			if l.Size() != 0 {
				t.Fatalf("size %d after a rejected append", l.Size())
			}
		})
	}
}

// TestLogAppendAtomic injects a datastore failure at every write of a batch
// in turn: the batch is either fully in or fully out, in memory and on
// reopen, and the log keeps working.
func TestLogAppendAtomic(t *testing.T) {
	ctx := t.Context()
	for failAt := 0; failAt <= 8; failAt++ {
		t.Run(fmt.Sprintf("fail-at-%d", failAt), func(t *testing.T) {
			base := dssync.MutexWrap(datastore.NewMapDatastore())
			armed, puts := false, 0
			// failAt 0 fails the commit itself; n > 0 fails the n-th write.
			ds := failstore.NewFailstore(base, func(op string) error {
				switch {
				case armed && failAt == 0 && op == "batch-commit":
					return errors.New("injected commit failure")
				case armed && op == "batch-put":
					puts++
					if puts == failAt {
						return errors.New("injected write failure")
					}
				}
				return nil
			})
			l := openTestLog(t, ds, testKey(t, 1), testOrigin)
			if _, err := l.Append(ctx, rawLeaf(0), rawLeaf(1), rawLeaf(2)); err != nil {
				t.Fatal(err)
			}
			before := l.Root()
			armed = true
			_, err := l.Append(ctx, rawLeaf(3), rawLeaf(4), rawLeaf(5))
			armed = false
			if err == nil {
				t.Skip("batch has fewer writes than", failAt)
			}
			if l.Size() != 3 || l.Root() != before {
				t.Fatalf("failed append changed the log: size %d", l.Size())
			}
			re := openTestLog(t, base, testKey(t, 1), testOrigin)
			if re.Size() != 3 || re.Root() != before {
				t.Fatalf("reopened after failed append: size %d", re.Size())
			}
			if _, err := l.Append(ctx, rawLeaf(3)); err != nil {
				t.Fatal(err)
			}
			ref := testonly.New(hasher)
			ref.AppendData(rawLeaf(0), rawLeaf(1), rawLeaf(2), rawLeaf(3))
			if r := l.Root(); !bytes.Equal(r[:], ref.Hash()) {
				t.Fatal("root after recovery differs from testonly")
			}
		})
	}
}

func TestLogCheckpoint(t *testing.T) {
	ctx := t.Context()
	key := testKey(t, 1)
	ds := memStore()
	l := openTestLog(t, ds, key, testOrigin)
	if _, err := l.LatestCheckpoint(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestCheckpoint before any = %v, want ErrNotFound", err)
	}
	if _, err := l.Append(ctx, rawLeaf(0), rawLeaf(1), rawLeaf(2)); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 3 || cp.Root != l.Root() || cp.Origin != testOrigin {
		t.Fatalf("checkpoint %+v", cp)
	}
	v, err := LogVerifier(testOrigin, key.DID())
	if err != nil {
		t.Fatal(err)
	}
	opened, err := OpenCheckpoint(cp.Note, testOrigin, v)
	if err != nil {
		t.Fatal(err)
	}
	if opened.Size != 3 || opened.Root != cp.Root {
		t.Fatal("opened checkpoint differs")
	}
	again, err := l.Checkpoint(ctx)
	if err != nil || !bytes.Equal(again.Note, cp.Note) {
		t.Fatalf("second Checkpoint at the same size = %q, %v; want the stored one", again.Note, err)
	}
	latest, err := openTestLog(t, ds, key, testOrigin).LatestCheckpoint(ctx)
	if err != nil || !bytes.Equal(latest.Note, cp.Note) {
		t.Fatalf("LatestCheckpoint after reopen = %v", err)
	}
}
