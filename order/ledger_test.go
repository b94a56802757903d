package order

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

func TestLimitsMatchTheLog(t *testing.T) {
	if MaxLeafBytes > provenance.MaxLeafSize || MaxCommitLeafBytes > provenance.MaxAppendBytes || MaxCommitLeaves > provenance.MaxAppendLeaves {
		t.Fatalf("ledger limits (%d, %d, %d) exceed the log's (%d, %d, %d)", MaxLeafBytes, MaxCommitLeafBytes, MaxCommitLeaves,
			provenance.MaxLeafSize, provenance.MaxAppendBytes, provenance.MaxAppendLeaves)
	}
}

// TestGroupCommitBounds: through the real provenance log, a burst of large
// and small leaves commits in batches the log accepts; a leaf over the
// limit is refused alone with its own error; a leaf at the limit commits.
func TestGroupCommitBounds(t *testing.T) {
	ctx := t.Context()
	k, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	log, err := provenance.OpenLog(ctx, dssync.MutexWrap(datastore.NewMapDatastore()), provenance.LogConfig{Origin: "aurora/test/x", Key: k})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLedger(LedgerConfig{Store: NewMemStore(nil), Log: log, Group: true})
	defer l.Close()

	job := func(i int) *Job {
		ln := treaty.LinkTo(treaty.CIDOf([]byte{byte(i), byte(i >> 8)}))
		return &Job{Record: treaty.JobRecord{Job: ln.String(), Order: ln, Ack: ln}, Order: []byte{1}, Ack: []byte{2}}
	}
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		size := 100
		switch {
		case i%10 == 0:
			size = MaxLeafBytes // at the limit
		case i%10 == 5:
			size = MaxLeafBytes + 1 // beyond it
		case i%3 == 0:
			size = 40 << 10
		}
		wg.Go(func() { errs[i] = l.commit(ctx, &write{job: job(i), leaf: bytes.Repeat([]byte{'x'}, size)}) })
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i%10 == 5 && !errors.Is(err, ErrLeafTooLarge):
			t.Errorf("write %d (over the limit): %v, want ErrLeafTooLarge", i, err)
		case i%10 != 5 && err != nil:
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got, want := log.Size(), uint64(180); got != want {
		t.Errorf("log size %d, want %d", got, want)
	}
}
