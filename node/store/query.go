package store

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	dsq "github.com/ipfs/go-datastore/query"
)

// query runs q over txn. Badger iterates only the keys under the view's and
// the query's prefix, in key order (reversed for a descending key order);
// filters, orders other than by key, offset and limit are applied with
// go-datastore's naive helpers on that stream. If ownTxn, closing the
// results discards txn.
func (s *Datastore) query(ctx context.Context, txn *badger.Txn, ownTxn bool, q dsq.Query) dsq.Results {
	reverse, naiveOrder := false, false
	if len(q.Orders) > 0 {
		// Keys are unique, so an order by key makes later orders moot.
		switch q.Orders[0].(type) {
		case dsq.OrderByKey, *dsq.OrderByKey:
		case dsq.OrderByKeyDescending, *dsq.OrderByKeyDescending:
			reverse = true
		default:
			naiveOrder = true
		}
	}
	// Values are needed to return them, and by filters and orders that may
	// look at them even when the caller asked for keys only.
	needValues := !q.KeysOnly || naiveOrder
	for _, f := range q.Filters {
		switch f.(type) {
		case dsq.FilterKeyCompare, *dsq.FilterKeyCompare, dsq.FilterKeyPrefix, *dsq.FilterKeyPrefix:
		default:
			needValues = true
		}
	}

	src := &iterSource{
		ctx:        ctx,
		s:          s,
		txn:        txn,
		ownTxn:     ownTxn,
		prefix:     s.queryPrefix(q.Prefix),
		reverse:    reverse,
		values:     needValues,
		sizes:      needValues || q.ReturnsSizes,
		expiration: q.ReturnExpirations,
	}
	res := dsq.ResultsFromIterator(q, dsq.Iterator{Next: src.next, Close: src.close})
	for _, f := range q.Filters {
		res = dsq.NaiveFilter(res, f)
	}
	if naiveOrder {
		res = dsq.NaiveOrder(res, q.Orders...)
	}
	if q.Offset > 0 {
		res = dsq.NaiveOffset(res, q.Offset)
	}
	if q.Limit > 0 {
		res = dsq.NaiveLimit(res, q.Limit)
	}
	if q.KeysOnly && needValues {
		inner := res
		res = dsq.ResultsFromIterator(q, dsq.Iterator{
			Next: func() (dsq.Result, bool) {
				r, ok := inner.NextSync()
				r.Value = nil
				return r, ok
			},
			Close: inner.Close,
		})
	}
	return res
}

// queryPrefix returns the badger prefix for a query prefix: the strict
// children of the cleaned prefix (as [dsq.NaiveQueryApply] defines them),
// inside the view.
func (s *Datastore) queryPrefix(p string) []byte {
	if p != "" {
		if p[0] != '/' {
			p = "/" + p
		}
		p = path.Clean(p)
	}
	if p == "/" {
		p = ""
	}
	return []byte(s.prefix + p + "/")
}

// iterSource yields the entries under prefix from a badger iterator that it
// opens lazily. next and close may be called from different goroutines (the
// go-datastore results collector), so they share a mutex.
type iterSource struct {
	ctx        context.Context
	s          *Datastore
	txn        *badger.Txn
	ownTxn     bool
	prefix     []byte
	reverse    bool
	values     bool
	sizes      bool
	expiration bool

	mu     sync.Mutex // protects following
	it     *badger.Iterator
	done   bool
	closed bool
}

func (src *iterSource) next() (dsq.Result, bool) {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.done || src.closed {
		return dsq.Result{}, false
	}
	if err := src.ctx.Err(); err != nil {
		src.finishLocked()
		return dsq.Result{Error: err}, true
	}
	if src.s.db.closed.Load() {
		src.finishLocked()
		return dsq.Result{Error: ErrClosed}, true
	}
	if src.it == nil {
		src.seekLocked()
	} else {
		src.it.Next()
	}
	if !src.it.ValidForPrefix(src.prefix) {
		src.finishLocked()
		return dsq.Result{}, false
	}
	item := src.it.Item()
	e := dsq.Entry{Key: src.s.viewKey(item.Key()), Size: -1}
	var err error
	switch {
	case src.values:
		e.Value, err = item.ValueCopy(nil)
		e.Size = len(e.Value)
	case src.sizes:
		e.Size, err = src.s.db.valueSize(item)
	}
	if err != nil {
		src.finishLocked()
		return dsq.Result{Error: fmt.Errorf("store: query %s: %w", e.Key, err)}, true
	}
	if src.expiration {
		e.Expiration = expiration(item)
	}
	return dsq.Result{Entry: e}, true
}

func (src *iterSource) seekLocked() {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = src.values
	opts.Reverse = src.reverse
	if !src.reverse {
		opts.Prefix = src.prefix
		src.it = src.txn.NewIterator(opts)
		src.it.Seek(src.prefix)
		return
	}
	// In reverse, Seek lands on the largest key <= its argument. Seek to the
	// first key after the prefix range and step over it if it exists. The
	// iterator's own Prefix option is not used: its Valid would hide that
	// step.
	src.it = src.txn.NewIterator(opts)
	end := prefixEnd(src.prefix)
	if end == nil {
		src.it.Rewind()
		return
	}
	src.it.Seek(end)
	for src.it.Valid() {
		k := src.it.Item().Key()
		if bytes.HasPrefix(k, src.prefix) || bytes.Compare(k, src.prefix) < 0 {
			break
		}
		src.it.Next()
	}
}

// finishLocked releases the iterator (and the transaction if owned) once the
// stream is exhausted or failed.
func (src *iterSource) finishLocked() {
	src.done = true
	if src.it != nil {
		src.it.Close()
		src.it = nil
	}
	if src.ownTxn {
		src.txn.Discard()
	}
}

func (src *iterSource) close() error {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.closed {
		return nil
	}
	src.closed = true
	if !src.done {
		src.finishLocked()
	}
	return nil
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
