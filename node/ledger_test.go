package node

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/treaty"
)

// TestLedgerBurstFitsBadger: a burst of jobs with the largest records the
// core writes (64 KiB orders) goes through the group commit into badger
// at its smallest memtable, in batches each transaction holds.
func TestLedgerBurstFitsBadger(t *testing.T) {
	db, err := store.Open(store.Config{Dir: t.TempDir(), MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := order.NewLedger(order.LedgerConfig{Store: ledgerStore{db.Namespace("ledger")}, Group: true})
	defer l.Close()
	c := order.NewTestCommitter(l)
	var wg sync.WaitGroup
	errs := make([]error, 300)
	for i := range errs {
		wg.Go(func() {
			ln := treaty.LinkTo(treaty.CIDOf(fmt.Appendf(nil, "job %d", i)))
			j := &order.Job{Record: treaty.JobRecord{Job: ln.String(), Order: ln, Ack: ln}, Order: bytes.Repeat([]byte{1}, 60<<10), Ack: []byte{2}}
			errs[i] = c(t.Context(), j)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	n := 0
	if err := l.List(t.Context(), 0, 0, func(*order.Job) bool { n++; return true }); err != nil || n != 300 {
		t.Fatalf("%d jobs listed (%v), want 300", n, err)
	}
}
