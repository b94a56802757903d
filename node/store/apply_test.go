package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// TestApply: puts, TTLs and deletes land together; a set larger than one
// transaction is refused whole, leaving nothing behind.
func TestApply(t *testing.T) {
	ctx := t.Context()
	db, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := db.Namespace("ledger")
	if err := v.Put(ctx, ds.NewKey("/gone"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	err = v.Apply(ctx, []Write{
		{Key: "/a", Value: []byte("A")},
		{Key: "/ttl", Value: []byte("T"), TTL: time.Hour},
		{Key: "/gone", Delete: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"/a": "A", "/ttl": "T"} {
		got, err := v.Get(ctx, ds.NewKey(k))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q %v, want %q", k, got, err, want)
		}
	}
	if _, err := v.Get(ctx, ds.NewKey("/gone")); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("deleted key: %v", err)
	}
	exp, err := v.GetExpiration(ctx, ds.NewKey("/ttl"))
	if err != nil || exp.Before(time.Now().Add(59*time.Minute)) || exp.After(time.Now().Add(time.Hour+2*time.Second)) {
		t.Errorf("TTL entry expires %v (%v), want in an hour", exp, err)
	}

	// Beyond one transaction: refused whole.
	big := make([]Write, 0, 1024)
	for i := range 1024 {
		big = append(big, Write{Key: fmt.Sprintf("/big/%05d", i), Value: bytes.Repeat([]byte{1}, 8<<10)})
	}
	if err := v.Apply(ctx, big); !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("8 MiB in one Apply: %v, want ErrTxnTooBig", err)
	}
	if _, err := v.Get(ctx, ds.NewKey("/big/00000")); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("a refused Apply left %v behind", err)
	}
}
