package node

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/provenance"
)

// ledgerStore is the order ledger's storage: the node's badger, under the
// "ledger" namespace.
type ledgerStore struct {
	ds *store.Datastore
}

var _ order.Store = ledgerStore{}

func (l ledgerStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := l.ds.Get(ctx, ds.RawKey(key))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", order.ErrNotFound, key)
	}
	return b, err
}

func (l ledgerStore) Apply(ctx context.Context, ops []order.Op) error {
	return l.ds.Apply(ctx, writesOf(ops))
}

func (l ledgerStore) Scan(ctx context.Context, prefix string, offset, limit int, fn func(string, []byte) bool) error {
	res, err := l.ds.Query(ctx, dsq.Query{Prefix: prefix, Offset: offset, Limit: limit})
	if err != nil {
		return err
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return r.Error
		}
		if !fn(r.Key, r.Value) {
			return nil
		}
	}
	return nil
}

// ledgerLog commits the ledger's leaves and ops in one badger
// transaction: the log's, with the ledger's writes added in their
// namespace (order.LedgerConfig.Atomic).
type ledgerLog struct {
	log    *provenance.Log
	ledger *store.Datastore
}

var _ order.AtomicLog = ledgerLog{}

func (l ledgerLog) AppendApply(ctx context.Context, leaves [][]byte, ops func(first uint64) []order.Op) (uint64, error) {
	return l.log.AppendWith(ctx, leaves, func(first uint64, w ds.Write) error {
		txn, ok := w.(*store.Txn)
		if !ok {
			return fmt.Errorf("node: the provenance log writes through %T, not a store transaction", w)
		}
		return txn.ApplyIn(ctx, l.ledger, writesOf(ops(first)))
	})
}

func writesOf(ops []order.Op) []store.Write {
	ws := make([]store.Write, len(ops))
	for i, op := range ops {
		ws[i] = store.Write{Key: op.Key, Value: op.Value, TTL: op.TTL, Delete: op.Delete}
	}
	return ws
}

// LedgerOf returns the order ledger stored in db, without a provenance log:
// for offline tools (checking a restore). It commits inline.
func LedgerOf(db *store.DB) *order.Ledger {
	return order.NewLedger(order.LedgerConfig{Store: ledgerStore{db.Namespace("ledger")}})
}
