package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dstest "github.com/ipfs/go-datastore/test"
)

func TestDatastoreSuite(t *testing.T) {
	views := []struct {
		name string
		view func(*DB) *Datastore
	}{
		{"root", (*DB).Datastore},
		{"namespace", func(db *DB) *Datastore { return db.Namespace("treaties") }},
		{"nested", func(db *DB) *Datastore { return db.Namespace("a").Namespace("b/c") }},
	}
	for _, v := range views {
		t.Run(v.name, func(t *testing.T) {
			db := openDB(t, Config{})
			s := v.view(db)
			if v.name != "root" {
				// A neighbour whose keys sort right after the namespace,
				// so that leaks into queries would show up.
				for _, k := range []string{s.Prefix().String() + "0", s.Prefix().String() + "-x", "/zzz"} {
					if err := db.Datastore().Put(t.Context(), ds.RawKey(k), []byte("outside")); err != nil {
						t.Fatal(err)
					}
				}
			}
			if v.name == "root" && !testing.Short() {
				dstest.SubtestAll(t, s)
				return
			}
			// SubtestAll without the combinations test, which takes about
			// a minute per view on two cores and exercises the same query
			// code as the root view.
			subtestAllButCombinations(t, s)
		})
	}
}

func subtestAllButCombinations(t *testing.T, s *Datastore) {
	combinations := reflect.ValueOf(dstest.SubtestCombinations).Pointer()
	clearView := func(t *testing.T) {
		res, err := s.Query(t.Context(), dsq.Query{KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		entries, err := res.Rest()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := s.Delete(t.Context(), ds.RawKey(e.Key)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range dstest.BasicSubtests {
		if reflect.ValueOf(f).Pointer() == combinations {
			continue
		}
		t.Run(runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name(), func(t *testing.T) {
			f(t, s)
			clearView(t)
		})
	}
	for _, f := range dstest.BatchSubtests {
		t.Run(runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name(), func(t *testing.T) {
			f(t, s)
			clearView(t)
		})
	}
}

func TestNamespacesIsolate(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{})
	treaties, jobs := db.Namespace("treaties"), db.Namespace("jobs")
	key := ds.NewKey("/a")
	if err := treaties.Put(ctx, key, []byte("treaty")); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Put(ctx, key, []byte("job")); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Put(ctx, ds.NewKey("b"), []byte("cleaned")); err != nil {
		t.Fatal(err)
	}
	if got, err := treaties.Get(ctx, key); err != nil || string(got) != "treaty" {
		t.Errorf("treaties Get = %q, %v", got, err)
	}
	if got, err := jobs.Get(ctx, key); err != nil || string(got) != "job" {
		t.Errorf("jobs Get = %q, %v", got, err)
	}
	if err := treaties.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := treaties.Get(ctx, key); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("treaties Get after Delete: err = %v, want ErrNotFound", err)
	}
	if ok, err := jobs.Has(ctx, key); err != nil || !ok {
		t.Errorf("jobs Has after deleting the treaty = %v, %v; want true", ok, err)
	}

	keys := func(s *Datastore, q dsq.Query) []string {
		t.Helper()
		q.KeysOnly = true
		res, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := res.Rest()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Key)
		}
		return out
	}
	byKey := []dsq.Order{dsq.OrderByKey{}}
	if diff := cmp.Diff([]string{"/a", "/b"}, keys(jobs, dsq.Query{Orders: byKey})); diff != "" {
		t.Errorf("jobs keys (-want +got):\n%s", diff)
	}
	if got := keys(treaties, dsq.Query{}); len(got) != 0 {
		t.Errorf("treaties keys = %q, want none", got)
	}
	if diff := cmp.Diff([]string{"/jobs/a", "/jobs/b"}, keys(db.Datastore(), dsq.Query{Orders: byKey})); diff != "" {
		t.Errorf("root keys (-want +got):\n%s", diff)
	}

	// Transactions and batches stay in their namespace too.
	txn, err := treaties.NewTransaction(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Put(ctx, ds.NewKey("/t"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := jobs.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, ds.NewKey("/j"), []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/jobs/a", "/jobs/b", "/jobs/j", "/treaties/t"}, keys(db.Datastore(), dsq.Query{Orders: byKey})); diff != "" {
		t.Errorf("root keys after txn and batch (-want +got):\n%s", diff)
	}
}

func TestNamespaceRejectsEmptyName(t *testing.T) {
	db := openDB(t, Config{InMemory: true})
	for _, name := range []string{"", "/", "//"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Namespace(%q) did not panic", name)
				}
			}()
			db.Namespace(name)
		}()
	}
}

func TestTxn(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{})
	s := db.Namespace("ledger")
	if err := s.Put(ctx, ds.NewKey("/balance"), []byte("10")); err != nil {
		t.Fatal(err)
	}

	t.Run("commit is atomic and visible", func(t *testing.T) {
		txn, err := s.NewTransaction(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer txn.Discard(ctx)
		for _, k := range []string{"/x/1", "/x/2"} {
			if err := txn.Put(ctx, ds.NewKey(k), []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		if ok, _ := s.Has(ctx, ds.NewKey("/x/1")); ok {
			t.Error("uncommitted write visible outside the transaction")
		}
		if got, err := txn.Get(ctx, ds.NewKey("/x/1")); err != nil || string(got) != "/x/1" {
			t.Errorf("txn Get own write = %q, %v", got, err)
		}
		res, err := txn.Query(ctx, dsq.Query{Prefix: "/x", Orders: []dsq.Order{dsq.OrderByKey{}}})
		if err != nil {
			t.Fatal(err)
		}
		entries, err := res.Rest()
		if err != nil || len(entries) != 2 || entries[0].Key != "/x/1" || string(entries[1].Value) != "/x/2" {
			t.Errorf("txn Query = %+v, %v; want /x/1 and /x/2", entries, err)
		}
		if err := txn.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := s.GetSize(ctx, ds.NewKey("/x/2")); err != nil || n != 4 {
			t.Errorf("GetSize after commit = %d, %v; want 4", n, err)
		}
	})

	t.Run("discard drops writes", func(t *testing.T) {
		txn, err := s.NewTransaction(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Delete(ctx, ds.NewKey("/balance")); err != nil {
			t.Fatal(err)
		}
		txn.Discard(ctx)
		if ok, err := s.Has(ctx, ds.NewKey("/balance")); err != nil || !ok {
			t.Errorf("Has after discarded delete = %v, %v; want true", ok, err)
		}
	})

	t.Run("read-only rejects writes", func(t *testing.T) {
		txn, err := s.NewTransaction(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		defer txn.Discard(ctx)
		if err := txn.Put(ctx, ds.NewKey("/y"), nil); err == nil {
			t.Error("Put in a read-only transaction succeeded")
		}
	})

	t.Run("conflict", func(t *testing.T) {
		t1, _ := s.NewTransaction(ctx, false)
		t2, _ := s.NewTransaction(ctx, false)
		defer t1.Discard(ctx)
		defer t2.Discard(ctx)
		for _, txn := range []ds.Txn{t1, t2} {
			if _, err := txn.Get(ctx, ds.NewKey("/balance")); err != nil {
				t.Fatal(err)
			}
		}
		if err := t1.Put(ctx, ds.NewKey("/balance"), []byte("11")); err != nil {
			t.Fatal(err)
		}
		if err := t2.Put(ctx, ds.NewKey("/balance"), []byte("12")); err != nil {
			t.Fatal(err)
		}
		if err := t1.Commit(ctx); err != nil {
			t.Fatalf("first commit: %v", err)
		}
		if err := t2.Commit(ctx); !errors.Is(err, ErrConflict) {
			t.Fatalf("second commit = %v, want ErrConflict", err)
		}
		if got, _ := s.Get(ctx, ds.NewKey("/balance")); string(got) != "11" {
			t.Errorf("balance = %q, want 11", got)
		}
	})
}

func TestQueryDescendingSkipsNeighbour(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{})
	root := db.Datastore()
	// "/ns0" is the first key after every "/ns/..." key: a reverse scan
	// starts there and must step over it.
	for _, k := range []string{"/ns", "/ns0", "/ns/a", "/ns/b", "/ns/b/c", "/nr/z"} {
		if err := root.Put(ctx, ds.NewKey(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		s    *Datastore
		q    dsq.Query
		want []string
	}{
		{"namespace descending", db.Namespace("ns"), dsq.Query{Orders: []dsq.Order{dsq.OrderByKeyDescending{}}}, []string{"/b/c", "/b", "/a"}},
		{"root prefix descending", root, dsq.Query{Prefix: "/ns", Orders: []dsq.Order{dsq.OrderByKeyDescending{}}}, []string{"/ns/b/c", "/ns/b", "/ns/a"}},
		{"descending limit offset", root, dsq.Query{Prefix: "/ns", Orders: []dsq.Order{&dsq.OrderByKeyDescending{}}, Offset: 1, Limit: 1}, []string{"/ns/b"}},
		{"prefix is strict children", root, dsq.Query{Prefix: "/ns/b", Orders: []dsq.Order{dsq.OrderByKey{}}}, []string{"/ns/b/c"}},
		{"value order", db.Namespace("ns"), dsq.Query{Orders: []dsq.Order{dsq.OrderByValueDescending{}}}, []string{"/b/c", "/b", "/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.s.Query(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := res.Rest()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Key)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryKeysOnlyWithValueFilter(t *testing.T) {
	ctx := t.Context()
	s := openDB(t, Config{}).Namespace("q")
	for i := range 10 {
		if err := s.Put(ctx, ds.NewKey(fmt.Sprint(i)), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Query(ctx, dsq.Query{
		KeysOnly: true,
		Filters:  []dsq.Filter{dsq.FilterValueCompare{Op: dsq.GreaterThanOrEqual, Value: []byte{7}}},
		Orders:   []dsq.Order{dsq.OrderByKey{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	want := []dsq.Entry{{Key: "/7", Size: 1}, {Key: "/8", Size: 1}, {Key: "/9", Size: 1}}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestQueryCloseEarlyReleasesIterator(t *testing.T) {
	ctx := t.Context()
	s := openDB(t, Config{}).Namespace("q")
	for i := range 50 {
		if err := s.Put(ctx, ds.NewKey(fmt.Sprint(i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for _, useChannel := range []bool{false, true} {
		res, err := s.Query(ctx, dsq.Query{})
		if err != nil {
			t.Fatal(err)
		}
		var r dsq.Result
		if useChannel {
			r = <-res.Next()
		} else {
			r, _ = res.NextSync()
		}
		if r.Error != nil || r.Key == "" {
			t.Fatalf("first result = %+v", r)
		}
		if err := res.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The DB's Close (cleanup) would panic on an unclosed iterator, and
	// goleak would catch a stuck results goroutine.
}

func TestSizesAreExactForValueLogEntries(t *testing.T) {
	ctx := t.Context()
	s := openDB(t, Config{}).Namespace("blocks")
	sizes := map[string]int{"/small": 100, "/edge": 1<<20 - 10, "/big": 3<<20 + 17}
	for k, n := range sizes {
		if err := s.Put(ctx, ds.NewKey(k), bytes.Repeat([]byte{1}, n)); err != nil {
			t.Fatal(err)
		}
	}
	for k, n := range sizes {
		if got, err := s.GetSize(ctx, ds.NewKey(k)); err != nil || got != n {
			t.Errorf("GetSize(%s) = %d, %v; want %d", k, got, err, n)
		}
	}
	res, err := s.Query(ctx, dsq.Query{KeysOnly: true, ReturnsSizes: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range entries {
		if e.Value != nil {
			t.Errorf("KeysOnly query returned a value for %s", e.Key)
		}
		got[e.Key] = e.Size
	}
	if diff := cmp.Diff(sizes, got); diff != "" {
		t.Errorf("query sizes (-want +got):\n%s", diff)
	}
	if _, err := s.GetSize(ctx, ds.NewKey("/missing")); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("GetSize(missing) err = %v, want ErrNotFound", err)
	}
}

func TestBatchLargerThanOneTransaction(t *testing.T) {
	ctx := t.Context()
	s := openDB(t, Config{}).Namespace("bulk")
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8000
	val := bytes.Repeat([]byte{2}, 1024) // 8 MB in all: above badger's 4.8 MB per transaction
	for i := range n {
		if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/%05d", i)), val); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, ds.NewKey("/00000")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, ds.NewKey("/00001")); ok {
		t.Fatal("batch write visible before Commit")
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.Query(ctx, dsq.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n-1 {
		t.Errorf("after batch: %d keys, want %d", len(entries), n-1)
	}
	if ok, _ := s.Has(ctx, ds.NewKey("/00000")); ok {
		t.Error("deleted key present: the later Delete should win")
	}
}

func TestTTL(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{})
	s := db.Namespace("ttl")
	before := time.Now()
	if err := s.PutWithTTL(ctx, ds.NewKey("/long"), []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	exp, err := s.GetExpiration(ctx, ds.NewKey("/long"))
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := before.Add(time.Hour-time.Second), time.Now().Add(time.Hour+time.Second); exp.Before(lo) || exp.After(hi) {
		t.Errorf("expiration %v outside [%v, %v]", exp, lo, hi)
	}
	if err := s.Put(ctx, ds.NewKey("/forever"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if exp, err := s.GetExpiration(ctx, ds.NewKey("/forever")); err != nil || !exp.IsZero() {
		t.Errorf("GetExpiration(no TTL) = %v, %v; want zero time", exp, err)
	}
	res, err := s.Query(ctx, dsq.Query{ReturnExpirations: true, Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil || len(entries) != 2 || entries[0].Key != "/forever" || !entries[0].Expiration.IsZero() ||
		entries[1].Key != "/long" || !entries[1].Expiration.Equal(exp) {
		t.Errorf("query with expirations = %+v, %v; want /forever without and /long with %v", entries, err, exp)
	}
	// SetTTL shortens the life of an existing key; badger then hides it.
	if err := s.SetTTL(ctx, ds.NewKey("/forever"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the short-TTL key to expire", func() bool {
		ok, err := s.Has(ctx, ds.NewKey("/forever"))
		return err == nil && !ok
	})
	if err := s.SetTTL(ctx, ds.NewKey("/missing"), time.Hour); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("SetTTL(missing) = %v, want ErrNotFound", err)
	}
}
