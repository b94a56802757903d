package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/treaty"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixedNow is the clock every test uses unless it needs time to move.
var fixedNow = time.Unix(1_780_000_000, 0).UTC()

// fakeClock is a settable Clock.
type fakeClock struct {
	mu sync.Mutex // protects t
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: fixedNow} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKey derives a deterministic key from a one-byte label.
func testKey(t testing.TB, label byte) *treaty.PrivateKey {
	t.Helper()
	k, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{label}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func memStore() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }

const testOrigin = "aurora/testfed/12D3KooWTestNodeA"

func openTestLog(t testing.TB, ds datastore.Batching, key *treaty.PrivateKey, origin string) *Log {
	t.Helper()
	l, err := OpenLog(context.Background(), ds, LogConfig{Origin: origin, Key: key})
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	return l
}

// testCID returns a deterministic dag-cbor CID for label.
func testCID(label string) treaty.Link {
	return treaty.LinkTo(treaty.CIDOf([]byte(label)))
}

// jobLeaf returns the leaf bytes of a valid job record numbered i.
func jobLeaf(t testing.TB, i int) []byte {
	t.Helper()
	op := testKey(t, 1).DID()
	client := testKey(t, 2).DID()
	rec := &treaty.JobRecord{
		V:        treaty.Version,
		Job:      fmt.Sprintf("job-%06d", i),
		Order:    testCID(fmt.Sprintf("order-%d", i)),
		Ack:      testCID(fmt.Sprintf("ack-%d", i)),
		Operator: op,
		Client:   client,
		Route:    treaty.Route{Kind: treaty.RouteProvider, Name: "sim"},
		Price:    1_200_000,
		Lease:    fmt.Sprintf("lease-%d", i),
		Transitions: []treaty.Transition{
			{Status: treaty.StatusAccepted, At: fixedNow.Unix()},
			{Status: treaty.StatusRunning, At: fixedNow.Unix() + 3, Detail: "lease up"},
		},
	}
	b, err := treaty.Encode(&treaty.LogEntry{Job: rec})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawLeaf returns an opaque leaf (not a LogEntry) for Merkle-only tests.
func rawLeaf(i int) []byte {
	s := sha256.Sum256([]byte(fmt.Sprintf("leaf %d", i)))
	return append([]byte(fmt.Sprintf("leaf-%d-", i)), s[:8]...)
}

// waitFor polls cond until it holds or a generous deadline passes; the
// deadline only bounds a hung test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type (
	datastoreBatching = datastore.Batching
	dsKey             = datastore.Key
)

// counterValue reads a counter or the sample count of a histogram.
func counterValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return m.GetCounter().GetValue()
}

type noteVerifier = note.Verifier

// mustKey is testKey for code without a testing.TB.
func mustKey(label byte) *treaty.PrivateKey {
	k, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{label}, 32))
	if err != nil {
		panic(err)
	}
	return k
}
