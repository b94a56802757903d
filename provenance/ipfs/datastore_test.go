package ipfs_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// sortedDatastore is an in-memory datastore whose prefix queries cost
// O(log n + results), like badger's prefix iteration in node/store.
// go-datastore's MapDatastore scans every key on each query, and the pin
// index is queried by prefix, so on a MapDatastore pin operations slow down
// as blocks accumulate for reasons that have nothing to do with pinning.
type sortedDatastore struct {
	mu   sync.RWMutex // protects following
	keys []string     // sorted
	vals map[string][]byte
}

var _ datastore.Batching = (*sortedDatastore)(nil)

func newSortedDatastore() *sortedDatastore { return &sortedDatastore{vals: map[string][]byte{}} }

func (d *sortedDatastore) Get(_ context.Context, k datastore.Key) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	v, ok := d.vals[k.String()]
	if !ok {
		return nil, datastore.ErrNotFound
	}
	return slices.Clone(v), nil
}

func (d *sortedDatastore) Has(_ context.Context, k datastore.Key) (bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.vals[k.String()]
	return ok, nil
}

func (d *sortedDatastore) GetSize(_ context.Context, k datastore.Key) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	v, ok := d.vals[k.String()]
	if !ok {
		return -1, datastore.ErrNotFound
	}
	return len(v), nil
}

func (d *sortedDatastore) Put(_ context.Context, k datastore.Key, v []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := k.String()
	if _, ok := d.vals[s]; !ok {
		i, _ := slices.BinarySearch(d.keys, s)
		d.keys = slices.Insert(d.keys, i, s)
	}
	d.vals[s] = slices.Clone(v)
	return nil
}

func (d *sortedDatastore) Delete(_ context.Context, k datastore.Key) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := k.String()
	if _, ok := d.vals[s]; ok {
		i, _ := slices.BinarySearch(d.keys, s)
		d.keys = slices.Delete(d.keys, i, i+1)
		delete(d.vals, s)
	}
	return nil
}

func (d *sortedDatastore) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	prefix := q.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix = datastore.NewKey(prefix).String()
	}
	i, _ := slices.BinarySearch(d.keys, prefix)
	var es []dsq.Entry
	for ; i < len(d.keys) && strings.HasPrefix(d.keys[i], prefix); i++ {
		e := dsq.Entry{Key: d.keys[i], Size: len(d.vals[d.keys[i]])}
		if !q.KeysOnly {
			e.Value = slices.Clone(d.vals[d.keys[i]])
		}
		es = append(es, e)
	}
	return dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, es)), nil
}

func (d *sortedDatastore) Sync(context.Context, datastore.Key) error { return nil }
func (d *sortedDatastore) Close() error                              { return nil }

func (d *sortedDatastore) Batch(context.Context) (datastore.Batch, error) {
	return datastore.NewBasicBatch(d), nil
}

// countingDatastore counts reads of block keys (/blocks/...).
type countingDatastore struct {
	datastore.Batching
	blockReads atomic.Int64
}

func (c *countingDatastore) count(k datastore.Key) {
	if strings.HasPrefix(k.String(), "/blocks/") {
		c.blockReads.Add(1)
	}
}

func (c *countingDatastore) Get(ctx context.Context, k datastore.Key) ([]byte, error) {
	c.count(k)
	return c.Batching.Get(ctx, k)
}

func (c *countingDatastore) Has(ctx context.Context, k datastore.Key) (bool, error) {
	c.count(k)
	return c.Batching.Has(ctx, k)
}

func (c *countingDatastore) GetSize(ctx context.Context, k datastore.Key) (int, error) {
	c.count(k)
	return c.Batching.GetSize(ctx, k)
}
