package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/provenance"
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
			errs[i] = c(t.Context(), j, nil)
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

// atomicLedger opens a badger at its smallest memtable with a provenance
// log and a ledger that commits both in one transaction, as the node does.
func atomicLedger(t *testing.T) (*store.DB, *provenance.Log, *order.Ledger) {
	t.Helper()
	db, err := store.Open(store.Config{Dir: t.TempDir(), MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := treaty.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	plog, err := provenance.OpenLog(t.Context(), db.Namespace("log"), provenance.LogConfig{Origin: "aurora/test/atomic", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ns := db.Namespace("ledger")
	l := order.NewLedger(order.LedgerConfig{Store: ledgerStore{ns}, Log: plog, Atomic: ledgerLog{log: plog, ledger: ns}, Group: true})
	t.Cleanup(l.Close)
	return db, plog, l
}

func testJob(i int, orderBytes int) *order.Job {
	ln := treaty.LinkTo(treaty.CIDOf(fmt.Appendf(nil, "job %d", i)))
	return &order.Job{Record: treaty.JobRecord{Job: ln.String(), Order: ln, Ack: ln}, Order: bytes.Repeat([]byte{1}, orderBytes), Ack: []byte{2}}
}

// TestAtomicLedgerBurstFitsBadger: the largest leaves and orders the core
// writes, committed with their leaves in one transaction per batch, fit
// badger's transaction at its smallest memtable: every job is stored with
// its leaf index, and the log holds exactly one leaf per job.
func TestAtomicLedgerBurstFitsBadger(t *testing.T) {
	_, plog, l := atomicLedger(t)
	c := order.NewTestCommitter(l)
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	jobs := make([]*order.Job, n)
	for i := range errs {
		jobs[i] = testJob(i, 60<<10)
		wg.Go(func() { errs[i] = c(t.Context(), jobs[i], bytes.Repeat([]byte{byte(i)}, order.MaxLeafBytes)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if got := plog.Size(); got != n {
		t.Fatalf("log size %d, want %d", got, n)
	}
	seen := map[uint64]bool{}
	for i, j := range jobs {
		stored, err := l.Job(t.Context(), j.Record.Job)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.Leaves) != 1 || seen[stored.Leaves[0]] {
			t.Fatalf("job %d: leaves %v", i, stored.Leaves)
		}
		seen[stored.Leaves[0]] = true
		leaf, err := plog.Leaf(t.Context(), stored.Leaves[0])
		if err != nil || !bytes.Equal(leaf, bytes.Repeat([]byte{byte(i)}, order.MaxLeafBytes)) {
			t.Fatalf("job %d: leaf %d is not its own (%v)", i, stored.Leaves[0], err)
		}
	}
}

// TestAtomicLedgerAllOrNothing: when the ledger's part of a commit fails,
// the leaf is not appended either — the log's size, root and stored
// leaves are as before — and the job keeps no index of it; the next
// commit of the same job appends one leaf and stores it.
func TestAtomicLedgerAllOrNothing(t *testing.T) {
	db, plog, _ := atomicLedger(t)
	ns := db.Namespace("ledger")
	ll := ledgerLog{log: plog, ledger: ns}
	if _, err := plog.Append(t.Context(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	size, root := plog.Size(), plog.Root()
	// A key longer than badger takes (65,000 bytes) fails the ledger's
	// part inside the shared transaction.
	_, err := ll.AppendApply(t.Context(), [][]byte{[]byte("orphan")}, func(uint64) []order.Op {
		return []order.Op{{Key: "/jobs/x", Value: []byte("job")}, {Key: badKey(), Value: []byte("x")}}
	})
	if err == nil {
		t.Fatal("a commit with a refused ledger write succeeded")
	}
	if plog.Size() != size || plog.Root() != root {
		t.Fatalf("log moved to size %d after a failed commit (was %d)", plog.Size(), size)
	}
	if _, err := plog.Leaf(t.Context(), size); err == nil {
		t.Fatal("the failed commit's leaf is stored")
	}
	if _, err := (ledgerStore{ns}).Get(t.Context(), "/jobs/x"); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("the failed commit's job entry: %v, want not found", err)
	}

	// Through the ledger: a job whose commit failed keeps no leaf index.
	l := order.NewLedger(order.LedgerConfig{Store: ledgerStore{ns}, Log: plog, Atomic: &failOnce{ledgerLog: ll}, Group: true})
	defer l.Close()
	c := order.NewTestCommitter(l)
	j := testJob(1, 100)
	if err := c(t.Context(), j, []byte("leaf")); err == nil {
		t.Fatal("the failing commit succeeded")
	}
	if len(j.Leaves) != 0 || plog.Size() != size {
		t.Fatalf("after a failed commit: job leaves %v, log size %d (was %d)", j.Leaves, plog.Size(), size)
	}
	if err := c(t.Context(), j, []byte("leaf")); err != nil {
		t.Fatal(err)
	}
	stored, err := l.Job(t.Context(), j.Record.Job)
	if err != nil || len(stored.Leaves) != 1 || stored.Leaves[0] != size || plog.Size() != size+1 {
		t.Fatalf("retried commit: %+v %v, log size %d", stored, err, plog.Size())
	}
}

// badKey is a key badger refuses.
func badKey() string { return "/" + strings.Repeat("k", 70000) }

// failOnce fails its first commit after the ledger built its ops.
type failOnce struct {
	ledgerLog
	mu     sync.Mutex
	failed bool
}

func (f *failOnce) AppendApply(ctx context.Context, leaves [][]byte, ops func(uint64) []order.Op) (uint64, error) {
	f.mu.Lock()
	fail := !f.failed
	f.failed = true
	f.mu.Unlock()
	if fail {
		return f.ledgerLog.AppendApply(ctx, leaves, func(first uint64) []order.Op {
			return append(ops(first), order.Op{Key: badKey(), Value: []byte("x")})
		})
	}
	return f.ledgerLog.AppendApply(ctx, leaves, ops)
}
