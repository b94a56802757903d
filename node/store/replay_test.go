package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newGuard(t testing.TB, db *DB, skew time.Duration) *ReplayGuard {
	t.Helper()
	g, err := NewReplayGuard(db, ReplayGuardConfig{Skew: skew})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestReplayGuard(t *testing.T) {
	g := newGuard(t, openDB(t, Config{}), time.Minute)
	exp := t0.Add(10 * time.Minute)
	steps := []struct {
		name    string
		client  string
		nonce   []byte
		expires time.Time
		now     time.Time
		wantErr error  // sentinel, or nil
		wantMsg string // for errors without a sentinel
	}{
		{name: "first use", client: "did:key:alice", nonce: []byte{1, 2, 3}, expires: exp, now: t0},
		{name: "replay", client: "did:key:alice", nonce: []byte{1, 2, 3}, expires: exp, now: t0.Add(time.Second), wantErr: ErrReplay},
		{name: "replay with a later expiry", client: "did:key:alice", nonce: []byte{1, 2, 3}, expires: exp.Add(time.Hour), now: t0.Add(2 * time.Second), wantErr: ErrReplay},
		{name: "same nonce other client", client: "did:key:bob", nonce: []byte{1, 2, 3}, expires: exp, now: t0},
		{name: "other nonce", client: "did:key:alice", nonce: []byte{1, 2, 4}, expires: exp, now: t0},
		{name: "client with slash", client: "did:web:a/b", nonce: []byte{1}, expires: exp, now: t0},
		{name: "distinct from the slash client", client: "did:web:a", nonce: []byte("/b\x01"), expires: exp, now: t0},
		{name: "replay within skew after expiry", client: "did:key:alice", nonce: []byte{1, 2, 3}, expires: exp, now: exp.Add(59 * time.Second), wantErr: ErrReplay},
		{name: "window already over", client: "did:key:carol", nonce: []byte{9}, expires: t0, now: t0.Add(time.Minute), wantErr: ErrNonceExpired},
		{name: "empty nonce", client: "did:key:alice", nonce: nil, expires: exp, now: t0, wantMsg: "nonce length 0"},
		{name: "long nonce", client: "did:key:alice", nonce: make([]byte, MaxReplayNonceLen+1), expires: exp, now: t0, wantMsg: "nonce length 129"},
		{name: "empty client", client: "", nonce: []byte{1}, expires: exp, now: t0, wantMsg: "client length 0"},
	}
	for _, st := range steps {
		err := g.CheckAndInsert(st.client, st.nonce, st.expires, st.now)
		switch {
		case st.wantErr != nil:
			if !errors.Is(err, st.wantErr) {
				t.Errorf("%s: err = %v, want %v", st.name, err, st.wantErr)
			}
		case st.wantMsg != "":
			if err == nil || !contains(err.Error(), st.wantMsg) {
				t.Errorf("%s: err = %v, want one containing %q", st.name, err, st.wantMsg)
			}
		case err != nil:
			t.Errorf("%s: err = %v, want nil", st.name, err)
		}
	}
	if _, err := NewReplayGuard(openDB(t, Config{InMemory: true}), ReplayGuardConfig{Skew: -1}); err == nil {
		t.Error("NewReplayGuard accepted a negative skew")
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

func TestReplayGuardConcurrentSubmitters(t *testing.T) {
	g := newGuard(t, openDB(t, Config{}), 0)
	const submitters, nonces = 8, 200
	var wins [nonces]atomic.Int32
	var unexpected atomic.Value
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range nonces {
				// Submitters walk the nonces from different offsets so
				// that each nonce sees real contention some of the time
				// and every goroutine tries every nonce.
				n := (i + w*nonces/submitters) % nonces
				var nonce [8]byte
				binary.BigEndian.PutUint64(nonce[:], uint64(n))
				switch err := g.CheckAndInsert("did:key:client", nonce[:], t0.Add(time.Hour), t0); {
				case err == nil:
					wins[n].Add(1)
				case errors.Is(err, ErrReplay):
				default:
					unexpected.Store(err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if err := unexpected.Load(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	for n := range wins {
		if got := wins[n].Load(); got != 1 {
			t.Errorf("nonce %d accepted %d times, want exactly once", n, got)
		}
	}
}

func TestReplayGuardSameNonceRace(t *testing.T) {
	g := newGuard(t, openDB(t, Config{}), 0)
	const rounds, racers = 50, 8
	for r := range rounds {
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := g.CheckAndInsert("did:key:client", fmt.Appendf(nil, "round-%d", r), t0.Add(time.Hour), t0)
				if err == nil {
					wins.Add(1)
				} else if !errors.Is(err, ErrReplay) {
					t.Errorf("round %d: %v", r, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Fatalf("round %d: %d of %d racers succeeded, want exactly 1", r, got, racers)
		}
	}
}

func TestReplayGuardSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := newGuard(t, db, 0).CheckAndInsert("did:key:a", []byte("n1"), t0.Add(time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	g := newGuard(t, openDB(t, Config{Dir: dir}), 0)
	if err := g.CheckAndInsert("did:key:a", []byte("n1"), t0.Add(time.Hour), t0.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("after reopen: err = %v, want ErrReplay", err)
	}
}

func TestReplayGuardAcceptsAgainAfterExpiry(t *testing.T) {
	db := openDB(t, Config{})
	g := newGuard(t, db, time.Minute)
	nonce := []byte("n")
	if err := g.CheckAndInsert("c", nonce, t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	// Badger still holds the entry (its TTL is measured on the wall clock,
	// which has not moved), so this exercises the stored-deadline check.
	if err := g.CheckAndInsert("c", nonce, t0.Add(10*time.Minute), t0.Add(2*time.Minute-time.Nanosecond)); !errors.Is(err, ErrReplay) {
		t.Fatalf("just before the deadline: err = %v, want ErrReplay", err)
	}
	if err := g.CheckAndInsert("c", nonce, t0.Add(10*time.Minute), t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("at the deadline: err = %v, want nil", err)
	}
	// The new order's window now guards the nonce.
	if err := g.CheckAndInsert("c", nonce, t0.Add(10*time.Minute), t0.Add(5*time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay of the new order: err = %v, want ErrReplay", err)
	}
}

func TestReplayGuardEntriesCarryBadgerTTL(t *testing.T) {
	db := openDB(t, Config{})
	g := newGuard(t, db, time.Millisecond)
	now := time.Now()
	if err := g.CheckAndInsert("c", []byte("short"), now, now); err != nil {
		t.Fatal(err)
	}
	if err := g.CheckAndInsert("c", []byte("long"), now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	lookup := func(nonce string) (uint64, error) {
		var exp uint64
		err := db.Badger().View(func(txn *badger.Txn) error {
			item, err := txn.Get(replayKey("c", []byte(nonce)))
			if err == nil {
				exp = item.ExpiresAt()
			}
			return err
		})
		return exp, err
	}
	exp, err := lookup("long")
	if err != nil {
		t.Fatal(err)
	}
	// Deadline now+1h+1ms, plus one second of rounding.
	if lo, hi := now.Add(time.Hour).Unix(), time.Now().Add(time.Hour+2*time.Second).Unix(); int64(exp) < lo || int64(exp) > hi {
		t.Errorf("badger ExpiresAt = %d, want in [%d, %d]", exp, lo, hi)
	}
	waitFor(t, "badger to expire the short entry", func() bool {
		_, err := lookup("short")
		return errors.Is(err, badger.ErrKeyNotFound)
	})
}

// BenchmarkReplayGuard measures accepted (fresh) nonces per second. Each
// operation is a read plus a committed badger transaction with the default
// SyncWrites=false.
func BenchmarkReplayGuard(b *testing.B) {
	run := func(b *testing.B, parallel bool) {
		db := openDB(b, Config{GCInterval: -1})
		g := newGuard(b, db, 0)
		exp := time.Now().Add(time.Hour)
		var seq atomic.Uint64
		op := func(now time.Time) {
			var nonce [16]byte
			binary.BigEndian.PutUint64(nonce[:], seq.Add(1))
			if err := g.CheckAndInsert("did:key:z6MkbenchmarkClient", nonce[:], exp, now); err != nil {
				b.Error(err)
			}
		}
		now := time.Now()
		b.ReportAllocs()
		b.ResetTimer()
		if parallel {
			// Like the HTTP API with many orders in flight; badger folds
			// concurrent commits into one write.
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					op(now)
				}
			})
		} else {
			for b.Loop() {
				op(now)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}
