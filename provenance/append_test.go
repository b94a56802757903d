package provenance

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestAppendEach: a group commit of any size is split into bounded
// transactions; an oversized leaf is refused alone and the others land in
// order.
func TestAppendEach(t *testing.T) {
	l := openTestLog(t, memStore(), testKey(t, 1), testOrigin)
	big := bytes.Repeat([]byte{'x'}, MaxLeafSize)    // fits alone
	huge := bytes.Repeat([]byte{'y'}, MaxLeafSize+1) // fits nowhere
	var leaves [][]byte
	for i := range MaxAppendLeaves + 100 {
		switch {
		case i == 7:
			leaves = append(leaves, huge)
		case i == 8:
			leaves = append(leaves, nil)
		case i%200 == 0:
			leaves = append(leaves, big) // pushes batches over MaxAppendBytes
		default:
			leaves = append(leaves, rawLeaf(i))
		}
	}
	res, err := l.AppendEach(t.Context(), leaves)
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	for p, r := range res {
		var lse *LeafSizeError
		switch p {
		case 7, 8:
			if !errors.As(r.Err, &lse) || lse.Position != p {
				t.Fatalf("leaf %d: %v, want its own *LeafSizeError", p, r.Err)
			}
			continue
		}
		if r.Err != nil || r.Index != want {
			t.Fatalf("leaf %d: index %d, %v; want index %d", p, r.Index, r.Err, want)
		}
		got, err := l.Leaf(t.Context(), r.Index)
		if err != nil || !bytes.Equal(got, leaves[p]) {
			t.Fatalf("leaf %d at %d differs: %v", p, r.Index, err)
		}
		want++
	}
	if l.Size() != want {
		t.Fatalf("log size %d, want %d", l.Size(), want)
	}
	// Plain Append still refuses a batch over the limits, and names an
	// oversized leaf.
	if _, err := l.Append(t.Context(), big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("Append over MaxAppendBytes: %v", err)
	}
	var lse *LeafSizeError
	if _, err := l.Append(t.Context(), rawLeaf(1), huge); !errors.As(err, &lse) || lse.Position != 1 {
		t.Fatalf("Append with a huge leaf: %v", err)
	}
}

// TestReadLeaves streams a range in order, short and long (read ahead),
// and stops at fn's error.
func TestReadLeaves(t *testing.T) {
	l := openTestLog(t, memStore(), testKey(t, 1), testOrigin)
	for i := 0; i < 3000; i += 1000 {
		batch := make([][]byte, 1000)
		for k := range batch {
			batch[k] = rawLeaf(i + k)
		}
		if _, err := l.Append(t.Context(), batch...); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range [][2]uint64{{0, 0}, {5, 10}, {0, 3000}, {1, 2999}, {2999, 3000}} {
		t.Run(fmt.Sprint(r), func(t *testing.T) {
			next := r[0]
			err := l.ReadLeaves(t.Context(), r[0], r[1], func(i uint64, lf []byte) error {
				if i != next || !bytes.Equal(lf, rawLeaf(int(i))) {
					return fmt.Errorf("leaf %d, want %d", i, next)
				}
				next++
				return nil
			})
			if err != nil || next != r[1] {
				t.Fatalf("read to %d: %v", next, err)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	if err := l.ReadLeaves(t.Context(), 0, 3000, func(uint64, []byte) error {
		n++
		if n == 700 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || n != 700 {
		t.Fatalf("stopped after %d: %v", n, err)
	}
	if err := l.ReadLeaves(t.Context(), 0, 3001, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("beyond the log: %v", err)
	}
}
