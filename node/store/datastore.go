package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// ErrConflict is badger's transaction conflict error: a transaction read a
// key that another transaction wrote and committed first. Commit wraps it;
// test with errors.Is and retry the transaction.
var ErrConflict = badger.ErrConflict

// Datastore is a go-datastore view of a [DB], either of the whole key space
// ([DB.Datastore]) or of one namespace ([DB.Namespace]). It is safe for
// concurrent use. Close is a no-op: the [DB] owns the database.
type Datastore struct {
	db *DB
	// prefix is "" for the root view, else a cleaned key such as
	// "/treaties" under which every key of the view is stored.
	prefix string
}

var (
	_ ds.Batching            = (*Datastore)(nil)
	_ ds.TxnDatastore        = (*Datastore)(nil)
	_ ds.PersistentDatastore = (*Datastore)(nil)
	_ ds.TTLDatastore        = (*Datastore)(nil)
	_ ds.GCDatastore         = (*Datastore)(nil)
)

// Datastore returns a view of the whole key space. Its queries see only keys
// starting with '/', which excludes raw keys written through [DB.Badger].
func (d *DB) Datastore() *Datastore { return &Datastore{db: d} }

// Namespace returns a view whose keys live under "/<name>/..." (name is
// cleaned like [ds.NewKey]; "a/b" nests). It panics if name is empty or
// cleans to "/", which is a programming error.
func (d *DB) Namespace(name string) *Datastore { return d.Datastore().Namespace(name) }

// Namespace returns a view nested inside s under "/<name>".
func (s *Datastore) Namespace(name string) *Datastore {
	k := ds.NewKey(name)
	if k.String() == "/" {
		panic(fmt.Sprintf("store: invalid namespace %q", name))
	}
	return &Datastore{db: s.db, prefix: s.prefix + k.String()}
}

// Prefix returns the key under which the view stores its keys ("/" for the
// root view).
func (s *Datastore) Prefix() ds.Key {
	if s.prefix == "" {
		return ds.NewKey("/")
	}
	return ds.RawKey(s.prefix)
}

// key maps a view key to its badger key. A key not starting with '/' gets
// one inside a namespace, so that "foo" cannot escape "/ns" as "/nsfoo".
func (s *Datastore) key(k ds.Key) []byte {
	ks := k.String()
	if s.prefix == "" {
		return []byte(ks)
	}
	switch {
	case ks == "" || ks == "/":
		return []byte(s.prefix)
	case ks[0] != '/':
		return []byte(s.prefix + "/" + ks)
	default:
		return []byte(s.prefix + ks)
	}
}

// viewKey maps a badger key inside the view back to a view key.
func (s *Datastore) viewKey(b []byte) string {
	k := string(b[len(s.prefix):])
	if k == "" {
		return "/"
	}
	return k
}

func (s *Datastore) check(ctx context.Context) error {
	if s.db.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// Get implements [ds.Read]. It returns [ds.ErrNotFound] for a missing key.
func (s *Datastore) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var val []byte
	err := s.db.bdb.View(func(txn *badger.Txn) error {
		var err error
		val, err = s.get(txn, key)
		return err
	})
	return val, err
}

func (s *Datastore) get(txn *badger.Txn, key ds.Key) ([]byte, error) {
	item, err := txn.Get(s.key(key))
	if err != nil {
		return nil, mapErr("get", key, err)
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return nil, mapErr("get", key, err)
	}
	return val, nil
}

// Has implements [ds.Read].
func (s *Datastore) Has(ctx context.Context, key ds.Key) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	var ok bool
	err := s.db.bdb.View(func(txn *badger.Txn) error {
		var err error
		ok, err = s.has(txn, key)
		return err
	})
	return ok, err
}

func (s *Datastore) has(txn *badger.Txn, key ds.Key) (bool, error) {
	_, err := txn.Get(s.key(key))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	default:
		return false, mapErr("has", key, err)
	}
}

// GetSize implements [ds.Read]. The size is exact; it reads the value only
// when it may be stored in the value log.
func (s *Datastore) GetSize(ctx context.Context, key ds.Key) (int, error) {
	if err := s.check(ctx); err != nil {
		return -1, err
	}
	size := -1
	err := s.db.bdb.View(func(txn *badger.Txn) error {
		var err error
		size, err = s.getSize(txn, key)
		return err
	})
	return size, err
}

func (s *Datastore) getSize(txn *badger.Txn, key ds.Key) (int, error) {
	item, err := txn.Get(s.key(key))
	if err != nil {
		return -1, mapErr("get size", key, err)
	}
	n, err := s.db.valueSize(item)
	if err != nil {
		return -1, mapErr("get size", key, err)
	}
	return n, nil
}

// valueSize returns the exact size of item's value. Badger's ValueSize is
// exact for values stored in the LSM tree (shorter than the value threshold)
// and an estimate (within a few header bytes) for value-log entries, which
// are read to measure them.
func (d *DB) valueSize(item *badger.Item) (int, error) {
	const margin = 64 // larger than the estimate's error
	if n := item.ValueSize(); n < d.valueThreshold-margin {
		return int(n), nil
	}
	n := 0
	err := item.Value(func(v []byte) error {
		n = len(v)
		return nil
	})
	return n, err
}

// Put implements [ds.Write].
func (s *Datastore) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return mapErr("put", key, s.db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Set(s.key(key), value)
	}))
}

// Delete implements [ds.Write]. Deleting a missing key is not an error.
func (s *Datastore) Delete(ctx context.Context, key ds.Key) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return mapErr("delete", key, s.db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Delete(s.key(key))
	}))
}

// Sync implements [ds.Datastore]. It syncs the whole database, not only
// prefix.
func (s *Datastore) Sync(ctx context.Context, _ ds.Key) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.db.Sync()
}

// Close implements [io.Closer]. It does nothing: the [DB] owns the database.
func (s *Datastore) Close() error { return nil }

// DiskUsage implements [ds.PersistentDatastore]. It reports the whole
// database, not only this view.
func (s *Datastore) DiskUsage(ctx context.Context) (uint64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	return s.db.DiskUsage()
}

// CollectGarbage implements [ds.GCDatastore] with [DB.CollectGarbage].
func (s *Datastore) CollectGarbage(ctx context.Context) error {
	return s.db.CollectGarbage(ctx)
}

// PutWithTTL implements [ds.TTL]. Badger expires entries with a whole-second
// resolution.
func (s *Datastore) PutWithTTL(ctx context.Context, key ds.Key, value []byte, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return mapErr("put", key, s.db.bdb.Update(func(txn *badger.Txn) error {
		return txn.SetEntry(badger.NewEntry(s.key(key), value).WithTTL(ttl))
	}))
}

// SetTTL implements [ds.TTL]: it rewrites the value with a new time to live.
func (s *Datastore) SetTTL(ctx context.Context, key ds.Key, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return retryConflicts(func() error {
		return mapErr("set ttl", key, s.db.bdb.Update(func(txn *badger.Txn) error {
			val, err := s.get(txn, key)
			if err != nil {
				return err
			}
			return txn.SetEntry(badger.NewEntry(s.key(key), val).WithTTL(ttl))
		}))
	})
}

// GetExpiration implements [ds.TTL]. It returns the zero time for a key
// without a time to live.
func (s *Datastore) GetExpiration(ctx context.Context, key ds.Key) (time.Time, error) {
	if err := s.check(ctx); err != nil {
		return time.Time{}, err
	}
	var exp time.Time
	err := s.db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(s.key(key))
		if err != nil {
			return mapErr("get expiration", key, err)
		}
		exp = expiration(item)
		return nil
	})
	return exp, err
}

func expiration(item *badger.Item) time.Time {
	if at := item.ExpiresAt(); at != 0 {
		return time.Unix(int64(at), 0)
	}
	return time.Time{}
}

// Query implements [ds.Read]. Results come from one consistent snapshot; the
// caller must Close them (or read them to the end) before closing the DB.
func (s *Datastore) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s.query(ctx, s.db.bdb.NewTransaction(false), true, q), nil
}

// Batch implements [ds.Batching]. The batch buffers its operations in memory
// and applies them on Commit, in one badger transaction when they fit (and
// then atomically), otherwise in several. A batch that is never committed
// holds no database resources.
func (s *Datastore) Batch(ctx context.Context) (ds.Batch, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return &batch{s: s, ops: make(map[string]batchOp)}, nil
}

type batchOp struct {
	value  []byte
	delete bool
}

// batch is safe for concurrent use.
type batch struct {
	s *Datastore

	mu  sync.Mutex // protects following
	ops map[string]batchOp
}

var _ ds.Batch = (*batch)(nil)

func (b *batch) Put(_ context.Context, key ds.Key, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ops[string(b.s.key(key))] = batchOp{value: value}
	return nil
}

func (b *batch) Delete(_ context.Context, key ds.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ops[string(b.s.key(key))] = batchOp{delete: true}
	return nil
}

func (b *batch) Commit(ctx context.Context) error {
	if err := b.s.check(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bdb := b.s.db.bdb
	txn := bdb.NewTransaction(true)
	defer func() { txn.Discard() }()
	apply := func(k string, op batchOp) error {
		if op.delete {
			return txn.Delete([]byte(k))
		}
		return txn.Set([]byte(k), op.value)
	}
	for k, op := range b.ops {
		err := apply(k, op)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("store: batch commit: %w", err)
			}
			txn = bdb.NewTransaction(true)
			err = apply(k, op)
		}
		if err != nil {
			return fmt.Errorf("store: batch %q: %w", k, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("store: batch commit: %w", err)
	}
	clear(b.ops)
	return nil
}

// NewTransaction implements [ds.TxnDatastore] with a badger transaction
// (snapshot isolation with conflict detection). A read-write transaction
// whose reads were overwritten by another commit fails to commit with an
// error wrapping [ErrConflict]. The caller must Commit or Discard it.
func (s *Datastore) NewTransaction(ctx context.Context, readOnly bool) (ds.Txn, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return &Txn{s: s, txn: s.db.bdb.NewTransaction(!readOnly)}, nil
}

// Txn is a go-datastore transaction over a badger transaction, confined to
// its view's namespace. It is not safe for concurrent use.
type Txn struct {
	s   *Datastore
	txn *badger.Txn
}

var _ ds.Txn = (*Txn)(nil)

// Get implements [ds.Txn]; it sees the transaction's own writes.
func (t *Txn) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	if err := t.s.check(ctx); err != nil {
		return nil, err
	}
	return t.s.get(t.txn, key)
}

// Has implements [ds.Txn].
func (t *Txn) Has(ctx context.Context, key ds.Key) (bool, error) {
	if err := t.s.check(ctx); err != nil {
		return false, err
	}
	return t.s.has(t.txn, key)
}

// GetSize implements [ds.Txn].
func (t *Txn) GetSize(ctx context.Context, key ds.Key) (int, error) {
	if err := t.s.check(ctx); err != nil {
		return -1, err
	}
	return t.s.getSize(t.txn, key)
}

// Query implements [ds.Txn]. It sees the transaction's own writes. Results
// are collected before Query returns, because badger allows one open
// iterator per read-write transaction.
func (t *Txn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if err := t.s.check(ctx); err != nil {
		return nil, err
	}
	res := t.s.query(ctx, t.txn, false, q)
	entries, err := res.Rest()
	_ = res.Close()
	if err != nil {
		return nil, err
	}
	return dsq.ResultsWithEntries(q, entries), nil
}

// Put implements [ds.Txn].
func (t *Txn) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := t.s.check(ctx); err != nil {
		return err
	}
	return mapErr("put", key, t.txn.Set(t.s.key(key), value))
}

// Delete implements [ds.Txn].
func (t *Txn) Delete(ctx context.Context, key ds.Key) error {
	if err := t.s.check(ctx); err != nil {
		return err
	}
	return mapErr("delete", key, t.txn.Delete(t.s.key(key)))
}

// Commit implements [ds.Txn]. A conflict returns an error wrapping
// [ErrConflict].
func (t *Txn) Commit(ctx context.Context) error {
	if err := t.s.check(ctx); err != nil {
		t.txn.Discard()
		return err
	}
	if err := t.txn.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Discard implements [ds.Txn]. It is safe to call after Commit.
func (t *Txn) Discard(context.Context) { t.txn.Discard() }

// mapErr translates badger's not-found into [ds.ErrNotFound] (unwrapped, as
// some callers compare with ==) and prefixes other errors.
func mapErr(op string, key ds.Key, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrKeyNotFound), errors.Is(err, ds.ErrNotFound):
		return ds.ErrNotFound
	case errors.Is(err, badger.ErrDBClosed):
		return ErrClosed
	default:
		return fmt.Errorf("store: %s %s: %w", op, key, err)
	}
}

// retryConflicts runs fn until it does not fail with a conflict, at most
// maxConflictRetries times.
func retryConflicts(fn func() error) error {
	var err error
	for range maxConflictRetries {
		if err = fn(); !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// maxConflictRetries bounds retries of read-modify-write transactions; each
// retry observes the write that caused the conflict, so a handful suffices.
const maxConflictRetries = 16

// Write is one operation of [Datastore.Apply]: a put (with an optional
// TTL) or a delete of a view key.
type Write struct {
	Key    string // a clean key, "/a/b"
	Value  []byte
	TTL    time.Duration // > 0: the entry expires (badger's whole seconds, rounded up)
	Delete bool
}

// Apply applies ws in one badger transaction: all of them or none. A set
// larger than one transaction holds fails with an error wrapping
// badger.ErrTxnTooBig (callers bound their batches).
func (s *Datastore) Apply(ctx context.Context, ws []Write) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	txn := s.db.bdb.NewTransaction(true)
	defer txn.Discard()
	if err := s.apply(txn, ws); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("store: apply commit: %w", err)
	}
	return nil
}

func (s *Datastore) apply(txn *badger.Txn, ws []Write) error {
	for _, w := range ws {
		k := s.key(ds.RawKey(w.Key))
		var err error
		switch {
		case w.Delete:
			err = txn.Delete(k)
		case w.TTL > 0:
			err = txn.SetEntry(badger.NewEntry(k, w.Value).WithTTL(w.TTL + time.Second))
		default:
			err = txn.Set(k, w.Value)
		}
		if err != nil {
			return fmt.Errorf("store: apply %q: %w", w.Key, err)
		}
	}
	return nil
}

// ApplyIn adds ws, keys of view ns, to the transaction t: writes to two
// namespaces of one database that commit together or not at all. ns must
// be a view of t's database.
func (t *Txn) ApplyIn(ctx context.Context, ns *Datastore, ws []Write) error {
	if err := t.s.check(ctx); err != nil {
		return err
	}
	if ns.db != t.s.db {
		return errors.New("store: ApplyIn: the view is of another database")
	}
	return ns.apply(t.txn, ws)
}
