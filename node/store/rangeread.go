package store

import (
	"bytes"
	"context"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
)

// ReadRange calls fn with every key in [start, end) of the view and a copy
// of its value, in key order, from one snapshot: one seek and a walk of
// the LSM tree instead of a lookup per key (provenance.Log.ReadLeaves reads
// an epoch's leaves through it). fn's error stops the walk and is
// returned.
func (s *Datastore) ReadRange(ctx context.Context, start, end ds.Key, fn func(key ds.Key, value []byte) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	from, to := s.key(start), s.key(end)
	return s.db.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false // values are read in order below; prefetching adds goroutines, not speed, for inline values
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(from); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if bytes.Compare(k, to) >= 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return mapErr("range", ds.RawKey(s.viewKey(k)), err)
			}
			if err := fn(ds.RawKey(s.viewKey(k)), v); err != nil {
				return err
			}
		}
		return nil
	})
}
