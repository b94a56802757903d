package store_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aurora-federation/aurora/node/store"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

func Example() {
	ctx := context.Background()
	db, err := store.Open(store.Config{InMemory: true}) // Dir: "/var/lib/aurora/db" in production
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	treaties := db.Namespace("treaties")
	if err := treaties.Put(ctx, ds.NewKey("/bafy-treaty-1"), []byte("signed treaty")); err != nil {
		log.Fatal(err)
	}
	res, err := db.Datastore().Query(ctx, dsq.Query{KeysOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.Key)
	}
	// Output: /treaties/bafy-treaty-1
}

func ExampleDatastore_Apply() {
	ctx := context.Background()
	db, err := store.Open(store.Config{InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ledger := db.Namespace("ledger")
	// A nonce kept for an hour and the answer it guards, in one transaction.
	err = ledger.Apply(ctx, []store.Write{
		{Key: "/nonces/client/01", Value: []byte("order-cid"), TTL: time.Hour},
		{Key: "/answers/order-cid", Value: []byte("ack")},
	})
	fmt.Println(err)
	v, _ := ledger.Get(ctx, ds.NewKey("/answers/order-cid"))
	fmt.Println(string(v))
	// Output:
	// <nil>
	// ack
}

func ExampleDB_Backup() {
	ctx := context.Background()
	src, err := store.Open(store.Config{InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	ledger := src.Namespace("ledger")

	_ = ledger.Put(ctx, ds.NewKey("/a"), []byte("A"))
	var full bytes.Buffer
	version, err := src.Backup(ctx, &full, 0)
	if err != nil {
		log.Fatal(err)
	}
	_ = ledger.Put(ctx, ds.NewKey("/b"), []byte("B"))
	var incr bytes.Buffer
	// Pass the previous version unchanged (not version+1).
	if _, err := src.Backup(ctx, &incr, version); err != nil {
		log.Fatal(err)
	}

	dst, err := store.Open(store.Config{InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer dst.Close()
	for _, b := range []*bytes.Buffer{&full, &incr} {
		if err := dst.Restore(ctx, b); err != nil {
			log.Fatal(err)
		}
	}
	for _, k := range []string{"/a", "/b"} {
		v, err := dst.Namespace("ledger").Get(ctx, ds.NewKey(k))
		fmt.Println(k, string(v), err)
	}
	// Output:
	// /a A <nil>
	// /b B <nil>
}
