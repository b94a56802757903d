package credit

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/aurora-federation/aurora/treaty"
)

// TestItemsRoot: the root matches golang.org/x/mod/sumdb/tlog's RFC 6962
// tree hash (an implementation independent of the one ItemsRoot uses)
// over the same leaves for every size up to 40 (odd and power-of-two
// trees), and changes when any field of any item does.
func TestItemsRoot(t *testing.T) {
	var items []Item
	var hashes []tlog.Hash // the tree's stored hashes, as tlog keeps them
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for n := 0; n <= 40; n++ {
		if n > 0 {
			it := Item{Job: fmt.Sprintf("job-%03d", n), Leaf: int64(n * 3), Price: 1_000_000, Billed: int64(n), Amount: int64(278 * n)}
			items = append(items, it)
			b, err := treaty.Encode(&treaty.SettlementItem{Job: it.Job, Leaf: it.Leaf, Price: it.Price, Billed: it.Billed, Amount: it.Amount})
			if err != nil {
				t.Fatal(err)
			}
			more, err := tlog.StoredHashes(int64(n-1), b, reader)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, more...)
		}
		got, err := ItemsRoot(items)
		if err != nil {
			t.Fatal(err)
		}
		want := rfc6962.DefaultHasher.EmptyRoot()
		if n > 0 {
			th, err := tlog.TreeHash(int64(n), reader)
			if err != nil {
				t.Fatal(err)
			}
			want = th[:]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d items: root %x, tlog's %x", n, got, want)
		}
	}
	base, _ := ItemsRoot(items)
	for i, edit := range []func(*Item){
		func(x *Item) { x.Job += "x" }, func(x *Item) { x.Leaf++ }, func(x *Item) { x.Price++ }, func(x *Item) { x.Billed++ }, func(x *Item) { x.Amount++ },
	} {
		changed := append([]Item(nil), items...)
		edit(&changed[17])
		if got, _ := ItemsRoot(changed); bytes.Equal(got, base) {
			t.Fatalf("edit %d left the root unchanged", i)
		}
	}
	if _, err := ItemsRoot([]Item{{Job: "", Amount: 1}}); err == nil {
		t.Fatal("an item without a job was hashed")
	}
}

func TestStatement(t *testing.T) {
	tl := treaty.LinkTo(treaty.CIDOf([]byte("treaty")))
	lane := Lane{Treaty: tl.String(), Debtor: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", Creditor: "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"}
	l, err := NewLedger(86400)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Add(Job{ID: fmt.Sprintf("j%d", i), Lane: lane, Leaf: int64(10 + i), Price: 3_600_000, Duration: 3600, Started: 1_765_000_000, Ended: 1_765_000_100 + int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	a := l.Account(lane, 1_765_000_000)
	log := treaty.LogSpan{Origin: "aurora/testnet/12D3KooWCreditor", Size: 20, Root: bytes.Repeat([]byte{1}, 32)}
	s, err := Statement(a, tl, log, 1_765_100_000)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := ItemsRoot(a.Items)
	if s.Jobs != 3 || s.Total != a.Total || s.Start != 1_764_979_200 || s.End != 1_764_979_200+86400 || !bytes.Equal(s.ItemsRoot, root) || s.Debtor != lane.Debtor || s.Creditor != lane.Creditor {
		t.Fatalf("statement %+v of account %+v", s, a)
	}
	if _, err := Statement(a, treaty.LinkTo(treaty.CIDOf([]byte("other"))), log, 1_765_100_000); err == nil {
		t.Fatal("a statement for another treaty was built")
	}
}
