package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// TestReadRange: [start, end) of one namespace in key order, the end key
// and the neighbouring namespaces excluded, deleted keys skipped; fn's
// error and a cancelled context stop the walk.
func TestReadRange(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{})
	log, other := db.Namespace("log"), db.Namespace("logx")
	for i := range 10 {
		k := ds.NewKey(fmt.Sprintf("/l/%02d", i))
		if err := log.Put(ctx, k, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := other.Put(ctx, k, []byte{100 + byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Delete(ctx, ds.NewKey("/l/05")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var vals []byte
	err := log.ReadRange(ctx, ds.NewKey("/l/02"), ds.NewKey("/l/08"), func(k ds.Key, v []byte) error {
		keys = append(keys, k.String())
		vals = append(vals, v...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/l/02", "/l/03", "/l/04", "/l/06", "/l/07"}; !slices.Equal(keys, want) || !slices.Equal(vals, []byte{2, 3, 4, 6, 7}) {
		t.Fatalf("read %v %v, want %v", keys, vals, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := log.ReadRange(ctx, ds.NewKey("/l/00"), ds.NewKey("/l/99"), func(ds.Key, []byte) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || n != 3 {
		t.Fatalf("fn's error: %v after %d keys", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := log.ReadRange(cctx, ds.NewKey("/l/00"), ds.NewKey("/l/99"), func(ds.Key, []byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
